"""What opening a conversation prepares for its first messages: the addresses it already knows
and, with the route cache, both sides' routes, equal to what routing would read itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from core.booking.events import OrderAccepted
from core.relay import handlers
from core.relay.model import Conversation
from core.relay.routes import RouteCache
from core.relay.routing import known_address
from core.shared.clock import FixedClock
from tests.unit.relay.fakes import FakeConversations, relay_uow

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CUSTOMER, PROVIDER, TWO_ACCOUNTS = 1, 2, 3


class Conversations(FakeConversations):
    async def open_for_each(self, user_ids: Sequence[int]) -> dict[int, list[Conversation]]:
        return {user_id: await self.open_for(user_id) for user_id in user_ids}


@pytest.fixture
def stores() -> dict[str, Any]:
    stores: dict[str, Any] = {"conversations": Conversations()}
    users = relay_uow(stores).users  # type: ignore[attr-defined]
    users.add(CUSTOMER, ("telegram", "100"))
    users.add(PROVIDER, ("telegram", "200"), locale="en")
    users.add(TWO_ACCOUNTS, ("telegram", "300"), ("wechat", "oW-300"))
    return stores


async def accept(stores: dict[str, Any], order_id: int, customer: int, provider: int,
                 routes: RouteCache | None) -> Conversation:
    uow = relay_uow(stores)
    await handlers.on_order_accepted(
        OrderAccepted(order_id=order_id, order_number=f"YB{order_id:05d}", customer_id=customer,
                      provider_id=provider, dispatch="direct", scheduled_start=None,
                      started=False),
        uow, FixedClock(NOW), relay_routes=routes)
    await uow.commit()
    found = await stores["conversations"].for_order(order_id)
    assert found is not None
    return found


def test_only_a_single_account_is_an_address_known_in_advance() -> None:
    assert known_address([("telegram", "100")]) == ("telegram", "100")
    # With two, the one a copy goes to depends on the sender's platform.
    assert known_address([("telegram", "100"), ("wechat", "oW-1")]) is None
    assert known_address([]) is None


async def test_a_new_conversation_knows_where_each_side_is_reached(stores: dict[str, Any]) -> None:
    opened = await accept(stores, 42, CUSTOMER, PROVIDER, None)
    assert [(p.platform, p.chat_id, p.locale) for p in opened.participants] == [
        ("telegram", "100", "zh"), ("telegram", "200", "en")]
    opened = await accept(stores, 43, TWO_ACCOUNTS, PROVIDER, None)
    assert [(p.platform, p.chat_id, p.locale) for p in opened.participants] == [
        (None, None, None), ("telegram", "200", "en")]


async def test_both_routes_are_remembered_as_routing_would_read_them(
        stores: dict[str, Any]) -> None:
    routes = RouteCache()
    await accept(stores, 41, CUSTOMER, TWO_ACCOUNTS, None)  # the customer's earlier chat,
    stores["conversations"].selections[CUSTOMER] = 1  # chosen with /chat
    await accept(stores, 42, CUSTOMER, PROVIDER, routes)
    for user_id in (CUSTOMER, PROVIDER):
        remembered = routes.get(user_id)
        read, _ = await handlers._sender_route(relay_uow(stores), user_id, NOW, None)
        assert remembered is not None
        assert remembered.user == read.user
        assert [c.id for c in remembered.conversations] == [c.id for c in read.conversations]
        assert remembered.selected_id == read.selected_id


async def test_someone_banned_is_not_remembered_and_so_is_refused_by_routing(
        stores: dict[str, Any]) -> None:
    stores["users"].users[CUSTOMER].ban(reason="spam", until=None, actor_id=None, now=NOW)
    routes = RouteCache()
    await accept(stores, 42, CUSTOMER, PROVIDER, routes)
    assert routes.get(CUSTOMER) is None
    assert routes.get(PROVIDER) is not None


async def test_a_route_read_while_its_person_changed_is_not_put(stores: dict[str, Any]) -> None:
    routes = RouteCache()

    class Forgetful(Conversations):
        async def open_for_each(self, user_ids: Sequence[int]) -> dict[int, list[Conversation]]:
            routes.forget_user(CUSTOMER)  # a ban or a choice of theirs handled meanwhile
            routes.forget_user(999)  # and another order accepted: nothing of these two
            return await super().open_for_each(user_ids)

    stores["conversations"] = Forgetful()
    await accept(stores, 42, CUSTOMER, PROVIDER, routes)
    assert routes.get(CUSTOMER) is None and routes.get(PROVIDER) is not None
