"""With several workers the parts of one Telegram album reach different processes; they meet
in Redis and the album still reaches the other side as one media group, in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiogram.types import BufferedInputFile
from redis.asyncio import Redis

from bots.telegram.albums import RedisAlbums, plan_from_json, plan_to_json
from bots.telegram.factory import build_bot
from bots.telegram.handlers.relay import RelayCourier, TelegramCarrier
from bots.telegram.standin import media
from core.relay.commands import RelayPlan, RelayTarget, RouteInbound
from core.relay.model import DeliveryMode, Location, MessageKind, ParticipantRole
from tests.adapters.relay.conftest import ChatWorld, received


@pytest.fixture
async def namespace(redis_url: str) -> AsyncIterator[str]:
    prefix = f"yueban-test-{uuid.uuid4().hex[:8]}:tg:album:"
    yield prefix
    client = Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.mark.redis
async def test_parts_handed_to_two_workers_arrive_as_one_media_group_in_order(
        chat: ChatWorld, redis_url: str, namespace: str) -> None:
    ann = await chat.person("Ann")
    mei = await chat.person("Mei", provider=True, language_code="zh")
    await chat.accepted_order(ann, mei)
    # Two workers: each its own bot session, its own Redis connection, its own courier.
    bots = [build_bot(chat.standin.token, api_base=chat.standin.base_url) for _ in range(2)]
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    couriers = [RelayCourier(chat.runtime.bus, TelegramCarrier(bot),
                             albums=RedisAlbums(client, prefix=namespace))
                for bot, client in zip(bots, clients, strict=True)]
    try:
        files = []
        for index in range(3):  # photos Telegram knows, as an album's parts would be
            sent = await bots[0].send_photo(ann.chat_id, BufferedInputFile(
                media.make_png(700 + index, 500), filename=f"{index}.png"))
            assert sent.photo
            files.append(sent.photo[-1].file_id)
        plans: list[RelayPlan] = [await chat.runtime.bus.handle(RouteInbound(
            sender_user_id=chat.user_id(ann), platform="telegram", chat_id=str(ann.chat_id),
            message_id=str(9000 + index), kind=MessageKind.PHOTO, text=f"part {index}",
            files=(files[index],), media_group_id="album-7", actor_id=chat.user_id(ann),
        )) for index in range(3)]
        before = len(chat.standin.calls("sendMediaGroup"))

        # The second part reaches worker A first, the first part worker B, the last A.
        await couriers[0].deliver(plans[1])
        await couriers[1].deliver(plans[0])
        await couriers[0].deliver(plans[2])
        await asyncio.gather(*(courier.settle() for courier in couriers))

        groups = [c for c in chat.standin.calls("sendMediaGroup")[before:] if c.ok]
        assert len(groups) == 1
        assert str(groups[0].params["chat_id"]) == str(mei.chat_id)
        await received(mei, lambda m: m.get("caption") == "part 2")
        photos = [m for m in mei.bot_messages() if "photo" in m]
        assert [m.get("caption") for m in photos] == ["part 0", "part 1", "part 2"]
        assert len({m["media_group_id"] for m in photos}) == 1
        assert [key async for key in clients[0].scan_iter(namespace + "*")] == []
    finally:
        for bot in bots:
            await bot.session.close()
        for client in clients:
            await client.aclose()


def _plan(message_id: str, media_group_id: str = "g1") -> RelayPlan:
    return RelayPlan(
        relayed_message_id=int(message_id), conversation_id=3, order_id=4,
        order_number="YB0004A", sender_id=5, sender_role=ParticipantRole.CUSTOMER,
        platform="telegram", chat_id="777", message_id=message_id, kind=MessageKind.PHOTO,
        text="见面 at 8", leak_kinds=("phone",), leak_count=1, files=("AgAD",),
        media_group_id=media_group_id, location=Location(31.2, 121.4),
        targets=(
            RelayTarget(user_id=6, role=ParticipantRole.PROVIDER, platform="telegram",
                        chat_id="888", locale="zh", mode=DeliveryMode.COPY,
                        replace_caption=True, reply_to_message_id="12"),
            RelayTarget(user_id=7, role=ParticipantRole.OPERATOR, platform="wechat",
                        chat_id="oAbc", locale="en", mode=DeliveryMode.SEND),
        ),
    )


def test_a_plan_survives_the_trip_through_redis_unchanged() -> None:
    plan = _plan("41")
    assert plan_from_json(plan_to_json(plan).encode()) == plan


@pytest.mark.redis
async def test_a_part_after_the_album_went_starts_a_new_one_and_nothing_stays(
        redis_url: str, namespace: str) -> None:
    client = Redis.from_url(redis_url)
    albums = RedisAlbums(client, prefix=namespace, ttl_seconds=30)
    try:
        assert await albums.add(_plan("1")) is True
        assert await albums.add(_plan("2")) is False
        assert await albums.add(_plan("1", media_group_id="another")) is True
        keys = [key async for key in client.scan_iter(namespace + "*")]
        assert len(keys) == 4  # a claim and a list of parts per album
        assert all([0 < await client.pttl(key) <= 30_000 for key in keys])
        assert [p.message_id for p in await albums.take(_plan("1"))] == ["1", "2"]
        assert await albums.add(_plan("3")) is True  # late: an album of its own
        assert [p.message_id for p in await albums.take(_plan("3"))] == ["3"]
        assert [p.message_id for p in await albums.take(_plan("1", "another"))] == ["1"]
        assert [key async for key in client.scan_iter(namespace + "*")] == []
    finally:
        await client.aclose()
