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


async def test_a_reply_follows_its_message_whatever_chat_is_current(world: RelayWorld) -> None:
    first = await world.accepted_order()
    second = await world.accepted_order(provider=world.other_provider)
    with pytest.raises(ChooseConversation) as choose:
        await world.send(world.customer, "which one?")
    assert choose.value.options == ((first.id, first.number), (second.id, second.number))
    await world.bus.handle(r.SelectConversation(actor_id=world.customer.id, order_id=second.id))
    # The first provider writes; the customer answers that copy while order 2 is current.
    _, copies = await world.send_and_deliver(world.provider, "我到线上了")
    reply = await world.send(world.customer, "好的，马上来", reply_to=copies[world.customer.id])
    assert reply.order_id == first.id
    [target] = reply.targets
    assert target.user_id == world.provider.id
    assert target.reply_to_message_id is not None  # threads under the provider's original
    # Without a reply, the chosen chat (order 2, the WeChat provider) gets it, re-sent.
    plain = await world.send(world.customer, "你好")
    assert plain.order_id == second.id
    assert [(t.user_id, t.platform, t.mode) for t in plain.targets] == [
        (world.other_provider.id, "wechat", DeliveryMode.SEND)]


async def test_replying_to_ones_own_message_threads_under_the_copy(world: RelayWorld) -> None:
    await world.accepted_order()
    original, copies = await world.send_and_deliver(world.customer, "第一条")
    follow_up = await world.send(world.customer, "补充一下", reply_to=original.message_id)
    assert follow_up.targets[0].reply_to_message_id == copies[world.provider.id]


async def test_the_chat_list_marks_the_current_one(world: RelayWorld) -> None:
    first = await world.accepted_order()
    listed = await world.bus.handle(r.ListConversations(actor_id=world.customer.id))
    assert [(x.order_id, x.current, x.role) for x in listed] == [
        (first.id, True, ParticipantRole.CUSTOMER)]
    second = await world.accepted_order(provider=world.other_provider)
    listed = await world.bus.handle(r.ListConversations(actor_id=world.customer.id))
    assert [(x.order_id, x.current) for x in listed] == [(first.id, False), (second.id, False)]
    chosen = await world.bus.handle(r.SelectConversation(actor_id=world.customer.id,
                                                         order_id=first.id))
    assert chosen.current
    with pytest.raises(Forbidden):
        await world.bus.handle(r.SelectConversation(actor_id=world.stranger.id,
                                                    order_id=first.id))


async def test_edits_follow_the_pair_table_and_are_masked_too(world: RelayWorld) -> None:
    await world.accepted_order()
    original, copies = await world.send_and_deliver(world.provider, "明天见")
    edit = await world.bus.handle(r.RouteEdit(
        sender_user_id=world.provider.id, platform="telegram", chat_id=world.provider.chat_id,
        message_id=original.message_id, text="明天见，我vx: xiaoyu_99"))
    [target] = edit.targets
    assert (target.user_id, target.chat_id, target.message_id, target.mode) == (
        world.customer.id, world.customer.chat_id, copies[world.customer.id], DeliveryMode.EDIT)
    assert edit.rendered("[hidden]") == "明天见，我vx: [hidden]"
    async with world.runtime.uow_factory() as uow:
        assert (await uow.users.get(world.provider.id)).strikes == 1
    with pytest.raises(DomainError) as unknown:
        await world.bus.handle(r.RouteEdit(
            sender_user_id=world.customer.id, platform="telegram",
            chat_id=world.provider.chat_id, message_id=original.message_id, text="hack"))
    assert unknown.value.key == "error.relay.unknown_message"


async def test_a_delivered_copy_is_recorded_once(world: RelayWorld) -> None:
    await world.accepted_order()
    plan, copies = await world.send_and_deliver(world.customer, "hi")
    again = await world.bus.handle(r.RecordRelayed(
        relayed_message_id=plan.relayed_message_id, recipient_user_id=world.provider.id,
        to_platform="telegram", to_chat_id=world.provider.chat_id,
        to_message_id=copies[world.provider.id]))
    assert again is False
    with pytest.raises(Forbidden):
        await world.bus.handle(r.RecordRelayed(
            relayed_message_id=plan.relayed_message_id, recipient_user_id=world.stranger.id,
            to_platform="telegram", to_chat_id=world.stranger.chat_id, to_message_id="5"))


async def test_album_parts_stay_together_even_when_the_current_chat_changes(world: RelayWorld) -> None:
    first = await world.accepted_order()
    second = await world.accepted_order(provider=world.other_provider)
    await world.bus.handle(r.SelectConversation(actor_id=world.customer.id, order_id=first.id))
    part1 = await world.send(world.customer, "现场照片", kind="photo", files=("f1",),
                             media_group_id="album-1")
    await world.bus.handle(r.SelectConversation(actor_id=world.customer.id, order_id=second.id))
    part2 = await world.send(world.customer, None, kind="photo", files=("f2",),
                             media_group_id="album-1")
    assert part1.order_id == part2.order_id == first.id
    assert part2.media_group_id == "album-1"


