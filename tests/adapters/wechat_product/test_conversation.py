"""Talking to the official account: the menu, numbers, words, refusals that change nothing,
retries and duplicates with one effect, providers' and operators' decisions, linking with
Telegram, languages, on-site check-in, and what a forged payment notify does (nothing)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bots.i18n import gettext
from bots.wechat.menus import build_menu
from bots.wechat.standin import Forgery, WeChatStandIn
from bots.wechat.webhook import DeliveryMode
from core.booking.commands import BookOrder, ListOrders, PayOrder
from core.booking.model import Order, Place
from core.booking.states import OrderState
from core.catalog.commands import ApproveApplication, GetProvider
from core.catalog.model import GeoPoint
from core.catalog.onboarding import DocumentKind
from core.identity.commands import GrantRole, IssueLinkCode, RegisterFromChannel
from core.shared.clock import FixedClock
from core.shared.money import Money
from core.wallet.commands import ConfirmPayment, StartPayment
from tests.adapters.wechat_product.conftest import (
    Person,
    WeChatWorld,
    make_provider,
    running_world,
    wechat_settings,
)
from tests.integration.catalog.support import application, seeded

NEXT_MONDAY_10_SHANGHAI = datetime(2026, 1, 12, 2, 0, tzinfo=UTC)


async def orders_of(world: WeChatWorld) -> list[Order]:
    return list(await world.runtime.bus.handle(ListOrders()))


async def booked_and_paid(world: WeChatWorld, customer: Person, provider: Person) -> Order:
    """A customer who follows the account, with an order paid from the sandbox for `provider`."""
    await customer.follow()
    await provider.follow()
    provider_id = await make_provider(world, provider)
    await provider.say("上线")  # writing to the account opens the provider's 48-hour window
    details = await world.runtime.bus.handle(GetProvider(provider_id=provider_id))
    customer_id = await customer.user_id()
    order = await world.runtime.bus.handle(BookOrder(
        actor_id=customer_id, offer_id=details.offers[0].id, units=1,
        start=NEXT_MONDAY_10_SHANGHAI))
    await world.runtime.bus.handle(PayOrder(actor_id=customer_id, order_id=order.id,
                                            method="sandbox", payment_ref=f"sbx-{order.id}"))
    await world.settle()
    return order


async def test_the_menu_is_installed_and_its_buttons_open_the_screens(world: WeChatWorld) -> None:
    async with asyncio.timeout(5):  # installed right after the server starts
        await world.service.menu_done.wait()
    assert world.standin.menu == {"button": build_menu()["button"]}
    ann = world.person("oAnn000000000000000000000001")
    await ann.follow()
    assert "还没有订单" in await ann.click("ORDERS")
    assert "我的钱包" in await ann.click("WALLET")
    assert "用户号" in await ann.click("ME")
    assert "回复这些词就能操作" in await ann.click("HELP")
    assert "选择语言" in await ann.click("LANGUAGE")


async def test_numbers_and_words_that_mean_nothing_get_a_clear_answer_and_change_nothing(
    world: WeChatWorld,
) -> None:
    ann = world.person("oAnn000000000000000000000001")
    await ann.follow()
    assert "现在没有可选的编号" in await ann.say("3")
    await seeded(world.runtime)
    await ann.say("浏览")
    count = len([line for line in ann.last.splitlines() if ". " in line])
    assert f"请回复 1 到 {count} 之间的数字" in await ann.say("99")
    assert "没看懂" in await ann.say("随便说点什么")
    assert "没有找到这个订单" in await ann.say("接单 YB0ZZZZ")
    assert "请带上订单号" in await ann.say("接单 12")
    assert "绑定码无效" in await ann.say("绑定 NOTACODE")
    assert await orders_of(world) == []


async def test_a_retried_push_has_one_effect_and_one_answer(
    database_url: str, engine: AsyncEngine, clock: FixedClock, standin: WeChatStandIn,
) -> None:
    settings = wechat_settings(database_url, standin, DeliveryMode.SAFE)
    # WeChat gives up on an answer after 5 s and posts again; here after 0.3 s.
    async with running_world(settings, engine, clock, standin, DeliveryMode.SAFE,
                             driver_options={"timeout_seconds": 0.3}) as world:
        ann = world.person("oAnn000000000000000000000001")
        await ann.follow()
        await seeded(world.runtime)
        product = world.service.product
        answer = product.answer

        async def slow(inbound):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.9)  # longer than the passive-reply budget and the timeout
            return await answer(inbound)

        product.answer = slow  # type: ignore[method-assign]
        delivery = await ann._push(world.driver.text(ann.openid, "浏览"))
        assert len(delivery.attempts) >= 2
        assert delivery.attempts[0].status is None  # the first try timed out
        assert world.service.webhook.stats.duplicates >= 1
        # One answer, sent as a customer-service message because it came late.
        replies = [m for m in world.standin.messages_to(ann.openid) if m.msgtype == "text"]
        assert len(replies) == 1 and "想约什么服务" in replies[0].payload["text"]["content"]


async def test_the_same_push_delivered_twice_is_handled_once(world: WeChatWorld) -> None:
    ann = world.person("oAnn000000000000000000000001")
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    order = await booked_and_paid(world, ann, xiaoyu)
    tap = world.driver.text(xiaoyu.openid, "接单", bizmsgmenuid=f"act:order.accept:{order.id}")
    first, second = await asyncio.gather(world.driver.deliver(tap, mode=world.mode),
                                         world.driver.deliver(tap, mode=world.mode))
    await world.settle()
    assert first.acknowledged and second.acknowledged
    answers = [d.reply for d in (first, second) if d.reply]
    assert len(answers) == 1 and "已接单" in answers[0]["Content"]
    [accepted] = await orders_of(world)
    assert accepted.state is OrderState.ACCEPTED


async def test_a_provider_rejects_with_a_reason_the_customer_reads(world: WeChatWorld) -> None:
    ann = world.person("oAnn000000000000000000000001")
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    order = await booked_and_paid(world, ann, xiaoyu)
    assert f"新订单 {order.number}" in xiaoyu.last
    asked = await xiaoyu.choose("拒绝")
    assert f"请回复拒绝订单 {order.number} 的原因" in asked
    assert f"已拒绝订单 {order.number}" in await xiaoyu.say("那天要出差")
    assert ann.received("那天要出差")
    [rejected] = await orders_of(world)
    assert rejected.state is OrderState.REJECTED


async def test_leaving_a_reason_prompt_rejects_nothing(world: WeChatWorld) -> None:
    ann = world.person("oAnn000000000000000000000001")
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    order = await booked_and_paid(world, ann, xiaoyu)
    await xiaoyu.tap(f"act:order.reject:{order.id}", "拒绝")
    assert "已退出" in await xiaoyu.say("退出")
    [pending] = await orders_of(world)
    assert pending.state is OrderState.PENDING_ACCEPTANCE


async def test_cancelling_shows_the_fee_first_and_cancels_only_when_confirmed(
    world: WeChatWorld,
) -> None:
    ann = world.person("oAnn000000000000000000000001")
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    order = await booked_and_paid(world, ann, xiaoyu)
    await xiaoyu.say(f"接单 {order.number}")
    # Two hours before the start: late enough for a fee.
    world.clock.set(NEXT_MONDAY_10_SHANGHAI - timedelta(hours=2))
    preview = await ann.say(f"取消 {order.number}")
    assert "取消费" in preview and "确定取消吗" in preview
    [still] = await orders_of(world)
    assert still.state is OrderState.ACCEPTED
    assert "不取消" in preview
    done = await ann.choose("确认取消")
    assert f"订单 {order.number} 已取消" in done
    [cancelled] = await orders_of(world)
    assert cancelled.state is OrderState.CANCELLED
    assert cancelled.fee is not None and cancelled.fee.is_positive()
    assert f"¥{cancelled.refund.amount / 100:.2f}" in done  # type: ignore[union-attr]


async def test_paying_from_an_empty_wallet_is_refused_and_the_order_still_waits(
    world: WeChatWorld,
) -> None:
    ann = world.person("oAnn000000000000000000000001")
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    await ann.follow()
    provider_id = await make_provider(world, xiaoyu)
    details = await world.runtime.bus.handle(GetProvider(provider_id=provider_id))
    order = await world.runtime.bus.handle(BookOrder(
        actor_id=await ann.user_id(), offer_id=details.offers[0].id, units=1,
        start=NEXT_MONDAY_10_SHANGHAI))
    options = await ann.say(f"付款 {order.number}")
    assert "余额支付（可用 ¥0.00）" in options and "测试支付" in options
    refused = await ann.choose("余额支付")
    assert refused == gettext("error.wallet.insufficient_balance", "zh") or "余额" in refused
    [waiting] = await orders_of(world)
    assert waiting.state is OrderState.AWAITING_PAYMENT
    # The demo's labelled test gateway pays it.
    paid = await ann.choose("测试支付")
    assert "【测试】" in paid
    [paid_order] = await orders_of(world)
    assert paid_order.state is OrderState.PENDING_ACCEPTANCE


async def test_a_forged_or_short_payment_notify_credits_nothing(world: WeChatWorld) -> None:
    ann = world.person("oAnn000000000000000000000001")
    xiaoyu = world.person("oXiaoyu000000000000000000002")
    await ann.follow()
    provider_id = await make_provider(world, xiaoyu)
    details = await world.runtime.bus.handle(GetProvider(provider_id=provider_id))
    order = await world.runtime.bus.handle(BookOrder(
        actor_id=await ann.user_id(), offer_id=details.offers[0].id, units=1,
        start=NEXT_MONDAY_10_SHANGHAI))
    await ann.say(f"付款 {order.number}")
    await ann.choose("微信支付")
    [trade] = world.standin.orders.values()
    for forgery in (Forgery.WRONG_KEY, Forgery.TAMPERED_AMOUNT):
        report = await world.standin.pay(trade.out_trade_no, forgery=forgery)
        assert not report.acknowledged
    await world.settle()
    [unpaid] = await orders_of(world)
    assert unpaid.state is OrderState.AWAITING_PAYMENT
    assert not xiaoyu.received(order.number)
    # The real notify, repeated by WeChat, holds the money once.
    assert (await world.standin.pay(trade.out_trade_no)).acknowledged
    assert (await world.standin.pay(trade.out_trade_no)).acknowledged
    await world.settle()
    [paid] = await orders_of(world)
    assert paid.state is OrderState.PENDING_ACCEPTANCE and paid.payments == 1
    assert len([t for t in xiaoyu.inbox if f"新订单 {order.number}" in t]) == 1


async def test_an_on_site_provider_checks_in_with_a_location(world: WeChatWorld) -> None:
    ann = world.person("oAnn000000000000000000000001")
    li = world.person("oLi00000000000000000000000002")
    await ann.follow()
    await li.follow()
    categories = await seeded(world.runtime)
    bus = world.runtime.bus
    user = await bus.handle(RegisterFromChannel(platform="wechat", external_id=li.openid,
                                                chat_id=li.openid))
    place = GeoPoint(31.2304, 121.4737)
    submitted = application(user.id, categories["home-cleaning"], price=8000, location=place,
                            radius_km=10, rules=("mon 09:00-18:00",),
                            documents=(DocumentKind.ID_PHOTO, DocumentKind.CERTIFICATE))
    app_ = await bus.handle(submitted)
    await bus.handle(ApproveApplication(application_id=app_.id))
    world.service.product.actors.forget(li.openid)
    details = await bus.handle(GetProvider(provider_id=user.id))
    order = await bus.handle(BookOrder(
        actor_id=await ann.user_id(), offer_id=details.offers[0].id, units=2,
        start=NEXT_MONDAY_10_SHANGHAI, address="人民大道 200 号", place=Place(31.2304, 121.4737)))
    await bus.handle(PayOrder(actor_id=await ann.user_id(), order_id=order.id, method="sandbox",
                              payment_ref="sbx-onsite"))
    await world.settle()
    await li.say(f"接单 {order.number}")
    world.clock.set(NEXT_MONDAY_10_SHANGHAI)
    assert "需要签到" in await li.say(f"开始 {order.number}")
    assert "请发送位置或照片" in await li.say("好的")
    started = await li.send_location(31.2305, 121.4738)
    assert f"订单 {order.number} 已开始服务" in started
    [serving] = await orders_of(world)
    assert serving.state is OrderState.IN_SERVICE and serving.checkin.startswith("location:")  # type: ignore[union-attr]


async def test_an_operator_on_wechat_gets_the_application_card_and_approves_it(
    world: WeChatWorld,
) -> None:
    boss = world.person("oOperator0000000000000000001")
    await boss.follow()
    operator = await boss.user_id()
    await world.runtime.bus.handle(GrantRole(user_id=operator, role="operator"))
    world.service.product.actors.forget(boss.openid)
    await boss.say("我的")  # writing renews the service window
    categories = await seeded(world.runtime)
    applicant = await world.runtime.bus.handle(RegisterFromChannel(
        platform="telegram", external_id="555", chat_id="555", display_name="阿强"))
    submitted = await world.runtime.bus.handle(
        application(applicant.id, categories["league-of-legends"], name="阿强"))
    await world.settle()
    card = boss.last
    assert "通过" in card and "拒绝" in card
    approved = await boss.tap(f"act:application.approve:{submitted.id}", "通过")
    assert f"已通过申请 #{submitted.id}" in approved
    details = await world.runtime.bus.handle(GetProvider(provider_id=applicant.id))
    assert str(details.profile.status) == "approved"


async def test_a_telegram_account_is_linked_by_code_and_notices_then_reach_wechat(
    world: WeChatWorld,
) -> None:
    ann = world.person("oAnn000000000000000000000001")
    await ann.follow()
    telegram_user = await world.runtime.bus.handle(RegisterFromChannel(
        platform="telegram", external_id="4242", chat_id="4242", display_name="Ann"))
    issued = await world.runtime.bus.handle(IssueLinkCode(actor_id=telegram_user.id,
                                                          user_id=telegram_user.id))
    assert "绑定成功" in await ann.say(f"绑定 {issued.code}")
    assert await ann.user_id() == telegram_user.id
    # The account now speaks as the Telegram user: their top-up lands in the same wallet.
    payment = await world.runtime.bus.handle(StartPayment(
        actor_id=telegram_user.id, customer_id=telegram_user.id, gateway="sandbox",
        amount=Money(5000, "CNY")))
    await world.runtime.bus.handle(ConfirmPayment(gateway="sandbox", payment_ref=payment.payment_ref,
                                                  amount=5000, currency="CNY"))
    await world.settle()
    assert ann.received("¥50.00") or ann.received("50.00")
    assert "可用余额 ¥50.00" in await ann.say("钱包")


async def test_a_link_code_issued_in_wechat_names_how_long_it_lasts(world: WeChatWorld) -> None:
    ann = world.person("oAnn000000000000000000000001")
    await ann.follow()
    answer = await ann.say("绑定码")
    assert "你的绑定码" in answer and "2026-01-05 17:10" in answer


async def test_switching_to_english_answers_in_english(world: WeChatWorld) -> None:
    ann = world.person("oAnn000000000000000000000001")
    await ann.follow()
    await ann.say("语言")
    assert "I will write to you in English" in await ann.choose("English")
    assert "Reply with these words" in await ann.say("help")
    assert "No orders yet" in await ann.say("orders")


async def test_a_provider_who_unfollows_the_account_goes_offline(world: WeChatWorld) -> None:
    xiaoyu = world.person("oProviderXiaoyu00000000000009")
    await xiaoyu.follow()
    provider_id = await make_provider(world, xiaoyu)
    await xiaoyu.tap(f"act:provider.go_online:{provider_id}", "上线接单")
    details = await world.runtime.bus.handle(GetProvider(provider_id=provider_id))
    assert details.profile.presence.value == "online"
    await xiaoyu.unfollow()
    details = await world.runtime.bus.handle(GetProvider(provider_id=provider_id))
    assert details.profile.presence.value == "offline"
    # A customer unfollowing is nothing to the catalog, and is answered like any event.
    ann = world.person("oCustomerAnn0000000000000009")
    await ann.follow()
    await ann.unfollow()
