"""SQL repositories of the booking area: orders (with their dispute), slot cells, dispatch
offers and per-category policy overrides.

A new order takes its id from the database when it is added (its number is made from it)
and its row is written whole by its first save, after the verb that placed it: one INSERT,
not an INSERT, an UPDATE for the number and a versioned UPDATE of what was just inserted.
The statements every order command runs are built once and run with parameters: building
`insert().values(...)` or `update().values(...)` per call costs more CPU in SQLAlchemy's
coercion than running it.

A calendar's read of a provider's busy times (a query, in a read-only unit of work) may come
from the engine's `BusyCache`, a few seconds old at most and dropped when this process writes
an order of that provider; a command always reads them afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.booking.model import (
    Dispatch,
    Dispute,
    Order,
    Party,
    Place,
    PriceBreakdown,
    order_number,
)
from core.booking.policy import DisputeOutcome
from core.booking.ports import OrderFilter, ProviderRecord
from core.booking.states import ACTIVE, OrderState
from core.shared.errors import ConcurrencyConflict, DomainError, NotFound
from core.shared.money import Money
from storage.repositories.base import SqlRepository
from storage.repositories.engine_caches import Shelf, StampedPerEngine
from storage.tables.booking import (
    booking_policies,
    order_dispatch,
    order_disputes,
    orders,
    slot_reservations,
)

_DISPUTE_STATES = (OrderState.DISPUTED.value, OrderState.RESOLVED.value)
_TIME_FIELDS = (
    "scheduled_start", "scheduled_end", "created_at", "paid_at", "accepted_at", "started_at",
    "delivered_at", "completed_at", "closed_at", "settled_at", "proposed_start",
    *Order.TIMERS,
)
_PLAIN_FIELDS = (
    "customer_id", "provider_id", "offer_id", "category_id", "kind", "pricing_unit", "instant",
    "address", "notes", "tier_min", "wave", "payments", "commission_bps", "venue_id",
    "venue_share_bps", "close_reason", "reschedule_count", "proposed_by", "checkin", "proof",
    "delivery_code",
)


def _order_values(order: Order) -> dict[str, Any]:
    price = order.price
    values: dict[str, Any] = {name: getattr(order, name) for name in _PLAIN_FIELDS + _TIME_FIELDS}
    values.update(
        state=order.state.value,
        dispatch=order.dispatch.value,
        currency=price.currency,
        unit_price=price.unit_price.amount,
        units=price.units,
        discount=price.discount.amount,
        bonus=price.bonus.amount,
        deposit=price.deposit.amount,
        total=price.total.amount,
        lat=order.place.lat if order.place else None,
        lon=order.place.lon if order.place else None,
        tags=list(order.tags),
        cancelled_by=order.cancelled_by.value if order.cancelled_by else None,
        fee=order.fee.amount if order.fee is not None else None,
        refund=order.refund.amount if order.refund is not None else None,
        due_at=order.due_at,
    )
    return values


# The next order id, in one statement: the sequence on PostgreSQL; on SQLite, where a command
# holds the database lock from BEGIN IMMEDIATE on, what the rowid would be.
_NEXT_ORDER_ID = {
    "postgresql": sa.text("SELECT nextval(pg_get_serial_sequence('orders', 'id'))"),
    "sqlite": sa.text("SELECT coalesce(max(id), 0) + 1 FROM orders"),
}
_INSERT_ORDER = orders.insert()
# Columns come from the parameters' keys; the WHERE clause's from these two.
_UPDATE_ORDER = orders.update().where(
    orders.c.id == sa.bindparam("where_id"), orders.c.version == sa.bindparam("where_version")
)
# An order is read with its category's policy overrides: every command that loads an order
# asks for them next (see SqlBookingPolicies.overrides).
_POLICY_OVERRIDES = (
    sa.select(booking_policies.c.overrides)
    .where(booking_policies.c.category_id == orders.c.category_id)
    .scalar_subquery()
    .label("policy_overrides")
)
_WITH_POLICY = sa.select(orders, _POLICY_OVERRIDES)
_SELECT_ORDER = _WITH_POLICY.where(orders.c.id == sa.bindparam("order_id"))
_SELECT_ORDER_FOR_UPDATE = _SELECT_ORDER.with_for_update()
_SELECT_BY_NUMBER = _WITH_POLICY.where(orders.c.number == sa.bindparam("number"))
_SELECT_DUE = _WITH_POLICY.where(
    orders.c.id == sa.bindparam("order_id"), orders.c.due_at <= sa.bindparam("now")
)
# Another sweeper working on this row: leave it to them.
_SELECT_DUE_UNLESS_LOCKED = _SELECT_DUE.with_for_update(skip_locked=True)
_SELECT_DISPUTE = sa.select(order_disputes).where(
    order_disputes.c.order_id == sa.bindparam("order_id")
)
_ACTIVE_STATES = [s.value for s in ACTIVE]
_BUSY = (
    sa.select(orders.c.scheduled_start, orders.c.scheduled_end)
    .where(
        orders.c.provider_id == sa.bindparam("provider_id"),
        orders.c.state.in_(sa.bindparam("states", expanding=True)),
        orders.c.scheduled_start < sa.bindparam("end"),
        orders.c.scheduled_end > sa.bindparam("start"),
    )
    .order_by(orders.c.scheduled_start)
)

# -- a calendar's busy times ---------------------------------------------------------------

# The booking steps show a month, then a day, of a provider's calendar, each leaving out their
# busy times, and a person taps from one to the next within seconds; other customers look at
# the same provider meanwhile. What a read-only unit of work read is kept this long per
# provider. An order written in this process drops its provider's entry at once, so a slot
# this process just sold is never offered; one sold by another process (another worker) may
# be offered this late, and `BookOrder`, which reads the busy times afresh in its own
# transaction, then refuses it ("no longer free").
BUSY_SECONDS = 10.0
# At most this many providers' busy times are held (a month's few intervals each), the least
# recently read dropped first.
MAX_BUSY_PROVIDERS = 4_096


class BusyCache:
    """Each provider's busy times as a calendar last read them, for read-only units of work
    on one engine (one per engine, see `busy_cache`): the range read and the intervals
    overlapping it, so a read of a range inside it (a day of the month just shown) needs no
    statement.

    It follows `BrowseCache`'s rules (they are `Shelf`'s): an order written through this
    process's repositories drops its provider's entry as soon as it is written, and nothing
    read before that write, or while it may still commit, is kept.
    """

    def __init__(
        self,
        *,
        seconds: float = BUSY_SECONDS,
        size: int = MAX_BUSY_PROVIDERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers = Shelf(seconds, size, clock)

    def order_written(self, provider_id: int, transaction: Any) -> None:
        self.providers.written(provider_id, transaction)

    def stamp(self) -> int | None:
        """Changes whenever an order is written here; None while a write may still commit."""
        return None if self.providers.busy() else self.providers.generation


_BUSY_CACHES = StampedPerEngine(BusyCache, "busy")


def busy_cache(engine: Any) -> BusyCache:
    """The engine's `BusyCache` (an async engine or its sync engine), made on first use
    (keeping nothing read on SQLite: see `use_busy_cache`)."""
    return _BUSY_CACHES.of(engine)


def use_busy_cache(engine: Any, cache: BusyCache) -> None:
    """Hold the engine's calendar reads in `cache` (another life, size or clock) and, on
    SQLite, stamp its transactions as they begin: without that nothing read there is kept.
    Wiring calls it before the engine runs a transaction (see `StampedPerEngine`)."""
    _BUSY_CACHES.use(engine, cache)


# A provider's response time is the mean wait from payment to acceptance over their latest
# accepted orders.
RECENT_ACCEPTANCES = 100


def _wait_us(dialect: str) -> Any:
    """Microseconds from an order's payment to its acceptance (none if accepted before paid),
    exact: whole microseconds summed as integers, never float seconds."""
    c = orders.c
    if dialect == "postgresql":
        wait = sa.cast(sa.extract("epoch", c.accepted_at - c.paid_at) * 1_000_000, sa.BigInteger)
    else:
        # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC); its date functions keep only
        # milliseconds, so the fraction is read as digits.
        def epoch_us(column: Any) -> Any:
            seconds = sa.func.strftime("%s", sa.func.substr(column, 1, 19))
            return (sa.cast(seconds, sa.BigInteger) * 1_000_000
                    + sa.cast(sa.func.substr(column, 21, 6), sa.BigInteger))

        wait = epoch_us(c.accepted_at) - epoch_us(c.paid_at)
    return sa.case((wait > 0, wait), else_=0)


def _provider_record(dialect: str) -> Any:
    """One row: the provider's finished-order counts and the total and number of their recent
    waits, in one round trip."""
    c = orders.c
    theirs = c.provider_id == sa.bindparam("provider_id")
    failed = sa.or_(
        sa.and_(c.state == OrderState.EXPIRED.value, c.dispatch == Dispatch.DIRECT.value,
                c.accepted_at.is_(None), c.paid_at.is_not(None)),
        c.cancelled_by == Party.PROVIDER.value,
        c.close_reason == "provider_no_show",
    )
    counts = sa.select(
        sa.func.count(c.accepted_at).label("accepted"),
        sa.func.sum(sa.case((c.completed_at.is_not(None), 1), else_=0)).label("completed"),
        sa.func.sum(sa.case((failed, 1), else_=0)).label("failed"),
    ).where(theirs).subquery("counts")
    recent = (
        sa.select(_wait_us(dialect).label("wait_us"))
        .where(theirs, c.accepted_at.is_not(None), c.paid_at.is_not(None))
        .order_by(c.accepted_at.desc(), c.id.desc())
        .limit(RECENT_ACCEPTANCES)
        .subquery("recent")
    )
    waits = sa.select(
        sa.func.coalesce(sa.func.sum(recent.c.wait_us), 0).label("waited_us"),
        sa.func.count().label("waits"),
    ).subquery("waits")
    return sa.select(counts, waits).select_from(counts.join(waits, sa.true()))


_PROVIDER_RECORD = {dialect: _provider_record(dialect) for dialect in ("postgresql", "sqlite")}


def _money(amount: int | None, currency: str) -> Money | None:
    return None if amount is None else Money(int(amount), currency)


def _order_from(row: Any, dispute_row: Any | None) -> Order:
    currency = row.currency
    fields: dict[str, Any] = {name: getattr(row, name) for name in _PLAIN_FIELDS + _TIME_FIELDS}
    order = Order(
        id=row.id,
        number=row.number or "",
        version=row.version,
        state=OrderState(row.state),
        dispatch=Dispatch(row.dispatch),
        price=PriceBreakdown(
            Money(row.unit_price, currency), row.units, Money(row.discount, currency),
            Money(row.bonus, currency), Money(row.deposit, currency),
        ),
        place=Place(row.lat, row.lon) if row.lat is not None and row.lon is not None else None,
        tags=tuple(row.tags or ()),
        cancelled_by=Party(row.cancelled_by) if row.cancelled_by else None,
        fee=_money(row.fee, currency),
        refund=_money(row.refund, currency),
        **fields,
    )
    if dispute_row is not None:
        order.dispute = Dispute(
            id=dispute_row.id,
            opened_by=dispute_row.opened_by,
            opener=Party(dispute_row.opener),
            reason=dispute_row.reason,
            opened_at=dispute_row.opened_at,
            from_state=OrderState(dispute_row.from_state),
            respond_by=dispute_row.respond_by,
            response=dispute_row.response,
            responded_by=dispute_row.responded_by,
            responded_at=dispute_row.responded_at,
            outcome=DisputeOutcome(dispute_row.outcome) if dispute_row.outcome else None,
            refund=_money(dispute_row.refund, dispute_row.currency),
            resolved_by=dispute_row.resolved_by,
            resolved_at=dispute_row.resolved_at,
            by_default=dispute_row.by_default,
            note=dispute_row.note,
        )
    return order


def _dispute_values(order: Order, dispute: Dispute) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "opened_by": dispute.opened_by,
        "opener": dispute.opener.value,
        "reason": dispute.reason,
        "opened_at": dispute.opened_at,
        "from_state": dispute.from_state.value,
        "respond_by": dispute.respond_by,
        "response": dispute.response,
        "responded_by": dispute.responded_by,
        "responded_at": dispute.responded_at,
        "outcome": dispute.outcome.value if dispute.outcome else None,
        "refund": dispute.refund.amount if dispute.refund is not None else None,
        "currency": order.price.currency,
        "resolved_by": dispute.resolved_by,
        "resolved_at": dispute.resolved_at,
        "by_default": dispute.by_default,
        "note": dispute.note,
    }


class SqlOrders(SqlRepository):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._last_id = 0  # the last id handed out here (SQLite counts from the table)
        # order id -> its provider as loaded: a reassigned order frees the old one's calendar
        self._loaded_providers: dict[int, int | None] = {}

    async def add(self, order: Order) -> Order:
        """Give a new order its id and number; its first `save` writes its row."""
        next_id = (await self.connection.execute(_NEXT_ORDER_ID[self.dialect])).scalar_one()
        order.id = self._last_id = max(int(next_id), self._last_id + 1)
        order.number = order_number(order.id)
        order.version = 0
        self.uow.track(order)
        return order

    async def _load(self, query: Any, params: dict[str, Any] | None = None) -> Order | None:
        row = (await self.connection.execute(query, params)).first()
        if row is None:
            return None
        dispute_row = None
        if row.state in _DISPUTE_STATES:  # only a disputed order has a dispute row
            dispute_row = (
                await self.connection.execute(_SELECT_DISPUTE, {"order_id": row.id})
            ).first()
        order = _order_from(row, dispute_row)
        self._loaded_providers[order.id] = order.provider_id
        self.uow.booking_policies.seen(order.category_id, row.policy_overrides)
        self.uow.track(order)
        return order

    async def get(self, order_id: int, *, for_update: bool = False) -> Order:
        # SQLite already holds the database lock (BEGIN IMMEDIATE): no row locks there.
        locking = for_update and self.dialect == "postgresql"
        query = _SELECT_ORDER_FOR_UPDATE if locking else _SELECT_ORDER
        order = await self._load(query, {"order_id": order_id})
        if order is None:
            raise NotFound("error.order.not_found", order=str(order_id))
        return order

    async def get_by_number(self, number: str) -> Order:
        order = await self._load(_SELECT_BY_NUMBER, {"number": number})
        if order is None:
            raise NotFound("error.order.not_found", order=number)
        return order

    async def lock_due(self, order_id: int, now: datetime) -> Order | None:
        query = _SELECT_DUE_UNLESS_LOCKED if self.dialect == "postgresql" else _SELECT_DUE
        return await self._load(query, {"order_id": order_id, "now": now})

    async def save(self, order: Order) -> None:
        await self._calendars_written(order)
        values = _order_values(order)
        if order.version == 0:  # added in this unit of work: its row is written now
            if not order.id:
                raise ValueError("add the order before saving it (it needs its id)")
            await self.connection.execute(
                _INSERT_ORDER, {**values, "id": order.id, "number": order.number, "version": 1}
            )
            order.version = 1
        else:
            result = await self.connection.execute(_UPDATE_ORDER, {
                **values, "version": order.version + 1,
                "where_id": order.id, "where_version": order.version,
            })
            if result.rowcount != 1:
                raise ConcurrencyConflict(orders.name, id=str(order.id))
            order.version += 1
        dispute = order.dispute
        if dispute is None:
            return
        if not dispute.id:
            result = await self.connection.execute(
                order_disputes.insert().values(**_dispute_values(order, dispute))
            )
            dispute.id = int(result.inserted_primary_key[0])
        else:
            await self.connection.execute(
                order_disputes.update()
                .where(order_disputes.c.id == dispute.id)
                .values(**_dispute_values(order, dispute))
            )

    async def _calendars_written(self, order: Order) -> None:
        """Every write of an order goes through here: the calendars of the providers it was
        and is with show it (or its end) on their next read in this process."""
        providers = {order.provider_id, self._loaded_providers.get(order.id)} - {None}
        if not providers:
            return
        cache = busy_cache(self.uow.engine)
        transaction = (await self.uow.open()).sync_connection.get_transaction()
        for provider_id in providers:
            cache.order_written(provider_id, transaction)

    async def due_ids(self, now: datetime, limit: int) -> list[int]:
        rows = await self.connection.execute(
            sa.select(orders.c.id)
            .where(orders.c.due_at <= now)
            .order_by(orders.c.due_at, orders.c.id)
            .limit(limit)
        )
        return [int(r.id) for r in rows]

    async def busy_intervals(
        self, provider_id: int, start: datetime, end: datetime,
        exclude_order_id: int | None = None,
    ) -> list[tuple[datetime, datetime]]:
        # A calendar (a query) may be shown what was read a moment ago; a command reads afresh,
        # and so does a reschedule's calendar (the intervals kept do not say whose they are).
        cache = None
        if exclude_order_id is None and getattr(self.uow, "read_only", False):
            cache = busy_cache(self.uow.engine)
            held = cache.providers.get(provider_id)
            if held is not None:
                read_from, read_to, intervals = held[0]
                if read_from <= start and end <= read_to:
                    return [(s, e) for s, e in intervals if s < end and e > start]
            ticket = cache.providers.ticket(provider_id)
        query = _BUSY
        if exclude_order_id is not None:
            query = query.where(orders.c.id != exclude_order_id)
        rows = await self.connection.execute(query, {
            "provider_id": provider_id, "states": _ACTIVE_STATES, "start": start, "end": end,
        })
        found = [(r.scheduled_start, r.scheduled_end) for r in rows]
        if cache is not None and await _BUSY_CACHES.kept(self, cache):
            cache.providers.put(ticket, provider_id, (start, end, tuple(found)))
        return found

    async def list(self, query: OrderFilter) -> list[Order]:
        select = sa.select(orders)
        if query.state is not None:
            select = select.where(orders.c.state == query.state.value)
        if query.customer_id is not None:
            select = select.where(orders.c.customer_id == query.customer_id)
        if query.provider_id is not None:
            select = select.where(orders.c.provider_id == query.provider_id)
        has_dispute = sa.exists().where(order_disputes.c.order_id == orders.c.id)
        if query.disputed is True:
            select = select.where(has_dispute)
        elif query.disputed is False:
            select = select.where(~has_dispute)
        rows = (
            await self.connection.execute(
                select.order_by(orders.c.id.desc()).limit(query.limit).offset(query.offset)
            )
        ).all()
        disputes: dict[int, Any] = {}
        if rows:
            found = await self.connection.execute(
                sa.select(order_disputes).where(order_disputes.c.order_id.in_([r.id for r in rows]))
            )
            disputes = {d.order_id: d for d in found}
        return [_order_from(r, disputes.get(r.id)) for r in rows]

    async def provider_record(self, provider_id: int) -> ProviderRecord:
        row = (
            await self.connection.execute(_PROVIDER_RECORD[self.dialect], {"provider_id": provider_id})
        ).one()
        waits = int(row.waits)
        return ProviderRecord(
            accepted=int(row.accepted or 0),
            completed=int(row.completed or 0),
            failed=int(row.failed or 0),
            # The mean of the whole seconds, rounded down, from exact microseconds.
            mean_response_s=int(row.waited_us) // (waits * 1_000_000) if waits else 0,
        )


class SqlSlotReservations(SqlRepository):
    async def reserve(self, provider_id: int, order_id: int, cells: Sequence[datetime]) -> None:
        if not cells:
            return
        statement = (
            self.insert(slot_reservations)
            .on_conflict_do_nothing(index_elements=["provider_id", "cell_start"])
            .returning(slot_reservations.c.cell_start)
        )
        rows = [{"provider_id": provider_id, "cell_start": cell, "order_id": order_id}
                for cell in sorted(cells)]
        # A concurrent booking of an overlapping range holds at least one of these cells:
        # PostgreSQL makes us wait for it and then skips the row, SQLite has serialised us.
        # One cached statement batched by the driver, not a VALUES list compiled per booking.
        written = (await self.connection.execute(statement, rows)).all()
        if len(written) != len(cells):
            raise DomainError("error.booking.slot_gone")

    async def release(self, order_id: int) -> None:
        await self.connection.execute(
            slot_reservations.delete().where(slot_reservations.c.order_id == order_id)
        )

    async def of_order(self, order_id: int) -> list[datetime]:
        rows = await self.connection.execute(
            sa.select(slot_reservations.c.cell_start)
            .where(slot_reservations.c.order_id == order_id)
            .order_by(slot_reservations.c.cell_start)
        )
        return [r.cell_start for r in rows]


class SqlDispatchLog(SqlRepository):
    async def offer(self, order_id: int, provider_ids: Sequence[int], wave: int,
                    at: datetime) -> tuple[int, ...]:
        if not provider_ids:
            return ()
        statement = (
            self.insert(order_dispatch)
            .on_conflict_do_nothing(index_elements=["order_id", "provider_id"])
            .returning(order_dispatch.c.provider_id)
        )
        # One cached statement, batched by the driver ("insertmanyvalues"), not a
        # thousand-row VALUES clause compiled afresh for every wave.
        rows = [{"order_id": order_id, "provider_id": pid, "wave": wave, "offered_at": at}
                for pid in dict.fromkeys(provider_ids)]
        written = {int(r.provider_id) for r in await self.connection.execute(statement, rows)}
        return tuple(p for p in dict.fromkeys(provider_ids) if p in written)

    async def offered(self, order_id: int) -> tuple[int, ...]:
        rows = await self.connection.execute(
            sa.select(order_dispatch.c.provider_id)
            .where(order_dispatch.c.order_id == order_id)
            .order_by(order_dispatch.c.wave, order_dispatch.c.offered_at,
                      order_dispatch.c.provider_id)
        )
        return tuple(int(r.provider_id) for r in rows)

    async def was_offered(self, order_id: int, provider_id: int) -> bool:
        row = (
            await self.connection.execute(
                sa.select(order_dispatch.c.wave).where(
                    order_dispatch.c.order_id == order_id,
                    order_dispatch.c.provider_id == provider_id,
                )
            )
        ).first()
        return row is not None


class SqlBookingPolicies(SqlRepository):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Overrides read in this unit of work along with an order (category id -> overrides).
        self._seen: dict[int, dict[str, Any]] = {}

    def seen(self, category_id: int, overrides: dict[str, Any] | None) -> None:
        self._seen[category_id] = dict(overrides or {})

    async def overrides(self, category_id: int) -> dict[str, Any]:
        if category_id in self._seen:
            return dict(self._seen[category_id])
        row = (
            await self.connection.execute(
                sa.select(booking_policies.c.overrides).where(
                    booking_policies.c.category_id == category_id
                )
            )
        ).first()
        return dict(row.overrides) if row is not None else {}

    async def set_overrides(self, category_id: int, overrides: dict[str, Any],
                            at: datetime) -> None:
        self._seen[category_id] = dict(overrides)
        await self.connection.execute(
            booking_policies.delete().where(booking_policies.c.category_id == category_id)
        )
        if overrides:
            await self.connection.execute(
                booking_policies.insert().values(
                    category_id=category_id, overrides=overrides, updated_at=at
                )
            )