async def test_a_shared_contact_card_never_goes_through(world: RelayWorld) -> None:
    await world.accepted_order()
    plan = await world.send(world.customer, kind="contact")
    assert plan.leak_kinds == ("phone",)
    assert plan.rendered("[hidden]") == "[hidden]"
    assert plan.targets[0].mode is DeliveryMode.SEND


async def test_kinds_the_other_platform_cannot_show_become_placeholders(world: RelayWorld) -> None:
    await world.accepted_order(provider=world.other_provider)
    sticker = await world.send(world.customer, kind="sticker", files=("CAACAgIA",))
    photo = await world.send(world.customer, "门口", kind="photo", files=("AgACAgIA",))
    assert sticker.targets[0].mode is DeliveryMode.PLACEHOLDER
    assert photo.targets[0].mode is DeliveryMode.SEND


async def test_bad_messages_are_refused_and_change_nothing(world: RelayWorld) -> None:
    order = await world.accepted_order()
    for kwargs, key in [
        ({"text": "   "}, "error.relay.empty_message"),
        ({"text": "x" * 5000}, "error.relay.text_too_long"),
        ({"kind": "hologram", "text": "hi"}, "error.relay.unknown_kind"),
        ({"kind": "photo"}, "error.relay.file_required"),
        ({"kind": "location"}, "error.relay.location_required"),
        ({"kind": "text", "text": "hi", "media_group_id": "g"}, "error.relay.not_album_kind"),
    ]:
        with pytest.raises(DomainError) as refused:
            await world.send(world.customer, **kwargs)
        assert refused.value.key == key
    transcript = await world.bus.handle(r.GetTranscript(order_id=order.id))
    assert transcript.entries == ()


async def test_a_refused_copy_tells_the_sender(world: RelayWorld) -> None:
    await world.accepted_order()
    plan = await world.send(world.customer, "在吗")
    await world.bus.handle(r.ReportRelayFailed(relayed_message_id=plan.relayed_message_id,
                                               recipient_user_id=world.provider.id,
                                               failure="blocked"))
    [failed] = await world.events("RelayUndelivered")
    assert (failed.sender_id, failed.failure) == (world.customer.id, "blocked")  # type: ignore[attr-defined]
    with pytest.raises(DomainError):
        await world.bus.handle(r.ReportRelayFailed(relayed_message_id=plan.relayed_message_id,
                                                   recipient_user_id=world.provider.id,
                                                   failure="gremlins"))


async def test_the_chat_closes_hours_after_the_order_ends(world: RelayWorld) -> None:
    order = await world.accepted_order()
    await world.complete(order)
    await world.send(world.customer, "谢谢，玩得很开心")  # still open after completion
    world.clock.advance(timedelta(hours=23))
    assert await world.bus.handle(r.CloseIdleConversations()) == 0
    world.clock.advance(timedelta(hours=1, minutes=1))
    assert await world.bus.handle(r.CloseIdleConversations()) == 1
    assert await world.bus.handle(r.CloseIdleConversations()) == 0
    [closed] = await world.events("ConversationClosed")
    assert closed.reason == "order_ended"  # type: ignore[attr-defined]
    with pytest.raises(NoActiveConversation):
        await world.send(world.customer, "还在吗")


async def test_a_reply_into_a_closed_chat_names_its_order(world: RelayWorld) -> None:
    order = await world.accepted_order()
    _, copies = await world.send_and_deliver(world.provider, "hi")
    await world.complete(order)
    world.clock.advance(timedelta(hours=25))
    await world.bus.handle(r.CloseIdleConversations())
    with pytest.raises(DomainError) as closed:
        await world.send(world.customer, "再问一下", reply_to=copies[world.customer.id])
    assert closed.value.key == "error.relay.conversation_closed"
    assert closed.value.params["order_number"] == order.number


async def test_a_reassigned_order_closes_for_the_old_provider_and_reopens_for_the_new(world: RelayWorld) -> None:
    order = await world.accepted_order()
    await world.bus.handle(b.ReassignOrder(order_id=order.id, provider_id=world.other_provider.id,
                                           reason="provider ill"))
    with pytest.raises(NoActiveConversation):
        await world.send(world.provider, "我还在吗？")
    await world.bus.handle(b.AcceptOrder(actor_id=world.other_provider.id, order_id=order.id))
    plan = await world.send(world.customer, "你好，新师傅")
    assert [t.user_id for t in plan.targets] == [world.other_provider.id]
    reasons = [(e.reopened, e.reason) for e in await world.events("ConversationOpened")]  # type: ignore[attr-defined]
    assert reasons == [(False, "accepted"), (True, "accepted")]
