"""Nothing is dropped when WeChat's window is closed: over the WeChat stand-in (encrypted,
signed pushes) and, for the Telegram side, the Bot API stand-in.

A relayed message WeChat refuses (45015 outside the 48-hour window) waits; the WeChat
person gets one template saying messages wait, the sender hears they are kept; the
person's next message (or tap) delivers them in order; a repeated push, or two pushes at
once, sends nothing twice; a send that fails leaves them waiting for the next chance.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import fakeredis
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.http import serve_channels
from app.wechat import build_wechat
from bots.telegram.standin import BotApiStandIn, RateLimits
from bots.wechat.standin import SentMessage, WeChatStandIn
from bots.wechat.webhook import DeliveryMode
from bots.wechat.windows import (
    InMemoryServiceWindows,
    Interaction,
    RedisServiceWindows,
    ReopeningWindows,
    WindowStatus,
)
from core.booking.commands import BookOrder, PayOrder
from core.booking.model import Order
from core.catalog.commands import ApproveApplication, GetProvider, ListCategories, SeedCatalog
from core.identity.commands import RegisterFromChannel
from core.relay.commands import GetTranscript
from core.relay.pending import ListPendingRelays, PendingRelay, PendingStatus
from core.shared.clock import FixedClock
from tests.adapters.wechat_product.conftest import (
    AES_KEY,
    TOKEN,
    Person,
    WeChatWorld,
    make_provider,
    running_world,
    text_of,
    wechat_settings,
)
from tests.integration.catalog.support import application

NEXT_MONDAY_10_SHANGHAI = datetime(2026, 1, 12, 2, 0, tzinfo=UTC)


@pytest.fixture
async def standin() -> AsyncIterator[WeChatStandIn]:
    async with WeChatStandIn() as server:
        yield server


@pytest.fixture
async def world(database_url: str, engine: AsyncEngine, clock: FixedClock,
                standin: WeChatStandIn) -> AsyncIterator[WeChatWorld]:
    settings = wechat_settings(database_url, standin, DeliveryMode.SAFE)
    async with running_world(settings, engine, clock, standin, DeliveryMode.SAFE) as running:
        yield running


def relayed(standin: WeChatStandIn, openid: str, order: Order) -> list[str]:
    """The order-chat messages `openid` received, in order (not notices or templates)."""
    return [text_of(m) for m in standin.messages_to(openid)
            if m.kind == "custom" and text_of(m).startswith(f"【{order.number}")]


def templates(standin: WeChatStandIn, openid: str) -> list[SentMessage]:
    return [m for m in standin.messages_to(openid) if m.kind == "template"]


async def waiting(runtime: Runtime, order: Order) -> list[PendingRelay]:
    return list(await runtime.bus.handle(ListPendingRelays(order_id=order.id)))


async def order_between(world: WeChatWorld, customer: Person, provider: Person) -> Order:
    provider_id = await make_provider(world, provider)
    await provider.say("上线")
    details = await world.runtime.bus.handle(GetProvider(provider_id=provider_id))
    customer_id = await customer.user_id()
    order: Order = await world.runtime.bus.handle(BookOrder(
        actor_id=customer_id, offer_id=details.offers[0].id, units=1,
        start=NEXT_MONDAY_10_SHANGHAI))
    await world.runtime.bus.handle(PayOrder(actor_id=customer_id, order_id=order.id,
                                            method="sandbox", payment_ref=f"sbx-{order.id}"))
    await world.settle()
    await provider.tap(f"act:order.accept:{order.id}", "接单")
    return order


async def test_messages_wait_for_a_closed_window_and_arrive_in_order_once(
    world: WeChatWorld,
) -> None:
    ann = world.person("oAnnQueue0000000000000000001")
    xiaoyu = world.person("oXiaoyuQueue000000000000002")
    await ann.follow()
    await xiaoyu.follow()
    order = await order_between(world, ann, xiaoyu)
    templates_before = len(templates(world.standin, xiaoyu.openid))
    world.standin.close_window(xiaoyu.openid)  # 48 hours pass since Xiaoyu last wrote

    await ann.say("明天下午两点可以吗？")
    assert ann.received("对方暂时不在微信上，你的消息已保留")
    await ann.say("我的电话是 13812345678")
    await ann.say("到了告诉我")
    assert sum("你的消息已保留" in text for text in ann.inbox) == 1  # told once, not per message
    assert relayed(world.standin, xiaoyu.openid, order) == []
    [notice] = templates(world.standin, xiaoyu.openid)[templates_before:]  # one for the three
    fields = {k: v["value"] for k, v in notice.payload["data"].items()}
    assert fields["thing1"] == "你有 1 条新消息待查看"
    assert fields["character_string2"] == order.number
    assert [i.status for i in await waiting(world.runtime, order)] == [PendingStatus.QUEUED] * 3

    # A send that fails (WeChat busy) when Xiaoyu is back keeps every message waiting.
    world.standin.fail_sends(xiaoyu.openid)
    await xiaoyu.say("在吗")
    assert relayed(world.standin, xiaoyu.openid, order) == []
    assert [i.status for i in await waiting(world.runtime, order)] == [PendingStatus.QUEUED] * 3
    assert ann.last == f"【{order.number}·服务者】在吗"  # Xiaoyu's own words still go through

    # The next message lets them through, in the order Ann wrote them, contacts hidden.
    reply = world.driver.text(xiaoyu.openid, "刚才没收到")
    await xiaoyu._push(reply)
    said = relayed(world.standin, xiaoyu.openid, order)
    assert said == [f"【{order.number}·顾客】明天下午两点可以吗？",
                    f"【{order.number}·顾客】我的电话是 [已隐藏]",
                    f"【{order.number}·顾客】到了告诉我"]
    assert [i.status for i in await waiting(world.runtime, order)] == [PendingStatus.DELIVERED] * 3
    transcript = await world.runtime.bus.handle(GetTranscript(order_id=order.id))
    xiaoyu_id = await xiaoyu.user_id()
    assert [e.delivered_to for e in transcript.entries[:3]] == [(xiaoyu_id,)] * 3

    # WeChat repeating the same push, or two pushes at once, sends nothing again.
    repeat = await world.driver.deliver(reply, mode=world.mode)
    assert repeat.acknowledged
    await asyncio.gather(world.driver.deliver(world.driver.text(xiaoyu.openid, "好"),
                                              mode=world.mode),
                         world.driver.deliver(world.driver.text(xiaoyu.openid, "的"),
                                              mode=world.mode))
    await world.settle()
    assert relayed(world.standin, xiaoyu.openid, order) == said
    assert len(templates(world.standin, xiaoyu.openid)) == templates_before + 1


async def test_pushes_racing_for_one_queue_send_each_message_once(
    world: WeChatWorld,
) -> None:
    ann = world.person("oAnnRace00000000000000000001")
    xiaoyu = world.person("oXiaoyuRace0000000000000002")
    await ann.follow()
    await xiaoyu.follow()
    order = await order_between(world, ann, xiaoyu)
    world.standin.close_window(xiaoyu.openid)
    for text in ("一", "二", "三"):
        await ann.say(text)
    assert len(await waiting(world.runtime, order)) == 3
    # Xiaoyu taps the menu and writes twice at once: three pushes, each recording the
    # interaction and then flushing the queue; one delivery. (A flush started before the
    # bot has recorded any interaction finds the window shut, and while it holds the
    # queue the others find nothing to send: that is not this race.)
    await asyncio.gather(
        world.driver.deliver(world.driver.text(xiaoyu.openid, "来了"), mode=world.mode),
        world.driver.deliver(world.driver.click(xiaoyu.openid, "ORDERS_PROVIDER"), mode=world.mode),
        world.driver.deliver(world.driver.text(xiaoyu.openid, "在"), mode=world.mode),
    )
    await world.settle()
    assert relayed(world.standin, xiaoyu.openid, order) == [
        f"【{order.number}·顾客】一", f"【{order.number}·顾客】二", f"【{order.number}·顾客】三"]


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def shared_redis(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Redis, str]]:
    """A fakeredis, and the real Redis at YUEBAN_TEST_REDIS_URL when it is set, under a
    namespace of the test's own (emptied afterwards)."""
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


