"""The SQL unit of work: one connection, one transaction, the outbox written on commit.

Area repositories are listed in `AREA_REPOSITORIES` (attribute name -> class) and bound to
the transaction's connection on first use.

A read-only unit of work (for queries) opens no write transaction: on PostgreSQL its
statements run in autocommit (no BEGIN/COMMIT round trips), on SQLite in a deferred
transaction that does not queue behind writers the way `BEGIN IMMEDIATE` does.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from core.shared.clock import Clock
from core.shared.errors import ConcurrencyConflict
from core.shared.messages import Event
from storage.db import DEFERRED_OPTION
from storage.errors import is_retryable
from storage.repositories import catalog as catalog_repositories
from storage.repositories.base import SqlRepository
from storage.repositories.booking import (
    SqlBookingPolicies,
    SqlDispatchLog,
    SqlOrders,
    SqlSlotReservations,
)
from storage.repositories.identity import (
    SqlBlockRepository,
    SqlLinkCodeRepository,
    SqlUserRepository,
)
from storage.repositories.infra import SqlAuditLog, SqlIdempotencyKeys, SqlOutbox
from storage.repositories.notifications import SqlNoticeDeliveries
from storage.repositories.relay import REPOSITORIES as RELAY_REPOSITORIES
from storage.repositories.relay_pending import REPOSITORIES as RELAY_PENDING_REPOSITORIES
from storage.repositories.reviews import SqlReviewInvitationRepository, SqlReviewRepository
from storage.repositories.wallet import SqlLedger, SqlPayments, SqlWithdrawals

RepositoryFactory = Callable[[AsyncConnection, "SqlUnitOfWork"], SqlRepository]

# attribute name on the unit of work -> repository class. Each area adds its own lines here
# (and the same attribute, typed by its Protocol, to `core.ports.UnitOfWork`).
AREA_REPOSITORIES: dict[str, RepositoryFactory] = {
    # identity
    "users": SqlUserRepository,
    "link_codes": SqlLinkCodeRepository,
    "blocks": SqlBlockRepository,
    # catalog
    **catalog_repositories.REPOSITORIES,
    # reviews
    "reviews": SqlReviewRepository,
    "review_invitations": SqlReviewInvitationRepository,
    # wallet
    "ledger": SqlLedger,
    "payments": SqlPayments,
    "withdrawals": SqlWithdrawals,
    # booking
    "orders": SqlOrders,
    "slots": SqlSlotReservations,
    "dispatch": SqlDispatchLog,
    "booking_policies": SqlBookingPolicies,
    # relay
    **RELAY_REPOSITORIES,
    **RELAY_PENDING_REPOSITORIES,
    # notifications
    "notice_deliveries": SqlNoticeDeliveries,
}


def register_repository(name: str, factory: RepositoryFactory) -> None:
    AREA_REPOSITORIES[name] = factory


class LazyConnection:
    """The unit of work's connection, taken from the pool and begun on first use: a command
    that reads and writes nothing (a relayed message on its fast path, a refusal decided
    from memory) costs no checkout, no BEGIN and no COMMIT."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    @property
    def dialect(self) -> Any:
        return self._uow.engine.dialect

    @property
    def sync_engine(self) -> Any:
        return self._uow.engine.sync_engine

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._uow.open()).execute(*args, **kwargs)

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._uow.open()).stream(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._uow.open()).scalar(*args, **kwargs)

    async def exec_driver_sql(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._uow.open()).exec_driver_sql(*args, **kwargs)


class SqlUnitOfWork:
    connection: LazyConnection
    outbox: SqlOutbox
    idempotency: SqlIdempotencyKeys
    audit: SqlAuditLog

    def __init__(self, engine: AsyncEngine, clock: Clock, *, read_only: bool = False) -> None:
        self.engine = engine
        self.clock = clock
        self.read_only = read_only
        self._transaction: AsyncTransaction | None = None
        self._tracked: list[Any] = []
        self._emitted: list[Event] = []
        self._committed: list[Event] = []

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not set yet: bind an area's repository on first use.
        factory = AREA_REPOSITORIES.get(name)
        connection = self.__dict__.get("connection")
        if factory is not None and connection is not None:
            repository = factory(connection, self)
            setattr(self, name, repository)
            return repository
        raise AttributeError(
            f"unit of work has no repository {name!r} (is its area registered and the "
            "unit of work entered?)"
        )

    async def __aenter__(self) -> Self:
        self._real: AsyncConnection | None = None
        self._transaction = None
        self.connection = LazyConnection(self)
        self._tracked, self._emitted, self._committed = [], [], []
        self._committing = False
        self.outbox = SqlOutbox(self.connection, self)  # type: ignore[arg-type]
        self.idempotency = SqlIdempotencyKeys(self.connection, self)  # type: ignore[arg-type]
        self.audit = SqlAuditLog(self.connection, self)  # type: ignore[arg-type]
        return self

    async def open(self) -> AsyncConnection:
        """The connection in its transaction, checked out and begun the first time."""
        if self._real is not None:
            return self._real
        connection = await self.engine.connect()
        try:
            if self.read_only:
                await connection.execution_options(**read_only_options(connection.dialect.name))
            self._transaction = await connection.begin()
        except DBAPIError as exc:
            await connection.close()
            if is_retryable(exc) or exc.connection_invalidated:
                raise ConcurrencyConflict("begin") from exc
            raise
        self._real = connection
        return connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._real is not None:
            try:
                if self._transaction is not None and self._transaction.is_active:
                    await self._transaction.rollback()
            finally:
                await self._real.close()
        if isinstance(exc, DBAPIError) and (
            is_retryable(exc)
            # A connection found dead (the pool does not ping): safe to run again unless the
            # commit was under way, when the outcome is unknown.
            or (exc.connection_invalidated and not self._committing)
        ):
            raise ConcurrencyConflict("transaction") from exc

    def track(self, aggregate: Any) -> None:
        if not any(a is aggregate for a in self._tracked):
            self._tracked.append(aggregate)

    def emit(self, event: Event) -> None:
        self._emitted.append(event)

    def _collect_events(self) -> list[Event]:
        events: list[Event] = []
        for aggregate in self._tracked:
            events.extend(aggregate.events)
            aggregate.events.clear()
        events.extend(self._emitted)
        self._emitted = []
        return events

    async def commit(self) -> None:
        assert "connection" in self.__dict__, "commit outside the unit of work"
        events = self._collect_events()
        if self.read_only and events:
            raise RuntimeError("a query emitted events: it must be a command")
        await self.outbox.add_all(events, self.clock.now())
        self._committing = True
        if self._transaction is not None and self._transaction.is_active:
            await self._transaction.commit()
        self._committed = events

    async def rollback(self) -> None:
        if self._transaction is not None and self._transaction.is_active:
            await self._transaction.rollback()
        self._emitted = []

    def committed_events(self) -> list[Event]:
        return list(self._committed)


def read_only_options(dialect: str) -> dict[str, Any]:
    if dialect == "sqlite":
        return {DEFERRED_OPTION: True}
    return {"isolation_level": "AUTOCOMMIT"}


def unit_of_work_factory(
    engine: AsyncEngine, clock: Clock, *, read_only: bool = False
) -> Callable[[], SqlUnitOfWork]:
    def make() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, clock, read_only=read_only)

    return make
