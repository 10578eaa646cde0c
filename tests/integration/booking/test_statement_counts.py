"""What booking, paying for and accepting an order cost the database, against the real
identity, catalog and wallet: the statements of each command's own transaction (the
reactions to its events run afterwards, in their own).

Each row is read once per unit of work (the provider once, not once to describe them and
again to check they take bookings), a new order is written by one INSERT that carries its
number, an order is read with its category's policy overrides, and the category comes from
the process's snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from app.bootstrap import Runtime
from core.booking import commands as c
from core.booking.model import order_number
from core.catalog.commands import EditCategory
from core.shared.errors import DomainError
from tests.integration.booking.test_with_real_areas import (
    NEXT_MONDAY_10_SHANGHAI,
    provider_and_customer,
)

# PostgreSQL, steady state (the wallet's accounts exist, the category snapshot is warm):
#   book:   user, offer, provider, blocks, policy overrides, busy times, schedule,
#           next order id, audit, INSERT order, slot cells, outbox
#   pay:    user, order (with its overrides), 3 wallet statements, audit, UPDATE order, outbox
#   accept: user, order (locked, with its overrides), provider, blocks, audit, UPDATE order,
#           outbox
# SQLite adds BEGIN IMMEDIATE to each, and the wallet writes a journal in more statements.
STATEMENTS = {
    "postgresql": {"BookOrder": 12, "PayOrder": 8, "AcceptOrder": 7},
    "sqlite": {"BookOrder": 13, "PayOrder": 12, "AcceptOrder": 8},
}


@contextmanager
def statements_until_commit(engine: Any) -> Iterator[list[str]]:
    """The statements run until the first commit: the command's own transaction."""
    seen: list[str] = []
    done = False

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not done:
            seen.append(" ".join(statement.split()))

    def committed(_conn: Any) -> None:
        nonlocal done
        done = True

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    event.listen(engine.sync_engine, "commit", committed)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        event.remove(engine.sync_engine, "commit", committed)


async def _lifecycle(runtime: Runtime, customer: int, provider: int, offer_id: int,
                     hour: int, engine: Any | None = None) -> dict[str, list[str]]:
    """Book, pay (sandbox) and accept one order; with `engine`, each command's statements."""
    counted: dict[str, list[str]] = {}

    async def run(command: Any) -> Any:
        if engine is None:
            return await runtime.bus.handle(command)
        with statements_until_commit(engine) as seen:
            result = await runtime.bus.handle(command)
        counted[type(command).__name__] = seen
        return result

    order = await run(c.BookOrder(actor_id=customer, offer_id=offer_id, units=1,
                                  start=NEXT_MONDAY_10_SHANGHAI + timedelta(hours=hour)))
    await run(c.PayOrder(actor_id=customer, order_id=order.id, method="sandbox",
                         payment_ref=f"sbx-{order.id}"))
    await run(c.AcceptOrder(actor_id=provider, order_id=order.id))
    return counted


async def test_booking_paying_and_accepting_take_a_fixed_number_of_statements(
    runtime: Runtime, engine: Any
) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    await _lifecycle(runtime, customer, provider, offer_id, hour=0)  # accounts, snapshot
    counted = await _lifecycle(runtime, customer, provider, offer_id, hour=2, engine=engine)
    expected = STATEMENTS[engine.dialect.name]
    assert {name: len(seen) for name, seen in counted.items()} == expected, counted
    for name, seen in counted.items():
        providers_read = [s for s in seen if s.startswith("SELECT catalog_providers.user_id")]
        assert len(providers_read) <= 1, (name, seen)
        assert not any(s.startswith("UPDATE orders SET number") for s in seen), (name, seen)
    book = counted["BookOrder"]
    assert not any(s.startswith("UPDATE orders") for s in book), book
    assert not any("FROM catalog_categories" in s for s in book), book
    for name in ("PayOrder", "AcceptOrder"):
        assert not any(s.startswith("SELECT booking_policies") for s in counted[name]), counted[name]


async def test_a_new_order_is_stored_once_with_its_number_and_history(runtime: Runtime) -> None:
    _, customer, offer_id, _ = await provider_and_customer(runtime)
    first = await runtime.bus.handle(c.BookOrder(
        actor_id=customer, offer_id=offer_id, units=1, start=NEXT_MONDAY_10_SHANGHAI))
    second = await runtime.bus.handle(c.BookOrder(
        actor_id=customer, offer_id=offer_id, units=1,
        start=NEXT_MONDAY_10_SHANGHAI + timedelta(hours=2)))
    assert second.id == first.id + 1
    for order in (first, second):
        assert order.number == order_number(order.id)
        details = await runtime.bus.handle(c.GetOrder(number=order.number))
        assert details.order.id == order.id
        assert details.order.version == order.version == 1
        assert [h.action for h in details.history] == ["submit"]
    # The saved version guards the next write as before.
    paid = await runtime.bus.handle(c.PayOrder(actor_id=customer, order_id=first.id,
                                               method="sandbox", payment_ref="sbx-once"))
    assert paid.version == 2


async def test_a_category_switched_off_in_this_process_stops_bookings_at_once(
    runtime: Runtime,
) -> None:
    _, customer, offer_id, category_id = await provider_and_customer(runtime)
    await runtime.bus.handle(c.BookOrder(actor_id=customer, offer_id=offer_id, units=1,
                                         start=NEXT_MONDAY_10_SHANGHAI))  # snapshot taken
    await runtime.bus.handle(EditCategory(category_id=category_id, active=False))
    with pytest.raises(DomainError) as refused:
        await runtime.bus.handle(c.BookOrder(
            actor_id=customer, offer_id=offer_id, units=1,
            start=NEXT_MONDAY_10_SHANGHAI + timedelta(hours=2)))
    assert refused.value.key == "error.booking.category_inactive"


async def test_a_policy_set_after_an_order_was_read_applies_in_the_same_transaction(
    runtime: Runtime,
) -> None:
    """Overrides read along with an order answer later asks in that unit of work; a write
    of them in the same unit of work is what those asks see."""
    _, customer, offer_id, category_id = await provider_and_customer(runtime)
    order = await runtime.bus.handle(c.BookOrder(actor_id=customer, offer_id=offer_id,
                                                 units=1, start=NEXT_MONDAY_10_SHANGHAI))
    async with runtime.uow_factory() as uow:
        await uow.orders.get(order.id)
        assert await uow.booking_policies.overrides(category_id) == {}
        await uow.booking_policies.set_overrides(category_id, {"accept_window": 25},
                                                 runtime.clock.now())
        assert await uow.booking_policies.overrides(category_id) == {"accept_window": 25}
        await uow.commit()
    paid = await runtime.bus.handle(c.PayOrder(actor_id=customer, order_id=order.id,
                                               method="sandbox", payment_ref="sbx-policy"))
    assert paid.accept_deadline == runtime.clock.now() + timedelta(minutes=25)
