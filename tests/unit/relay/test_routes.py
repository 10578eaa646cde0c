"""The route cache: what it remembers, for how long, and what makes it forget."""

from __future__ import annotations

from datetime import UTC, datetime

from core.identity.model import User
from core.relay.model import Conversation, MessageKind, ParticipantRole, RelayedMessage
from core.relay.routes import Route, RouteCache

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _conversation(conversation_id: int, customer: int, provider: int) -> Conversation:
    conversation = Conversation.open(order_id=conversation_id, order_number=f"YB{conversation_id}",
                                     customer_id=customer, provider_id=provider,
                                     service_kind="online_session", at=NOW)
    conversation.id = conversation_id
    return conversation


def _route(user_id: int, *conversations: Conversation) -> Route:
    user = User(id=user_id, display_name="x", roles=frozenset(), locale="zh",
                timezone="Asia/Shanghai", created_at=NOW)
    return Route(user, conversations, None)


def test_a_route_is_remembered_until_it_expires() -> None:
    ticks = Ticks()
    cache = RouteCache(30, clock=ticks)
    route = _route(1, _conversation(10, 1, 2))
    cache.put(1, route, cache.begin())
    ticks.now = 29.9
    assert cache.get(1) is route
    ticks.now = 30.0
    assert cache.get(1) is None


def test_a_route_read_while_its_sender_changed_is_not_kept() -> None:
    cache = RouteCache()
    token = cache.begin()
    cache.forget_user(1)  # e.g. they chose another chat, or were banned, meanwhile
    cache.put(1, _route(1, _conversation(10, 1, 2)), token)
    assert cache.get(1) is None


def test_a_route_read_while_one_of_its_conversations_changed_is_not_kept() -> None:
    cache = RouteCache()
    chat = _conversation(10, 1, 2)
    token = cache.begin()
    cache.forget_conversation(chat)  # e.g. closed, or its provider reassigned, meanwhile
    cache.put(1, _route(1, chat), token)
    assert cache.get(1) is None


def test_a_route_read_before_someone_joined_is_not_kept_for_them() -> None:
    cache = RouteCache()
    token = cache.begin()  # operator 7's route, read without the chat they are joining
    chat = _conversation(10, 1, 2)
    chat.join(7, NOW)
    cache.forget_conversation(chat)
    cache.put(7, _route(7, _conversation(11, 3, 4)), token)
    assert cache.get(7) is None


def test_a_route_read_while_other_chats_changed_is_kept() -> None:
    cache = RouteCache()
    token = cache.begin()
    # Meanwhile another order is accepted and another chat is closed: nothing of user 1's.
    cache.forget_user(3, 4)
    cache.forget_conversation(_conversation(11, 5, 6))
    route = _route(1, _conversation(10, 1, 2))
    cache.put(1, route, token)
    assert cache.get(1) is route


def test_a_route_read_before_what_is_no_longer_kept_of_forgets_is_not_kept() -> None:
    cache = RouteCache(max_forgotten=2)
    token = cache.begin()
    cache.forget_user(1)
    cache.forget_user(3, 4)  # user 1's forget is let go: it can no longer be checked
    cache.put(1, _route(1, _conversation(10, 1, 2)), token)
    assert cache.get(1) is None
    route = _route(1, _conversation(10, 1, 2))
    cache.put(1, route, cache.begin())  # read after: kept
    assert cache.get(1) is route


def test_nobody_is_remembered_without_a_conversation_so_a_new_one_is_seen_at_once() -> None:
    cache = RouteCache()
    cache.put(1, _route(1), cache.begin())
    assert cache.get(1) is None


def test_a_changed_conversation_is_forgotten_by_everyone_who_read_it() -> None:
    cache = RouteCache()
    chat = _conversation(10, 1, 2)
    other = _conversation(11, 3, 4)
    cache.put(1, _route(1, chat), cache.begin())
    cache.put(2, _route(2, chat), cache.begin())
    cache.put(3, _route(3, other), cache.begin())
    # An operator read the chat's route before joining it: they are forgotten too.
    cache.put(7, _route(7, chat, other), cache.begin())
    cache.forget_conversation(chat)
    assert cache.get(1) is None and cache.get(2) is None and cache.get(7) is None
    assert cache.get(3) is not None


def test_the_oldest_routes_and_messages_go_first_when_full() -> None:
    cache = RouteCache(max_users=2, max_messages=2)
    for user_id in (1, 2, 3):
        cache.put(user_id, _route(user_id, _conversation(10 + user_id, user_id, 9)), cache.begin())
    assert cache.get(1) is None and cache.get(3) is not None
    chat = _conversation(10, 1, 2)
    for message_id in (1, 2, 3):
        cache.remember_message(RelayedMessage(
            id=message_id, conversation_id=10, order_id=10, sender_id=1,
            sender_role=ParticipantRole.CUSTOMER, platform="telegram", chat_id="1",
            message_id=str(message_id), kind=MessageKind.TEXT, text="hi", files=(),
            leak_kinds=(), sent_at=NOW), chat)
    assert cache.message(1) is None
    routed = cache.message(3)
    assert routed is not None and routed.took_part == frozenset({1, 2})
