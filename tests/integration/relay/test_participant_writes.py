"""A conversation's participants are written by one statement that SQLAlchemy compiles once
per process: accepting an order opens its chat, and that must not compile SQL every time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.ext.asyncio import AsyncEngine

from core.relay import commands as r
from core.relay.model import ParticipantRole
from tests.integration.relay.conftest import RelayWorld


@contextmanager
def participant_writes(engine: AsyncEngine) -> Iterator[list[tuple[bool, int]]]:
    """Each participants INSERT run meanwhile: (found compiled in the cache, rows)."""
    seen: list[tuple[bool, int]] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any,
              executemany: bool) -> None:
        if statement.startswith("INSERT INTO relay_participants"):
            rows = len(parameters) if executemany else statement.count("), (") + 1
            seen.append((context.cache_hit is CACHE_HIT, rows))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_each_chat_opened_writes_both_sides_in_one_statement_compiled_once(
    world: RelayWorld, engine: AsyncEngine
) -> None:
    first = await world.accepted_order()  # the statement is compiled here, once
    with participant_writes(engine) as seen:
        second = await world.accepted_order(provider=world.other_provider)
        third = await world.accepted_order()
    assert seen == [(True, 2), (True, 2)]
    async with world.runtime.uow_factory() as uow:
        for order, provider in ((first, world.provider), (second, world.other_provider),
                                (third, world.provider)):
            chat = await uow.conversations.for_order(order.id)
            assert chat is not None
            assert [(p.user_id, p.role, p.active) for p in chat.participants] == [
                (world.customer.id, ParticipantRole.CUSTOMER, True),
                (provider.id, ParticipantRole.PROVIDER, True),
            ]


async def test_an_operator_joining_is_added_and_each_side_keeps_where_they_are_reached(
    world: RelayWorld, engine: AsyncEngine
) -> None:
    order = await world.accepted_order()
    with participant_writes(engine) as seen:
        await world.bus.handle(r.JoinConversation(actor_id=world.operator.id, order_id=order.id))
    # The same statement for three rows: the two sides' membership and the operator, new.
    assert seen == [(True, 3)]
    async with world.runtime.uow_factory() as uow:
        chat = await uow.conversations.for_order(order.id)
        assert chat is not None
        assert [(p.user_id, p.role, p.platform, p.chat_id) for p in chat.participants] == [
            (world.customer.id, ParticipantRole.CUSTOMER, "telegram", world.customer.chat_id),
            (world.provider.id, ParticipantRole.PROVIDER, "telegram", world.provider.chat_id),
            (world.operator.id, ParticipantRole.OPERATOR, None, None),
        ]
