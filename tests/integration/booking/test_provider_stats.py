"""A provider's completion rate and response time after each order they took, missed, dropped
or finished: the figures (and the ranking score made from them) over a varied order history,
and what refreshing them costs the database (one read of the orders, one UPDATE)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime
from core.booking import events as ev
from core.booking.handlers import refresh_provider_stats
from core.booking.model import Dispatch, Party
from core.booking.ports import ProviderRecord
from core.booking.states import OrderState
from core.catalog.ranking import quality
from core.shared.errors import NotFound
from storage.tables.booking import orders
from storage.tables.catalog import providers
from tests.integration.booking.test_with_real_areas import provider_and_customer

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# Refreshing after an order: the provider's orders read once (counts and recent waits
# together), then one UPDATE of their figures and rank_base (was: two reads of the orders,
# a read of the provider row, the UPDATE).
REFRESH_STATEMENTS = 2


@contextmanager
def statements_on(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def _old_provider_record(connection: Any, provider_id: int) -> ProviderRecord:
    """The figures as they were computed before they became one statement: the counts in
    SQL, the recent waits fetched and averaged in Python."""
    c = orders.c
    failed = sa.or_(
        sa.and_(c.state == OrderState.EXPIRED.value, c.dispatch == Dispatch.DIRECT.value,
                c.accepted_at.is_(None), c.paid_at.is_not(None)),
        c.cancelled_by == Party.PROVIDER.value,
        c.close_reason == "provider_no_show",
    )
    row = (await connection.execute(sa.select(
        sa.func.count(c.accepted_at).label("accepted"),
        sa.func.sum(sa.case((c.completed_at.is_not(None), 1), else_=0)).label("completed"),
        sa.func.sum(sa.case((failed, 1), else_=0)).label("failed"),
    ).where(c.provider_id == provider_id))).one()
    recent = (await connection.execute(
        sa.select(c.paid_at, c.accepted_at)
        .where(c.provider_id == provider_id, c.accepted_at.is_not(None), c.paid_at.is_not(None))
        .order_by(c.accepted_at.desc()).limit(100)
    )).all()
    waits = [max(0.0, (r.accepted_at - r.paid_at).total_seconds()) for r in recent]
    return ProviderRecord(
        accepted=int(row.accepted or 0), completed=int(row.completed or 0),
        failed=int(row.failed or 0),
        mean_response_s=int(sum(waits) / len(waits)) if waits else 0,
    )


def _order_row(rng: random.Random, provider_id: int, n: int) -> dict[str, Any]:
    created = START + timedelta(minutes=7 * n)
    paid = (created + timedelta(seconds=rng.randint(0, 900), microseconds=rng.randint(0, 999_999))
            if rng.random() < 0.85 else None)
    accepted = None
    if rng.random() < 0.7:
        base = paid or created
        # Mostly after payment, sometimes before (an open order taken first), whole seconds
        # or not; each acceptance at its own microsecond, so "the latest 100" is one set.
        wait = timedelta(seconds=rng.choice([0, 1, 59, 300, rng.randint(0, 7200)]),
                         microseconds=rng.choice([0, rng.randint(0, 999_999)]))
        accepted = base + (wait if rng.random() < 0.9 else -wait) + timedelta(microseconds=n)
    state = rng.choice([s.value for s in OrderState])
    return {
        "version": 1, "state": state, "customer_id": 1, "provider_id": provider_id,
        "category_id": 1, "kind": "online_session", "pricing_unit": "hour",
        "dispatch": rng.choice([Dispatch.DIRECT.value, Dispatch.OPEN.value]), "instant": False,
        "currency": "CNY", "unit_price": 5000, "units": 1, "discount": 0, "bonus": 0,
        "deposit": 5000, "total": 5000, "notes": "", "tags": [], "tier_min": 1,
        "created_at": created, "paid_at": paid, "accepted_at": accepted,
        "completed_at": created + timedelta(hours=3) if rng.random() < 0.5 else None,
        "cancelled_by": rng.choice([None, None, Party.CUSTOMER.value, Party.PROVIDER.value]),
        "close_reason": rng.choice([None, None, "provider_no_show", "customer_no_show"]),
        "wave": 0, "payments": 1, "venue_share_bps": 0, "reschedule_count": 0,
    }


@pytest.mark.parametrize("orders_each", [0, 1, 40, 260])
async def test_the_figures_of_a_varied_history_are_those_computed_row_by_row(
    runtime: Runtime, orders_each: int
) -> None:
    rng = random.Random(orders_each)
    provider_ids = [101, 102, 103]
    rows = [_order_row(rng, p, n) for n in range(orders_each) for p in provider_ids]
    async with runtime.uow_factory() as uow:
        if rows:
            await uow.connection.execute(orders.insert(), rows)
        await uow.commit()

    async with runtime.uow_factory() as uow:
        for provider_id in [*provider_ids, 999]:
            expected = await _old_provider_record(uow.connection, provider_id)
            assert await uow.orders.provider_record(provider_id) == expected, provider_id
            if orders_each >= 40 and provider_id != 999:  # the history is varied indeed
                assert expected.mean_response_s > 0 and expected.failed > 0


async def test_waits_are_averaged_to_the_microsecond_and_negative_ones_count_as_none(
    runtime: Runtime,
) -> None:
    def order(n: int, paid: datetime, accepted: datetime) -> dict[str, Any]:
        row = _order_row(random.Random(n), 7, n)
        return {**row, "paid_at": paid, "accepted_at": accepted}

    history = [
        order(1, START, START + timedelta(seconds=10, microseconds=600_000)),
        order(2, START, START + timedelta(seconds=9, microseconds=400_000)),
        order(3, START + timedelta(seconds=5), START + timedelta(seconds=1)),  # taken, then paid
    ]
    async with runtime.uow_factory() as uow:
        await uow.connection.execute(orders.insert(), history)
        record = await uow.orders.provider_record(7)
    assert record.mean_response_s == 6  # (10.6 + 9.4 + 0) / 3 = 6.67, whole seconds down


async def test_refreshing_after_an_acceptance_reads_the_orders_once_and_updates_once(
    runtime: Runtime, engine: AsyncEngine
) -> None:
    provider, *_ = await provider_and_customer(runtime)
    async with runtime.uow_factory() as uow:
        await uow.connection.execute(orders.insert(), [
            {**_order_row(random.Random(n), provider, n),
             "paid_at": START, "accepted_at": START + timedelta(seconds=120 * n),
             "completed_at": START + timedelta(hours=2) if n != 2 else None,
             "cancelled_by": Party.PROVIDER.value if n == 2 else None, "close_reason": None}
            for n in (1, 2, 3)
        ])
        await uow.commit()
    directory = runtime.bus.dependencies["directory"]

    async with runtime.uow_factory() as uow:
        with statements_on(engine) as statements:
            await refresh_provider_stats(ev.OrderAccepted(
                order_id=1, order_number="Y1", customer_id=1, provider_id=provider,
                dispatch="direct", scheduled_start=None, started=True), uow, directory)
        await uow.commit()

    own = [s for s in statements if not s.startswith("BEGIN")]
    assert len(own) == REFRESH_STATEMENTS, own
    async with runtime.uow_factory() as uow:
        profile = await uow.providers.get(provider)
    assert (profile.completion_rate, profile.response_time_s) == (2 / 3, 240)


async def test_rank_base_is_the_ranking_formula_of_the_rows_own_rating(runtime: Runtime) -> None:
    provider, *_ = await provider_and_customer(runtime)
    ratings = [4.0, 4.6, 4.123456789, 0.0, 5.0, 3.3333333333333335, -0.5, 5.7]
    figures = [(1.0, 300), (2 / 3, 0), (0.0, 86_400), (0.9173, 17), (1.2, -5), (-0.1, 299)]
    for rating in ratings:
        async with runtime.uow_factory() as uow:
            await uow.providers.set_rating_stats(provider, 3, rating, rating)
            await uow.commit()
        for completion_rate, response_s in figures:
            async with runtime.uow_factory() as uow:
                await uow.providers.set_service_stats(provider, completion_rate, response_s)
                await uow.commit()
            async with runtime.uow_factory() as uow:
                row = (await uow.connection.execute(
                    sa.select(providers.c.completion_rate, providers.c.response_time_s,
                              providers.c.rank_base)
                    .where(providers.c.user_id == provider))).one()
            assert tuple(row) == (completion_rate, response_s,
                                  quality(rating, completion_rate, response_s))


async def test_figures_for_somebody_who_is_not_a_provider_are_refused(runtime: Runtime) -> None:
    async with runtime.uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.providers.set_service_stats(424242, 1.0, 300)
