"""Order chats in WeChat: once an order is accepted, what one side writes reaches the other
with a header naming the order, contacts masked; with several chats open the person says
which order a message is for; and a chat crosses to Telegram and back when the two people
use different apps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.http import serve_channels
from bots.telegram.standin import BotApiStandIn, RateLimits
from bots.wechat.standin import WeChatStandIn
from bots.wechat.webhook import DeliveryMode
from core.booking.commands import BookOrder, PayOrder
from core.booking.model import Order
from core.catalog.commands import ApproveApplication, GetProvider, ListCategories, SeedCatalog
from core.identity.commands import RegisterFromChannel
from core.shared.clock import FixedClock
from tests.adapters.wechat_product.conftest import (
    AES_KEY,
    TOKEN,
    Person,
    WeChatWorld,
    make_provider,
    text_of,
    wechat_settings,
)
from tests.integration.catalog.support import application

NEXT_MONDAY_10_SHANGHAI = datetime(2026, 1, 12, 2, 0, tzinfo=UTC)
NEXT_FRIDAY_21_SHANGHAI = datetime(2026, 1, 9, 13, 0, tzinfo=UTC)


async def accepted_order(world: WeChatWorld, customer: Person, provider_id: int,
                         provider: Person, start: datetime) -> Order:
    details = await world.runtime.bus.handle(GetProvider(provider_id=provider_id))
    customer_id = await customer.user_id()
    order = await world.runtime.bus.handle(BookOrder(
        actor_id=customer_id, offer_id=details.offers[0].id, units=1, start=start))
    await world.runtime.bus.handle(PayOrder(actor_id=customer_id, order_id=order.id,
                                            method="sandbox", payment_ref=f"sbx-{order.id}"))
    await world.settle()
    await provider.tap(f"act:order.accept:{order.id}", "接单")
    return order


async def test_an_order_chat_carries_words_both_ways_with_contacts_hidden(
    world: WeChatWorld,
) -> None:
    ann = world.person("oAnn000000000000000000000001")
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    await ann.follow()
    await xiaoyu.follow()
    provider_id = await make_provider(world, xiaoyu)
    await xiaoyu.say("上线")
    # Before an order is accepted there is no chat: the words are not understood.
    assert "没看懂" in await ann.say("你好，在吗")
    order = await accepted_order(world, ann, provider_id, xiaoyu, NEXT_MONDAY_10_SHANGHAI)
    assert ann.received(f"订单 {order.number}：聊天已开启")

    assert await ann.say("我想练习打野，可以吗？") == ""  # nothing back to the sender
    assert xiaoyu.last == f"【{order.number}·顾客】我想练习打野，可以吗？"
    await xiaoyu.say("可以，加我微信 wxid_abc123 或打 13812345678")
    said = ann.last
    assert said.startswith(f"【{order.number}·服务者】可以")
    assert "13812345678" not in said and "wxid_abc123" not in said and "[已隐藏]" in said
    assert xiaoyu.received("违反了平台规则")  # sharing contacts earns a strike


async def test_with_two_chats_open_the_person_picks_the_order_and_the_message_follows(
    world: WeChatWorld,
) -> None:
    ann = world.person("oAnn000000000000000000000001")
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    await ann.follow()
    await xiaoyu.follow()
    provider_id = await make_provider(world, xiaoyu)
    await xiaoyu.say("上线")
    first = await accepted_order(world, ann, provider_id, xiaoyu, NEXT_MONDAY_10_SHANGHAI)
    second = await accepted_order(world, ann, provider_id, xiaoyu, NEXT_FRIDAY_21_SHANGHAI)
    asked = await ann.say("到时候见")
    assert "这条消息发给哪个订单的对方" in asked
    assert first.number in asked and second.number in asked
    await ann.choose(second.number)
    assert xiaoyu.last == f"【{second.number}·顾客】到时候见"
    # The choice stays: the next message goes to the same order without asking.
    await ann.say("谢谢")
    assert xiaoyu.last == f"【{second.number}·顾客】谢谢"
    listing = await ann.say("聊天")
    assert f"{second.number} ✓" in listing and first.number in listing


async def _until(condition: Callable[[], bool], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    for _ in range(100_000):
        if condition():
            return
        if loop.time() > deadline:
            raise TimeoutError("the expected message did not arrive")
        await asyncio.sleep(0.02)


async def test_an_order_chat_crosses_between_telegram_and_wechat(
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
        provider_openid = "oCross00000000000000000000001"
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
            await driver.deliver(driver.subscribe(provider_openid))
            provider_id = await _provider(runtime, provider_openid)
            async with runtime.uow_factory() as uow:
                customer = await uow.users.get_by_channel("telegram", str(ann.id))
            assert customer is not None
            details = await runtime.bus.handle(GetProvider(provider_id=provider_id))
            order = await runtime.bus.handle(BookOrder(
                actor_id=customer.id, offer_id=details.offers[0].id, units=1,
                start=NEXT_MONDAY_10_SHANGHAI))
            await runtime.bus.handle(PayOrder(actor_id=customer.id, order_id=order.id,
                                              method="sandbox", payment_ref="sbx-cross"))

            def wechat_texts() -> list[str]:
                return [text_of(m) for m in wx.messages_to(provider_openid)]

            # The provider hears of the order (a template by now: the minute after following
            # allows three messages) before answering it, as a person would.
            await _until(lambda: any(order.number in t for t in wechat_texts()))
            accept = await driver.deliver(driver.text(
                provider_openid, "接单", bizmsgmenuid=f"act:order.accept:{order.id}"))
            assert accept.reply is not None and "已接单" in accept.reply["Content"]

            await ann.send_text("Hi, I am on the EU server tonight")
            await _until(lambda: f"【{order.number}·顾客】Hi, I am on the EU server tonight"
                         in wechat_texts())
            await driver.deliver(driver.text(provider_openid, "好的，晚上见，QQ 123456789"))

            def relayed_to_ann() -> list[str]:
                return [m.get("text", "") for m in ann.bot_messages()
                        if "好的，晚上见" in m.get("text", "")]

            await _until(lambda: bool(relayed_to_ann()))
            [relayed] = relayed_to_ann()
            assert "123456789" not in relayed
        finally:
            stop.set()
            await task
            await driver.close()


async def _provider(runtime: Runtime, openid: str) -> int:
    bus = runtime.bus
    await bus.handle(SeedCatalog())
    categories = {c.slug: c for c in await bus.handle(ListCategories())}
    user = await bus.handle(RegisterFromChannel(platform="wechat", external_id=openid,
                                                chat_id=openid))
    submitted = await bus.handle(application(user.id, categories["league-of-legends"]))
    await bus.handle(ApproveApplication(application_id=submitted.id))
    return int(user.id)