async def test_two_workers_sharing_redis_deliver_one_queue_once(
    database_url: str, engine: AsyncEngine, clock: FixedClock, standin: WeChatStandIn,
    shared_redis: tuple[Redis, str],
) -> None:
    redis, namespace = shared_redis
    settings = wechat_settings(database_url, standin, DeliveryMode.SAFE)
    async with running_world(settings, engine, clock, standin, DeliveryMode.SAFE,
                             redis=redis, redis_namespace=namespace) as world:
        ann = world.person("oAnnShared000000000000000001")
        xiaoyu = world.person("oXiaoyuShared00000000000002")
        await ann.follow()
        await xiaoyu.follow()
        order = await order_between(world, ann, xiaoyu)
        world.standin.close_window(xiaoyu.openid)
        for text in ("一", "二"):
            await ann.say(text)
        assert len(await waiting(world.runtime, order)) == 2
        # A second worker: its own process state, the same database and Redis.
        other = build_wechat(settings, bootstrap(settings, clock=clock, engine=engine),
                             redis=redis, redis_namespace=namespace)
        try:
            # Xiaoyu wrote: WeChat and the shared window record both know it.
            world.standin.open_window(xiaoyu.openid)
            shared = RedisServiceWindows(redis, world.standin.app_id,
                                         prefix=f"{namespace}:wechat")
            await shared.record(xiaoyu.openid, Interaction.MESSAGE, time.time())
            sent = await asyncio.gather(
                world.service.relay_queue.flush(xiaoyu.openid),  # type: ignore[union-attr]
                other.relay_queue.flush(xiaoyu.openid))  # type: ignore[union-attr]
        finally:
            other.close()
        assert sorted(sent) == [0, 2]
        assert relayed(world.standin, xiaoyu.openid, order) == [
            f"【{order.number}·顾客】一", f"【{order.number}·顾客】二"]


