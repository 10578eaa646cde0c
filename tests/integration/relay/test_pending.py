"""The queue of messages waiting for a WeChat window, on SQLite and PostgreSQL: queued from
the relay's refusal, claimed once however many workers ask, delivered with its pair row,
given back on failure, expired when too old or when the chat closes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from admin_cli.transcripts import transcript_json, transcript_table
from core.booking.model import Order
from core.relay import commands as r
from core.relay.pending import (
    AnyPendingRelays,
    ClaimPendingRelays,
    ExpirePendingRelays,
    ListPendingRelays,
    MarkPendingDelivered,
    PendingRelay,
    PendingStatus,
    ReleasePendingRelays,
)
from tests.integration.relay.conftest import RelayWorld


async def _refused(world: RelayWorld, text: str, failure: str = "window_closed") -> r.RelayPlan:
    """The customer writes from Telegram; WeChat refuses the copy for the provider there."""
    plan = await world.send(world.customer, text)
    await world.bus.handle(r.ReportRelayFailed(
        relayed_message_id=plan.relayed_message_id, recipient_user_id=world.other_provider.id,
        failure=failure))
    return plan


async def _queue(world: RelayWorld, order: Order) -> list[PendingRelay]:
    async with world.runtime.uow_factory() as uow:
        conversation = await uow.conversations.for_order(order.id)
        assert conversation is not None
        return await uow.relay_pending.of_conversation(conversation.id)


async def _order(world: RelayWorld) -> Order:
    """An accepted order whose provider reads WeChat."""
    return await world.accepted_order(provider=world.other_provider)


def _claim(world: RelayWorld) -> ClaimPendingRelays:
    return ClaimPendingRelays(platform="wechat", chat_id=world.other_provider.chat_id)


async def test_refused_copies_wait_once_each_and_the_first_tells_both_sides(
    world: RelayWorld,
) -> None:
    order = await _order(world)
    first = await _refused(world, "你好，在吗？手机 13812345678")
    await _refused(world, "明天见", failure="quota")
    # The same refusal reported again (another worker, a retry) queues nothing new.
    await world.bus.handle(r.ReportRelayFailed(
        relayed_message_id=first.relayed_message_id, recipient_user_id=world.other_provider.id,
        failure="window_closed", idempotency_key="again"))
    one, two = await _queue(world, order)
    assert (one.relayed_message_id, one.chat_id, one.status) == (
        first.relayed_message_id, world.other_provider.chat_id, PendingStatus.QUEUED)
    assert "13812345678" not in (one.text or "") and two.text == "明天见"
    queued = await world.events("RelayQueued")
    assert [(e.queued, e.first_for_recipient, e.first_for_sender)  # type: ignore[attr-defined]
            for e in queued] == [(1, True, True), (2, False, False)]


async def test_two_workers_claiming_at_once_deliver_each_message_once(
    world: RelayWorld,
) -> None:
    order = await _order(world)
    plans = [await _refused(world, text) for text in ("一", "二", "三")]
    assert await world.bus.handle(AnyPendingRelays(platform="wechat",
                                                   chat_id=world.other_provider.chat_id))
    claims = await asyncio.gather(world.bus.handle(_claim(world)), world.bus.handle(_claim(world)))
    winners = [claim for claim in claims if claim]
    assert len(winners) == 1
    [claimed] = winners
    assert [i.relayed_message_id for i in claimed] == [p.relayed_message_id for p in plans]
    for index, item in enumerate(claimed):
        await world.bus.handle(MarkPendingDelivered(pending_id=item.id,
                                                    to_message_id=f"wx-relay-{index}"))
    assert await world.bus.handle(_claim(world)) == ()
    assert not await world.bus.handle(AnyPendingRelays(platform="wechat",
                                                       chat_id=world.other_provider.chat_id))
    transcript = await world.bus.handle(r.GetTranscript(order_id=order.id))
    assert [e.delivered_to for e in transcript.entries] == [(world.other_provider.id,)] * 3
    assert {i.status for i in await _queue(world, order)} == {PendingStatus.DELIVERED}


async def test_a_failed_delivery_keeps_the_rest_waiting_in_order(world: RelayWorld) -> None:
    order = await _order(world)
    for text in ("一", "二"):
        await _refused(world, text)
    claimed = await world.bus.handle(_claim(world))
    await world.bus.handle(MarkPendingDelivered(pending_id=claimed[0].id, to_message_id="wx-1"))
    await world.bus.handle(ReleasePendingRelays(pending_ids=(claimed[1].id,), failure="quota"))
    delivered, waiting = await _queue(world, order)
    assert delivered.status is PendingStatus.DELIVERED
    assert (waiting.status, waiting.attempts, waiting.last_failure) == (
        PendingStatus.QUEUED, 1, "quota")
    [again] = await world.bus.handle(_claim(world))
    assert again.id == waiting.id
    [told] = await world.events("RelayQueueWaiting")
    assert told.queued == 1  # type: ignore[attr-defined]


async def test_what_waits_too_long_expires_and_the_transcript_says_so(world: RelayWorld) -> None:
    order = await _order(world)
    await _refused(world, "一")
    await _refused(world, "二")
    [first, second] = await world.bus.handle(_claim(world))
    await world.bus.handle(MarkPendingDelivered(pending_id=first.id, to_message_id="wx-1"))
    await world.bus.handle(ReleasePendingRelays(pending_ids=(second.id,), failure="window_closed"))
    world.clock.advance(timedelta(days=8))
    assert await world.bus.handle(ExpirePendingRelays()) == 1
    [expired] = await world.events("RelayQueueExpired")
    assert (expired.sender_id, expired.reason) == (world.customer.id, "too_old")  # type: ignore[attr-defined]
    found = await world.bus.handle(r.GetTranscript(order_id=order.id))
    waited = await world.bus.handle(ListPendingRelays(order_id=order.id))
    shown = transcript_json(found, "[hidden]", waited)
    assert [m["queue"][0]["status"] for m in shown["messages"]] == ["delivered", "expired"]
    assert shown["queued"] == 0
    assert "waited" in [c.header for c in transcript_table(found, "[hidden]", "en", waited).columns]


async def test_closing_the_chat_expires_what_still_waits(world: RelayWorld) -> None:
    order = await _order(world)
    await _refused(world, "一")
    await world.complete(order)
    world.clock.advance(timedelta(hours=25))
    assert await world.bus.handle(r.CloseIdleConversations()) == 1
    [item] = await _queue(world, order)
    assert (item.status, item.expiry_reason) == (PendingStatus.EXPIRED, "closed")
    [expired] = await world.events("RelayQueueExpired")
    assert expired.recipient_id == world.other_provider.id  # type: ignore[attr-defined]
    assert await world.bus.handle(_claim(world)) == ()


async def test_refusals_reported_at_once_still_tell_the_recipient_once(world: RelayWorld) -> None:
    await _order(world)
    plans = [await world.send(world.customer, text) for text in ("一", "二", "三")]
    await asyncio.gather(*(world.bus.handle(r.ReportRelayFailed(
        relayed_message_id=plan.relayed_message_id, recipient_user_id=world.other_provider.id,
        failure="window_closed")) for plan in plans))
    queued = await world.events("RelayQueued")
    assert len(queued) == 3
    assert sum(e.first_for_recipient for e in queued) == 1  # type: ignore[attr-defined]
    assert sorted(e.queued for e in queued) == [1, 2, 3]  # type: ignore[attr-defined]
