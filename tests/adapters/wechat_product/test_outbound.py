"""Notices through the running service and the outbox relay: the 48-hour fallback to a
template, a notice that cannot go anywhere reported back to the core (never lost), token
expiry mid-flow, and the whole thing with state shared in Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import fakeredis
import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bots.wechat.standin import WeChatStandIn
from bots.wechat.webhook import DeliveryMode
from core.booking.commands import BookOrder, ListOrders
from core.catalog.commands import GetProvider
from core.notices import Delivery, DeliveryStatus
from core.shared.clock import FixedClock
from storage.tables.infra import outbox
from tests.adapters.wechat_product.conftest import (
    TEMPLATE_ID,
    WeChatWorld,
    make_provider,
    running_world,
    wechat_settings,
)
from tests.adapters.wechat_product.test_booking_flow import NEXT_MONDAY_10_SHANGHAI


async def deliveries_of(world: WeChatWorld, user_id: int) -> list[Delivery]:
    async with world.runtime.uow_factory() as uow:
        return list(await uow.notice_deliveries.of_user(user_id))


async def outbox_names(world: WeChatWorld) -> list[str]:


    async with world.runtime.engine.connect() as connection:
        rows = await connection.execute(sa.select(outbox.c.event_type))
        return [row[0] for row in rows]


async def test_outside_the_window_notices_arrive_as_templates(world: WeChatWorld) -> None:
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    await xiaoyu.follow()
    world.standin.close_window(xiaoyu.openid)  # as if 48 hours had passed since
    provider_id = await make_provider(world, xiaoyu)
    templates = xiaoyu.templates()
    assert templates and all(t.payload["template_id"] == TEMPLATE_ID for t in templates)
    assert any("你的申请" in t.payload["data"]["thing1"]["value"] for t in templates)
    assert all(d.status == DeliveryStatus.SENT for d in await deliveries_of(world, provider_id))
    # Writing again reopens the window: the next notice is a customer-service message.
    await xiaoyu.say("我的")
    assert xiaoyu.last.startswith("[template]") is False


async def test_window_closed_and_no_template_is_reported_to_the_core(
    database_url: str, engine: AsyncEngine, clock: FixedClock, standin: WeChatStandIn,
) -> None:
    settings = wechat_settings(database_url, standin, DeliveryMode.PLAINTEXT,
                               wechat_template_id=None)
    async with running_world(settings, engine, clock, standin, DeliveryMode.PLAINTEXT) as world:
        xiaoyu = world.person("oXiaoyu000000000000000000002")  # never wrote to the account
        provider_id = await make_provider(world, xiaoyu)
        assert xiaoyu.inbox == []
        deliveries = await deliveries_of(world, provider_id)
        assert deliveries and all(d.status == DeliveryStatus.FAILED for d in deliveries)
        assert {d.failure for d in deliveries} == {"window_closed"}
        assert "NoticeUndelivered" in await outbox_names(world)


async def test_an_expired_token_mid_conversation_costs_one_refresh(world: WeChatWorld) -> None:
    ann = world.person("oAnn000000000000000000000001")
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    await ann.follow()
    await xiaoyu.follow()
    provider_id = await make_provider(world, xiaoyu)
    details = await world.runtime.bus.handle(GetProvider(provider_id=provider_id))
    order = await world.runtime.bus.handle(BookOrder(
        actor_id=await ann.user_id(), offer_id=details.offers[0].id, units=1,
        start=NEXT_MONDAY_10_SHANGHAI))
    await world.settle()
    before = world.standin.token_requests
    world.standin.expire_tokens()
    await ann.say(f"付款 {order.number}")
    await ann.choose("微信支付")  # the QR image is uploaded and sent with a fresh token
    assert ann.last == "[image]"
    assert world.standin.token_requests == before + 1


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def shared_redis(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Redis, str]]:
    """A fakeredis, and the real Redis at YUEBAN_TEST_REDIS_URL when it is set; a namespace
    of the test's own, emptied afterwards."""
    if request.param == "fakeredis":
        client: Redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    else:
        client = Redis.from_url(request.getfixturevalue("redis_url"))
    namespace = f"yueban-test-{uuid.uuid4().hex[:8]}"
    yield client, namespace
    keys = [key async for key in client.scan_iter(f"{namespace}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_sessions_windows_dedup_and_tokens_can_live_in_redis(
    database_url: str, engine: AsyncEngine, clock: FixedClock, standin: WeChatStandIn,
    shared_redis: tuple[Redis, str],
) -> None:
    redis, namespace = shared_redis
    settings = wechat_settings(database_url, standin, DeliveryMode.SAFE)
    async with running_world(settings, engine, clock, standin, DeliveryMode.SAFE,
                             redis=redis, redis_namespace=namespace) as world:
        ann = world.person("oAnn000000000000000000000001")
        xiaoyu = world.person("oXiaoyu000000000000000000002")
        await ann.follow()
        await xiaoyu.follow()
        await make_provider(world, xiaoyu)
        await ann.say("浏览")
        await ann.choose("游戏陪玩")
        keys = {key.decode() async for key in redis.scan_iter(f"{namespace}:wechat:*")}
        assert any(":session:" + ann.openid in key for key in keys)
        assert any(key.endswith(":access_token") for key in keys)
        assert any(":window:" in key for key in keys)
        assert any(":dedup:" in key for key in keys)
        # The conversation goes on from the state kept in Redis.
        assert "小雨" in await ann.choose("英雄联盟")
        assert await world.runtime.bus.handle(ListOrders()) == []
