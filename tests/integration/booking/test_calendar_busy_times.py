"""A calendar's busy times (`ListBusyIntervals`, a query) come from a short-lived per-engine
cache: a day of the month just shown reads nothing, an order written in this process shows
on the next read, another process's booking shows once what was read before it ages out
(and booking that slot meanwhile is refused, clearly), and a booking always reads afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from core.booking import commands as c
from core.catalog.commands import ApproveApplication
from core.shared.errors import DomainError
from storage.db import create_engine
from storage.repositories.booking import BUSY_SECONDS, BusyCache, use_busy_cache
from storage.uow import unit_of_work_factory
from tests.fakes import ManualClock
from tests.integration.booking.test_with_real_areas import (
    NEXT_MONDAY_10_SHANGHAI,
    provider_and_customer,
)
from tests.integration.catalog.support import application, register, seeded
from tests.integration.statements import statements_on

HOUR = timedelta(hours=1)
# What the bot's month view asks for January (a day either side), and its day view for the
# 12th, inside it.
MONTH = (datetime(2026, 1, 4, 16, tzinfo=UTC), datetime(2026, 2, 2, 17, tzinfo=UTC))
DAY_12 = (datetime(2026, 1, 10, 16, tzinfo=UTC), datetime(2026, 1, 13, 17, tzinfo=UTC))
DAY_19 = (datetime(2026, 1, 17, 16, tzinfo=UTC), datetime(2026, 1, 20, 17, tzinfo=UTC))
FEBRUARY = (datetime(2026, 1, 31, 16, tzinfo=UTC), datetime(2026, 3, 2, 17, tzinfo=UTC))


@pytest.fixture
def ticking(engine: AsyncEngine) -> ManualClock:
    clock = ManualClock()
    use_busy_cache(engine, BusyCache(clock=clock))
    return clock


async def busy(runtime: Runtime, provider: int, span: tuple[datetime, datetime],
               exclude: int | None = None) -> list[tuple[datetime, datetime]]:
    found: list[tuple[datetime, datetime]] = await runtime.bus.handle(c.ListBusyIntervals(
        provider_id=provider, start=span[0], end=span[1], exclude_order_id=exclude))
    return found


def reads_of_busy_times(seen: list[str]) -> int:
    return sum(1 for s in seen if s.lstrip().startswith("SELECT orders.scheduled_start"))


async def book(runtime: Runtime, customer: int, offer_id: int, start: datetime) -> int:
    order = await runtime.bus.handle(c.BookOrder(actor_id=customer, offer_id=offer_id, units=1,
                                                 start=start))
    return int(order.id)


async def test_a_day_of_the_month_just_shown_reads_nothing_and_tells_the_same(
    runtime: Runtime, engine: AsyncEngine, ticking: ManualClock
) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    await book(runtime, customer, offer_id, NEXT_MONDAY_10_SHANGHAI)
    taken = [(NEXT_MONDAY_10_SHANGHAI, NEXT_MONDAY_10_SHANGHAI + HOUR)]
    with statements_on(engine) as seen:
        assert await busy(runtime, provider, MONTH) == taken
        assert await busy(runtime, provider, DAY_12) == taken
        assert await busy(runtime, provider, DAY_19) == []
    assert reads_of_busy_times(seen) == 1
    with statements_on(engine) as seen:
        assert await busy(runtime, provider, FEBRUARY) == []  # outside what was read
    assert reads_of_busy_times(seen) == 1
    # Aged out: read again.
    ticking.now += BUSY_SECONDS
    with statements_on(engine) as seen:
        assert await busy(runtime, provider, FEBRUARY) == []
    assert reads_of_busy_times(seen) == 1


async def test_an_order_booked_or_cancelled_here_shows_on_the_next_read(
    runtime: Runtime, engine: AsyncEngine, ticking: ManualClock
) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    assert await busy(runtime, provider, MONTH) == []
    ten = await book(runtime, customer, offer_id, NEXT_MONDAY_10_SHANGHAI)
    assert await busy(runtime, provider, DAY_12) == [
        (NEXT_MONDAY_10_SHANGHAI, NEXT_MONDAY_10_SHANGHAI + HOUR)]
    await runtime.bus.handle(c.CancelOrder(actor_id=customer, order_id=ten))
    assert await busy(runtime, provider, DAY_12) == []
    with statements_on(engine) as seen:  # nothing written since: kept
        assert await busy(runtime, provider, DAY_12) == []
    assert reads_of_busy_times(seen) == 0


async def test_a_booking_made_by_another_process_is_refused_clearly_until_it_shows(
    runtime: Runtime, settings: Settings, database_url: str, engine: AsyncEngine,
    ticking: ManualClock
) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    assert await busy(runtime, provider, MONTH) == []  # the calendar a customer sees here
    elsewhere = bootstrap(settings, clock=runtime.clock, engine=create_engine(database_url))
    try:
        other = await register(elsewhere, "902", name="Bob")
        await book(elsewhere, other, offer_id, NEXT_MONDAY_10_SHANGHAI)
    finally:
        await elsewhere.engine.dispose()
    # Not known here yet: the day view still offers 10:00, and booking it is refused.
    with statements_on(engine) as seen:
        assert await busy(runtime, provider, DAY_12) == []
    assert reads_of_busy_times(seen) == 0
    with pytest.raises(DomainError) as refused:
        await book(runtime, customer, offer_id, NEXT_MONDAY_10_SHANGHAI)
    assert refused.value.key == "error.booking.slot_gone"
    ticking.now += BUSY_SECONDS
    assert await busy(runtime, provider, DAY_12) == [
        (NEXT_MONDAY_10_SHANGHAI, NEXT_MONDAY_10_SHANGHAI + HOUR)]


async def test_a_read_made_while_an_order_write_may_still_commit_is_not_kept(
    runtime: Runtime, engine: AsyncEngine, ticking: ManualClock
) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    ten = await book(runtime, customer, offer_id, NEXT_MONDAY_10_SHANGHAI)
    two = NEXT_MONDAY_10_SHANGHAI + 4 * HOUR
    async with runtime.uow_factory() as uow:
        order = await uow.orders.get(ten)
        order.scheduled_start, order.scheduled_end = two, two + HOUR
        await uow.orders.save(order)
        # Another customer's calendar, meanwhile: the write is not committed yet.
        assert await busy(runtime, provider, MONTH) == [
            (NEXT_MONDAY_10_SHANGHAI, NEXT_MONDAY_10_SHANGHAI + HOUR)]
        await uow.commit()
    with statements_on(engine) as seen:
        assert await busy(runtime, provider, DAY_12) == [(two, two + HOUR)]
    assert reads_of_busy_times(seen) == 1


async def test_a_read_in_a_transaction_begun_before_an_order_was_written_here_is_not_kept(
    runtime: Runtime, engine: AsyncEngine, ticking: ManualClock
) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    ten = await book(runtime, customer, offer_id, NEXT_MONDAY_10_SHANGHAI)
    twelve = NEXT_MONDAY_10_SHANGHAI + 2 * HOUR
    async with unit_of_work_factory(engine, runtime.clock, read_only=True)() as uow:
        await uow.orders.get(ten)  # its transaction has begun (on SQLite, its snapshot)
        await book(runtime, customer, offer_id, twelve)
        await uow.orders.busy_intervals(provider, *MONTH)  # on SQLite, without 12:00
    assert await busy(runtime, provider, DAY_12) == [
        (NEXT_MONDAY_10_SHANGHAI, NEXT_MONDAY_10_SHANGHAI + HOUR), (twelve, twelve + HOUR)]


async def test_a_reschedule_calendar_and_a_booking_read_afresh(
    runtime: Runtime, engine: AsyncEngine, ticking: ManualClock
) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    ten = await book(runtime, customer, offer_id, NEXT_MONDAY_10_SHANGHAI)
    await busy(runtime, provider, MONTH)
    with statements_on(engine) as seen:
        assert await busy(runtime, provider, DAY_12, exclude=ten) == []  # the order moved
        await book(runtime, customer, offer_id, NEXT_MONDAY_10_SHANGHAI + 2 * HOUR)
    assert reads_of_busy_times(seen) == 2


async def test_an_order_moved_to_another_provider_frees_the_first_ones_calendar(
    runtime: Runtime, ticking: ManualClock
) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    categories = await seeded(runtime)
    second = await register(runtime, "903", name="Mei")
    submitted = await runtime.bus.handle(application(second, categories["league-of-legends"]))
    await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
    operator = await register(runtime, "904", "operator", name="Op")
    ten = await book(runtime, customer, offer_id, NEXT_MONDAY_10_SHANGHAI)
    await runtime.bus.handle(c.PayOrder(actor_id=customer, order_id=ten, method="sandbox",
                                        payment_ref="sbx-move"))
    assert await busy(runtime, provider, MONTH) != []
    assert await busy(runtime, second, MONTH) == []
    await runtime.bus.handle(c.ReassignOrder(actor_id=operator, order_id=ten,
                                             provider_id=second, reason="unwell"))
    assert await busy(runtime, provider, DAY_12) == []
    assert await busy(runtime, second, DAY_12) == [
        (NEXT_MONDAY_10_SHANGHAI, NEXT_MONDAY_10_SHANGHAI + HOUR)]