# -- across platforms: Telegram writes, WeChat is away ------------------------------------


async def _until(condition: Callable[[], bool], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the expected message did not arrive")
        await asyncio.sleep(0.02)


async def _until_all_delivered(queued: Callable[[], Awaitable[list[Any]]]) -> None:
    for _ in range(1500):
        if {i.status for i in await queued()} == {PendingStatus.DELIVERED}:
            return
        await asyncio.sleep(0.02)


async def _provider(runtime: Runtime, openid: str) -> int:
    bus = runtime.bus
    await bus.handle(SeedCatalog())
    categories = {c.slug: c for c in await bus.handle(ListCategories())}
    user = await bus.handle(RegisterFromChannel(platform="wechat", external_id=openid,
                                                chat_id=openid))
    submitted = await bus.handle(application(user.id, categories["league-of-legends"]))
    await bus.handle(ApproveApplication(application_id=submitted.id))
    return int(user.id)


async def test_telegram_messages_wait_for_a_wechat_provider_and_follow_their_next_message(
    database_url: str, engine: AsyncEngine, clock: FixedClock,
) -> None:
    async with WeChatStandIn() as wx, BotApiStandIn.running(rate_limits=RateLimits.off()) as tg:
        settings = wechat_settings(database_url, wx, DeliveryMode.SAFE,
                                   telegram_token=tg.token, telegram_api_base=tg.base_url)
        runtime = bootstrap(settings, clock=clock, engine=engine)
        stop = asyncio.Event()
        task = asyncio.create_task(serve_channels(settings, runtime, stop))
        url = f"http://127.0.0.1:{settings.http_port}"
        driver = wx.driver(url + "/wechat", token=TOKEN, encoding_aes_key=AES_KEY)
        openid = "oQueueCross0000000000000001"
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(500):
                    if task.done():
                        task.result()
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(url + "/healthz") as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.01)
            ann = tg.create_user("Ann", language_code="en")
            await ann.start()
            await ann.next_message(within=30)
            await driver.deliver(driver.subscribe(openid))
            provider_id = await _provider(runtime, openid)
            async with runtime.uow_factory() as uow:
                customer = await uow.users.get_by_channel("telegram", str(ann.id))
            assert customer is not None
            details = await runtime.bus.handle(GetProvider(provider_id=provider_id))
            order = await runtime.bus.handle(BookOrder(
                actor_id=customer.id, offer_id=details.offers[0].id, units=1,
                start=NEXT_MONDAY_10_SHANGHAI))
            await runtime.bus.handle(PayOrder(actor_id=customer.id, order_id=order.id,
                                              method="sandbox", payment_ref="sbx-queue"))

            def wechat_texts() -> list[str]:
                return [text_of(m) for m in wx.messages_to(openid)]

            await _until(lambda: any(order.number in t for t in wechat_texts()))
            accept = await driver.deliver(driver.text(
                openid, "接单", bizmsgmenuid=f"act:order.accept:{order.id}"))
            assert accept.reply is not None and "已接单" in accept.reply["Content"]
            await _until(lambda: any("chat is open" in m.get("text", "")
                                     for m in ann.bot_messages()))
            templates_before = len(templates(wx, openid))
            wx.close_window(openid)  # the provider went quiet for two days

            sent = [await ann.send_text(text)
                    for text in ("Are you there?", "I will be 10 minutes late", "Server EU-West")]

            def ann_heard() -> list[str]:
                return [m.get("text", "") for m in ann.bot_messages()
                        if "away from WeChat" in m.get("text", "")]

            await _until(lambda: bool(ann_heard()))
            await _until(lambda: len(templates(wx, openid)) > templates_before)

            async def queued() -> list[PendingRelay]:
                return list(await runtime.bus.handle(ListPendingRelays(order_id=order.id)))

            for _ in range(1500):
                if len(await queued()) == 3:
                    break
                await asyncio.sleep(0.02)
            assert [i.status for i in await queued()] == [PendingStatus.QUEUED] * 3
            assert relayed(wx, openid, order) == []
            # Ann corrects herself while it waits: the provider reads what she meant.
            await ann.edit_message(sent[1], "I will be 15 minutes late")

            async def entries() -> int:
                found = await runtime.bus.handle(GetTranscript(order_id=order.id))
                return len(found.entries)

            for _ in range(1500):
                if await entries() == 4:
                    break
                await asyncio.sleep(0.02)

            await driver.deliver(driver.text(openid, "刚看到"))
            expected = [f"【{order.number}·顾客】Are you there?",
                        f"【{order.number}·顾客】I will be 15 minutes late",
                        f"【{order.number}·顾客】Server EU-West"]
            await _until(lambda: relayed(wx, openid, order) == expected)
            await _until(lambda: any("刚看到" in m.get("text", "") for m in ann.bot_messages()))
            assert len(ann_heard()) == 1
            assert len(templates(wx, openid)) == templates_before + 1
            # The last one is marked once WeChat has answered its send.
            await _until_all_delivered(queued)
            assert [i.status for i in await queued()] == [PendingStatus.DELIVERED] * 3

            # Away again, an edit of a message already delivered waits the same way.
            wx.close_window(openid)
            await ann.edit_message(sent[2], "Server EU-North")
            for _ in range(1500):
                if len(await queued()) == 4:
                    break
                await asyncio.sleep(0.02)
            assert (await queued())[-1].status is PendingStatus.QUEUED
            await _until(lambda: len(ann_heard()) == 2)
            await driver.deliver(driver.text(openid, "好的"))
            await _until(lambda: any("Server EU-North" in t for t in wechat_texts()))
            [edited] = [t for t in wechat_texts() if "Server EU-North" in t]
            assert edited == f"【{order.number}】（已编辑） Server EU-North"
            await _until_all_delivered(queued)
            assert [i.status for i in await queued()] == [PendingStatus.DELIVERED] * 4
        finally:
            stop.set()
            await task
            await driver.close()


async def test_a_failing_delivery_of_the_queue_never_stops_the_interaction_being_recorded(
) -> None:
    seen: list[str] = []

    async def broken(openid: str) -> None:
        seen.append(openid)
        raise RuntimeError("database away")

    windows = ReopeningWindows(InMemoryServiceWindows(), broken)
    await windows.record("oUser1", Interaction.MESSAGE, time.time())
    assert seen == ["oUser1"]
    assert await windows.status("oUser1") is WindowStatus.OPEN
    assert await windows.reserve("oUser1") is WindowStatus.OPEN
    await windows.mark("oUser1", WindowStatus.EXHAUSTED)
    assert await windows.status("oUser1") is WindowStatus.EXHAUSTED
    assert await windows.last_interaction("oUser1") is not None
