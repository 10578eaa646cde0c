"""A booking made and paid entirely from WeChat: a customer browses, books a provider's slot and
pays with WeChat Pay (the stand-in's unified order and notify); the provider, on WeChat too,
accepts, starts and finishes; the customer confirms. Every step is asserted on what each
person actually received, in each of WeChat's three delivery modes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bots.i18n import gettext
from bots.wechat.webhook import DeliveryMode
from core.booking.commands import ListOrders
from core.booking.model import Order
from core.booking.states import OrderState
from core.wallet import api as wallet
from core.wallet.commands import VerifyLedger
from tests.adapters.wechat_product.conftest import WeChatWorld, make_provider

# FixedClock starts Monday 2026-01-05 09:00 UTC (17:00 in Shanghai); the provider works
# Mondays 09:00-18:00 Shanghai time, so next Monday 10:00 there is 02:00 UTC.
NEXT_MONDAY_10_SHANGHAI = datetime(2026, 1, 12, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("mode", list(DeliveryMode), indirect=True)
async def test_a_booking_is_made_paid_served_and_confirmed_entirely_in_wechat(
    world: WeChatWorld,
) -> None:
    ann = world.person("oCustomerAnn0000000000000001")
    xiaoyu = world.person("oProviderXiaoyu00000000000002")
    assert "欢迎关注约伴" in await xiaoyu.follow()
    provider_id = await make_provider(world, xiaoyu)
    # Approval is announced on WeChat; the provider taps "go online" under it.
    approval = gettext("catalog.notice.application_approved", "zh", application_id=1)
    assert xiaoyu.received(approval.split("\n")[0][:8])
    assert "在线" in await xiaoyu.tap(f"act:provider.go_online:{provider_id}", "上线接单")

    # The customer follows the account and browses from the menu.
    assert "欢迎关注约伴" in await ann.follow()
    categories = await ann.click("BROWSE")
    assert "想约什么服务" in categories and "游戏陪玩" in categories
    assert "英雄联盟" in await ann.choose("游戏陪玩")
    providers = await ann.choose("英雄联盟")
    assert "小雨" in providers and "¥60.00" in providers
    card = await ann.choose("小雨")
    assert "选择要预约的服务" in card and "英雄联盟 ¥60.00/小时" in card
    assert "要约多少小时" in await ann.choose("英雄联盟")
    days = await ann.choose("2 小时")
    assert "1月12日 周一" in days
    slots = await ann.choose("1月12日")
    assert "10:00-12:00" in slots
    summary = await ann.choose("10:00-12:00")
    assert "服务者：小雨" in summary and "合计：¥120.00" in summary
    assert "2026-01-12 10:00" in summary

    # Placing the order offers the ways to pay; WeChat Pay sends a QR code image.
    placed = await ann.choose("确认下单")
    assert "已生成，需支付 ¥120.00" in placed and "微信支付" in placed
    [order] = await _orders(world)
    assert order.state is OrderState.AWAITING_PAYMENT and order.customer_id == await ann.user_id()
    paying = await ann.choose("微信支付")
    assert f"订单 {order.number} 需支付 ¥120.00" in paying
    assert ann.last == "[image]"
    [trade] = world.standin.orders.values()
    assert trade.total_fee == 12000 and trade.trade_type == "NATIVE"
    image = [m for m in world.standin.messages_to(ann.openid) if m.msgtype == "image"][-1]
    media = world.standin.media[image.payload["image"]["media_id"]]
    assert media.content.startswith(b"\x89PNG")

    # The customer pays in WeChat; WeChat Pay notifies us; the money is held for the order.
    report = await world.standin.pay(trade.out_trade_no)
    assert report.acknowledged and len(report.attempts) == 1
    await world.settle()
    async with world.runtime.uow_factory() as uow:
        assert await wallet.order_held(uow, order.id) is not None
        assert (await uow.orders.get(order.id)).state is OrderState.PENDING_ACCEPTANCE
    assert ann.received("已收到付款：120.00 CNY")
    assert ann.received(f"已付款。订单 {order.number} 等待服务者")

    # The provider is asked on WeChat (tappable, numbered choices) and accepts by replying 1.
    request = xiaoyu.last
    assert f"新订单 {order.number}" in request and "[1. 接单]" in request and "[2. 拒绝]" in request
    accepted = await xiaoyu.say("1")
    assert f"已接单 {order.number}" in accepted
    assert xiaoyu.received(f"订单 {order.number} 已接，时间 2026-01-12 10:00")
    assert ann.received(f"订单 {order.number} 已被接单")

    # The customer checks their orders (writing to the account also renews their window).
    listing = await ann.say("订单")
    assert order.number in listing and "已接单" in listing

    # At the time, the provider starts and later finishes.
    world.clock.set(NEXT_MONDAY_10_SHANGHAI)
    assert f"订单 {order.number} 已开始服务" in await xiaoyu.tap(f"act:order.start:{order.id}", "开始")
    assert ann.received(gettext("notice.order.started", "zh", number=order.number,
                                at="2026-01-12 10:00"))
    assert f"订单 {order.number} 已标记完成" in await xiaoyu.say(f"完成 {order.number}")
    [delivered] = [text for text in ann.inbox if f"订单 {order.number} 已完成服务" in text]
    assert "确认完成]" in delivered and "申请售后]" in delivered

    # The customer confirms with a tap on the notice's choice.
    confirmed = await ann.tap(f"act:order.confirm:{order.id}", "确认完成")
    assert f"已确认订单 {order.number} 完成" in confirmed
    assert xiaoyu.received(gettext("notice.order.completed", "zh", number=order.number))
    async with world.runtime.uow_factory() as uow:
        done = await uow.orders.get(order.id)
    assert done.state is OrderState.COMPLETED and done.provider_id == provider_id
    await world.runtime.bus.handle(VerifyLedger())
    # Nobody was sent anything twice and no message hit a closed window.
    assert world.service.product.sent_failures == 0
    # Every push went in this mode, and answers came back as passive replies in it (those
    # ready within the webhook's budget; later ones arrive as customer-service messages).
    pushes = [d for person in (ann, xiaoyu) for d in person.deliveries]
    assert all(d.mode is world.mode and d.acknowledged for d in pushes)
    assert any(d.reply for d in pushes)


async def _orders(world: WeChatWorld) -> list[Order]:
    return list(await world.runtime.bus.handle(ListOrders()))
