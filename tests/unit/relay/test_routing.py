"""Routing rules and the conversation's lifecycle, with in-memory fakes (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.booking.events import OrderAccepted
from core.identity.model import Role
from core.messagebus import MessageBus
from core.relay import commands as c
from core.relay import handlers
from core.relay.model import (
    Conversation,
    DeliveryMode,
    Location,
    MessageKind,
    Participant,
    ParticipantRole,
)
from core.relay.policy import RelayPolicy
from core.relay.routing import (
    ChooseConversation,
    NoActiveConversation,
    address_for,
    choose_default,
    delivery_mode,
    take_reply,
)
from core.shared.clock import FixedClock
from core.shared.errors import DomainError, Forbidden
from tests.unit.relay.fakes import relay_uow

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CUSTOMER, PROVIDER, OTHER_PROVIDER, OPERATOR, STRANGER = 1, 2, 3, 9, 7


def conversation(order_id: int = 42, customer: int = CUSTOMER, provider: int = PROVIDER,
                 kind: str | None = "online_session", conversation_id: int = 1) -> Conversation:
    made = Conversation.open(order_id=order_id, order_number=f"YB{order_id:05d}",
                             customer_id=customer, provider_id=provider, service_kind=kind,
                             at=NOW)
    made.id = conversation_id
    return made


# --- which conversation -----------------------------------------------------------------------


def test_the_chosen_chat_wins_over_the_only_rule() -> None:
    first, second = conversation(1, conversation_id=1), conversation(2, conversation_id=2)
    assert choose_default(CUSTOMER, second, [first, second]) is second


def test_a_single_open_chat_needs_no_choice() -> None:
    only = conversation()
    assert choose_default(CUSTOMER, None, [only]) is only


def test_a_closed_choice_falls_back_to_the_only_open_chat() -> None:
    chosen, other = conversation(1, conversation_id=1), conversation(2, conversation_id=2)
    chosen.close(NOW, "order_ended")
    assert choose_default(CUSTOMER, chosen, [other]) is other


def test_several_chats_and_no_choice_lists_them() -> None:
    first, second = conversation(1, conversation_id=1), conversation(2, conversation_id=2)
    with pytest.raises(ChooseConversation) as choose:
        choose_default(CUSTOMER, None, [first, second])
    assert choose.value.options == ((1, "YB00001"), (2, "YB00002"))
    assert choose.value.params == {"orders": "YB00001, YB00002"}


def test_no_chat_at_all_is_said_plainly() -> None:
    with pytest.raises(NoActiveConversation):
        choose_default(CUSTOMER, None, [])


def test_a_reply_decides_only_for_someone_still_in_that_chat() -> None:
    replied = conversation()
    assert take_reply(replied, CUSTOMER)
    assert not take_reply(replied, STRANGER)
    replied.close(NOW, "order_ended")
    with pytest.raises(DomainError) as closed:
        take_reply(replied, CUSTOMER)
    assert closed.value.params == {"order_number": "YB00042"}


# --- where and how each recipient gets it ------------------------------------------------------


def test_a_recipient_is_reached_where_they_last_wrote() -> None:
    someone = Participant(user_id=PROVIDER, role=ParticipantRole.PROVIDER, joined_at=NOW,
                          platform="wechat", chat_id="oW-2")
    accounts = [("telegram", "200"), ("wechat", "oW-2")]
    assert address_for(someone, accounts, "telegram") == ("wechat", "oW-2")
    silent = Participant(user_id=PROVIDER, role=ParticipantRole.PROVIDER, joined_at=NOW)
    assert address_for(silent, accounts, "telegram") == ("telegram", "200")
    assert address_for(silent, [("wechat", "oW-2")], "telegram") == ("wechat", "oW-2")
    assert address_for(silent, [], "telegram") is None


@pytest.mark.parametrize(
    ("kind", "source", "target", "leaks", "expected"),
    [
        (MessageKind.TEXT, "telegram", "telegram", 0, (DeliveryMode.COPY, False)),
        (MessageKind.TEXT, "telegram", "telegram", 1, (DeliveryMode.SEND, False)),
        (MessageKind.PHOTO, "telegram", "telegram", 1, (DeliveryMode.COPY, True)),
        (MessageKind.STICKER, "telegram", "telegram", 0, (DeliveryMode.COPY, False)),
        (MessageKind.TEXT, "telegram", "wechat", 0, (DeliveryMode.SEND, False)),
        (MessageKind.VOICE, "wechat", "telegram", 0, (DeliveryMode.SEND, False)),
        (MessageKind.STICKER, "telegram", "wechat", 0, (DeliveryMode.PLACEHOLDER, False)),
        (MessageKind.VIDEO_NOTE, "telegram", "wechat", 0, (DeliveryMode.PLACEHOLDER, False)),
        (MessageKind.CONTACT, "telegram", "telegram", 1, (DeliveryMode.SEND, False)),
    ],
)
def test_how_a_message_reaches_each_platform(kind: MessageKind, source: str, target: str,
                                             leaks: int, expected: tuple[DeliveryMode, bool]) -> None:
    assert delivery_mode(kind, source, target, leaks) == expected


# --- the conversation's life -----------------------------------------------------------------


def test_the_chat_closes_the_configured_time_after_the_order_ends() -> None:
    chat = conversation()
    chat.order_ended(NOW, timedelta(hours=24))
    assert not chat.is_due(NOW + timedelta(hours=23))
    assert chat.is_due(NOW + timedelta(hours=24))


def test_a_dispute_keeps_the_chat_open_and_reopens_a_closed_one() -> None:
    chat = conversation()
    chat.order_ended(NOW, timedelta(hours=24))
    chat.close(NOW + timedelta(hours=24), "order_ended")
    chat.events.clear()
    chat.dispute_opened(NOW + timedelta(hours=30))
    assert chat.is_open and chat.close_at is None
    assert [e.type_name() for e in chat.events] == ["ConversationOpened"]
    chat.order_ended(NOW + timedelta(hours=40), timedelta(hours=24))  # the dispute resolved
    assert chat.close_at == NOW + timedelta(hours=64)


def test_an_operator_may_join_once_and_never_as_a_party() -> None:
    chat = conversation()
    chat.join(OPERATOR, NOW)
    assert chat.operator_ids == (OPERATOR,)
    with pytest.raises(DomainError):
        chat.join(OPERATOR, NOW)
    with pytest.raises(DomainError) as party:
        chat.join(PROVIDER, NOW)
    assert party.value.key == "error.relay.operator_is_party"


def test_a_new_provider_takes_the_old_ones_place() -> None:
    chat = conversation()
    chat.provider_withdrawn(NOW)
    assert not chat.is_open and chat.participant(PROVIDER) is None
    chat.provider_accepted(OTHER_PROVIDER, NOW)
    assert chat.is_open and chat.provider_id == OTHER_PROVIDER
    assert [p.user_id for p in chat.recipients(CUSTOMER)] == [OTHER_PROVIDER]
    assert chat.ever_took_part(PROVIDER)


def test_sos_is_for_the_parties_of_an_in_person_order_that_is_not_over() -> None:
    on_site = conversation(kind="on_site")
    assert on_site.ensure_sos_allowed(CUSTOMER).role is ParticipantRole.CUSTOMER
    on_site.join(OPERATOR, NOW)
    with pytest.raises(Forbidden):
        on_site.ensure_sos_allowed(OPERATOR)
    with pytest.raises(DomainError):
        conversation(kind="online_session").ensure_sos_allowed(CUSTOMER)
    on_site.order_ended(NOW, timedelta(hours=24))
    with pytest.raises(DomainError) as over:
        on_site.ensure_sos_allowed(PROVIDER)
    assert over.value.key == "error.relay.sos_order_over"


def test_a_location_must_be_on_earth() -> None:
    with pytest.raises(DomainError):
        Location(91.0, 0.0)
    with pytest.raises(DomainError):
        Location(float("nan"), 0.0)


# --- routing through the handlers, with fakes -----------------------------------------------


@pytest.fixture
def stores() -> dict[str, Any]:
    stores: dict[str, Any] = {}
    users = relay_uow(stores).users  # type: ignore[attr-defined]
    users.add(CUSTOMER, ("telegram", "100"))
    users.add(PROVIDER, ("telegram", "200"), ("wechat", "oW-200"), locale="en")
    users.add(OTHER_PROVIDER, ("wechat", "oW-300"))
    users.add(OPERATOR, ("telegram", "900"), roles=frozenset({Role.OPERATOR}))
    users.add(STRANGER, ("telegram", "700"))
    return stores


def bus_for(stores: dict[str, Any], policy: RelayPolicy | None = None) -> MessageBus:
    return MessageBus(lambda: relay_uow(stores), handlers.COMMAND_HANDLERS, {},
                      {"clock": FixedClock(NOW), "relay_policy": policy or RelayPolicy()})


async def accept(stores: dict[str, Any], order_id: int, provider: int = PROVIDER) -> None:
    uow = relay_uow(stores)
    await handlers.on_order_accepted(
        OrderAccepted(order_id=order_id, order_number=f"YB{order_id:05d}", customer_id=CUSTOMER,
                      provider_id=provider, dispatch="direct", scheduled_start=None,
                      started=False),
        uow, FixedClock(NOW))
    await uow.commit()


def text(sender: int, chat: str, message_id: str, body: str, **kw: Any) -> c.RouteInbound:
    return c.RouteInbound(sender_user_id=sender, platform=kw.pop("platform", "telegram"),
                          chat_id=chat, message_id=message_id, text=body, **kw)


async def test_the_recipient_gets_it_in_their_language_on_the_platform_they_use(stores: dict[str, Any]) -> None:
    await accept(stores, 42)
    bus = bus_for(stores)
    plan = await bus.handle(text(CUSTOMER, "100", "1", "hi"))
    [target] = plan.targets
    assert (target.user_id, target.platform, target.chat_id, target.locale) == (
        PROVIDER, "telegram", "200", "en")
    # The provider answers from WeChat: from then on they are reached there.
    await bus.handle(text(PROVIDER, "oW-200", "w1", "hello", platform="wechat"))
    plan = await bus.handle(text(CUSTOMER, "100", "2", "still there?"))
    assert (plan.targets[0].platform, plan.targets[0].mode) == ("wechat", DeliveryMode.SEND)


async def test_a_reply_to_a_delivered_copy_beats_the_current_choice(stores: dict[str, Any]) -> None:
    await accept(stores, 41)
    await accept(stores, 42, provider=OTHER_PROVIDER)
    bus = bus_for(stores)
    await bus.handle(c.SelectConversation(actor_id=CUSTOMER, order_id=42))
    from_provider = await bus.handle(text(PROVIDER, "200", "p1", "ready?"))
    assert from_provider.order_id == 41
    await bus.handle(c.RecordRelayed(relayed_message_id=from_provider.relayed_message_id,
                                     recipient_user_id=CUSTOMER, to_platform="telegram",
                                     to_chat_id="100", to_message_id="c7"))
    answer = await bus.handle(text(CUSTOMER, "100", "3", "yes", reply_to_message_id="c7"))
    assert answer.order_id == 41 and answer.targets[0].reply_to_message_id == "p1"
    unrelated_reply = await bus.handle(text(CUSTOMER, "100", "4", "hm", reply_to_message_id="zz"))
    assert unrelated_reply.order_id == 42  # not a relayed message: the current chat


async def test_an_operators_contacts_are_hidden_but_never_struck(stores: dict[str, Any]) -> None:
    await accept(stores, 42)
    bus = bus_for(stores)
    await bus.handle(c.JoinConversation(actor_id=OPERATOR, order_id=42))
    plan = await bus.handle(text(OPERATOR, "900", "o1", "客服电话 13812345678"))
    assert plan.leak_kinds == ("phone",)
    assert stores["users"].users[OPERATOR].strikes == 0
    assert {t.user_id for t in plan.targets} == {CUSTOMER, PROVIDER}


async def test_a_stranger_cannot_join_or_read(stores: dict[str, Any]) -> None:
    await accept(stores, 42)
    bus = bus_for(stores)
    with pytest.raises(Forbidden):
        await bus.handle(c.JoinConversation(actor_id=STRANGER, order_id=42))
    with pytest.raises(Forbidden):
        await bus.handle(c.GetTranscript(actor_id=STRANGER, order_id=42))
    with pytest.raises(Forbidden):
        await bus.handle(c.JoinConversation(order_id=42))  # an operator must be a person


async def test_somebody_else_cannot_send_in_a_users_name(stores: dict[str, Any]) -> None:
    await accept(stores, 42)
    with pytest.raises(Forbidden):
        await bus_for(stores).handle(c.RouteInbound(
            actor_id=STRANGER, sender_user_id=CUSTOMER, platform="telegram", chat_id="100",
            message_id="1", text="hi"))


async def test_an_unknown_platform_is_refused(stores: dict[str, Any]) -> None:
    await accept(stores, 42)
    with pytest.raises(DomainError) as refused:
        await bus_for(stores).handle(text(CUSTOMER, "100", "1", "hi", platform="icq"))
    assert refused.value.key == "error.relay.unknown_platform"
