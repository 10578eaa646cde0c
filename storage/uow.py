"""The SQL unit of work: one connection, one transaction, the outbox written on commit.

Area repositories are listed in `AREA_REPOSITORIES` (attribute name -> class) and bound to
the transaction's connection on first use.

The connection is checked out at the first statement and goes back to the pool at commit (or
when the unit of work ends): checkout, options and BEGIN run in the first statement's
greenlet, COMMIT or ROLLBACK with the return to the pool in one more, since every `await` of
SQLAlchemy's async API is a greenlet switch of its own and none of these steps needs the event
loop in between.

A read-only unit of work (for queries) opens no write transaction: on PostgreSQL its
statements run in autocommit (no BEGIN/COMMIT round trips), on SQLite in a deferred
transaction that does not queue behind writers the way `BEGIN IMMEDIATE` does.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from sqlalchemy.engine import Connection, Transaction
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

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
    from memory) costs no checkout, no BEGIN and no COMMIT.

    Statements run on the SQLAlchemy `Connection` in one greenlet each, as
    `AsyncConnection.execute` does, with the same buffered results (only `stream` streams:
    `execute` does not refuse `stream_results` as `AsyncConnection` would)."""

    __slots__ = ("_uow",)

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    @property
    def dialect(self) -> Any:
        return self._uow.engine.dialect

    @property
    def sync_engine(self) -> Any:
        return self._uow.engine.sync_engine

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        uow = self._uow
        if uow._sync is None:
            return await greenlet_spawn(uow._begin_and_run, Connection.execute, *args, **kwargs)
        return await greenlet_spawn(uow._sync.execute, *args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        uow = self._uow
        if uow._sync is None:
            return await greenlet_spawn(uow._begin_and_run, Connection.scalar, *args, **kwargs)
        return await greenlet_spawn(uow._sync.scalar, *args, **kwargs)

    async def exec_driver_sql(self, *args: Any, **kwargs: Any) -> Any:
        uow = self._uow
        if uow._sync is None:
            return await greenlet_spawn(
                uow._begin_and_run, Connection.exec_driver_sql, *args, **kwargs
            )
        return await greenlet_spawn(uow._sync.exec_driver_sql, *args, **kwargs)

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._uow.open()).stream(*args, **kwargs)


class SqlUnitOfWork:
    connection: LazyConnection
    outbox: SqlOutbox
    idempotency: SqlIdempotencyKeys
    audit: SqlAuditLog

    def __init__(self, engine: AsyncEngine, clock: Clock, *, read_only: bool = False) -> None:
        self.engine = engine
        self.clock = clock
        self.read_only = read_only
        # The checked-out connection and its transaction (None until the first statement,
        # and again once committed or ended), and its async face for `open()` callers.
        self._sync: Connection | None = None
        self._async: AsyncConnection | None = None
        self._transaction: Transaction | None = None
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
        self._sync = self._async = None
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
        if self._async is None:
            if self._sync is None:
                await greenlet_spawn(self._begin)
            self._async = AsyncConnection(self.engine, self._sync)
        return self._async

    def _begin(self) -> Connection:
        """Check out, set the read-only options and BEGIN, all in the caller's greenlet."""
        connection = self.engine.sync_engine.connect()
        try:
            if self.read_only:
                connection.execution_options(**read_only_options(connection.dialect.name))
            self._transaction = connection.begin()
        except DBAPIError as exc:
            connection.close()
            if is_retryable(exc) or exc.connection_invalidated:
                raise ConcurrencyConflict("begin") from exc
            raise
        except BaseException:
            connection.close()
            raise
        self._sync = connection
        return connection

    def _begin_and_run(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return method(self._begin(), *args, **kwargs)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._sync
        if connection is not None:
            self._sync = self._async = None
            await greenlet_spawn(_end, connection, self._transaction, False)
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
        connection = self._sync
        if connection is not None:
            # COMMIT and the return to the pool in one greenlet: the unit of work is done with
            # its connection (a statement after this checks out and begins another).
            self._sync = self._async = None
            await greenlet_spawn(_end, connection, self._transaction, True)
        self._committed = events

    async def rollback(self) -> None:
        if self._transaction is not None and self._transaction.is_active:
            await greenlet_spawn(self._transaction.rollback)
        self._emitted = []

    def committed_events(self) -> list[Event]:
        return list(self._committed)


def _end(connection: Connection, transaction: Transaction | None, commit: bool) -> None:
    """Commit or roll back the unit of work's transaction (if still open), then return the
    connection to the pool; the pool does no second reset after a finished transaction."""
    try:
        if transaction is not None and transaction.is_active:
            if commit:
                transaction.commit()
            else:
                transaction.rollback()
    finally:
        connection.close()


def read_only_options(dialect: str) -> dict[str, Any]:
    # Set on each checkout, inside the checkout's greenlet (and reset by SQLAlchemy at
    # checkin). Measured per query: about 15 us more than a second pool opened in autocommit
    # (twice the connections per worker) or than flipping the driver's autocommit by hand
    # (which SQLAlchemy and anything reading this option would not know about); about 35 us
    # less than an engine derived with `execution_options(isolation_level=...)`.
    if dialect == "sqlite":
        return {DEFERRED_OPTION: True}
    return {"isolation_level": "AUTOCOMMIT"}


def unit_of_work_factory(
    engine: AsyncEngine, clock: Clock, *, read_only: bool = False
) -> Callable[[], SqlUnitOfWork]:
    def make() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, clock, read_only=read_only)

    return make
