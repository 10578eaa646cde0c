"""Order chats through the bus on both databases: opened on acceptance, routed, replied to,
edited, chosen with /chat, joined by an operator, closed some hours after the order ends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.booking import commands as b
from core.relay import commands as r
from core.relay.model import DeliveryMode, ParticipantRole
from core.relay.routing import ChooseConversation, NoActiveConversation
from core.shared.errors import DomainError, Forbidden
from tests.integration.relay.conftest import RelayWorld


async def test_accepting_an_order_opens_its_chat_and_both_sides_are_told(world: RelayWorld) -> None:
    order = await world.accepted_order()
    [opened] = await world.events("ConversationOpened")
    assert (opened.order_id, opened.customer_id, opened.provider_id) == (  # type: ignore[attr-defined]
        order.id, world.customer.id, world.provider.id)
    plan = await world.send(world.customer, "你好，今晚8点开黑可以吗？")
    assert plan.order_number == order.number
    assert plan.sender_role is ParticipantRole.CUSTOMER
    [target] = plan.targets
    assert (target.user_id, target.platform, target.chat_id) == (
        world.provider.id, "telegram", world.provider.chat_id)
    assert target.mode is DeliveryMode.COPY
    assert plan.rendered("[hidden]") == "你好，今晚8点开黑可以吗？"


async def test_a_message_without_any_open_chat_gets_a_helpful_refusal(world: RelayWorld) -> None:
    with pytest.raises(NoActiveConversation) as refused:
        await world.send(world.customer, "hello?")
    assert refused.value.key == "error.relay.no_active_conversation"


async def test_contacts_are_hidden_and_the_sender_is_struck(world: RelayWorld) -> None:
    await world.accepted_order()
    plan = await world.send(world.provider, "加我微信 zhang_88，电话 138 1234 5678")
    assert plan.rendered("[已隐藏]") == "加我微信 [已隐藏]，电话 [已隐藏]"
    assert plan.leak_kinds == ("wechat", "phone") and plan.leak_count == 2
    # A text with hidden parts cannot be copied as it is: it is sent anew, masked.
    assert plan.targets[0].mode is DeliveryMode.SEND
    async with world.runtime.uow_factory() as uow:
        assert (await uow.users.get(world.provider.id)).strikes == 1
    [leak] = await world.events("ContactLeakMasked")
    assert leak.struck == 1 and leak.strikes == 1  # type: ignore[attr-defined]
