"""Paying in Telegram: Stars invoices (pre_checkout answered, successful_payment recorded
with its charge id, credited once however often it arrives, refunded with
refundStarPayment), the wallet (refused clearly when short, nothing changed) and the
sandbox in demo mode, always labelled a test."""

from __future__ import annotations

from typing import Any

from bots.i18n import render_error
from bots.telegram.payments import TelegramAccounts
from bots.telegram.standin import SimUser
from core.booking import commands as c
from core.booking.ports import OrderFilter
from core.booking.states import OrderState
from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet import api
from core.wallet.commands import GetStatement
from tests.adapters.telegram_customer.conftest import (
    CARD_TOKEN,
    Shop,
    book_first_free_hour,
    find,
    labels,
    press,
    say,
)


async def only_order(shop: Shop, person: SimUser) -> Any:
    customer_id = await shop.user_id(person)
    async with shop.runtime.uow_factory() as uow:
        [order] = await uow.orders.list(OrderFilter(customer_id=customer_id))
        held = await api.order_held(uow, order.id)
    return order, held


async def test_stars_pay_an_order_once_even_when_telegram_delivers_the_payment_twice(
    shop: Shop,
) -> None:
    provider_id, _ = await shop.provider("Lei", price=150, currency="XTR")
    ann = shop.customer()
    menu = await book_first_free_hour(shop, ann, provider_id)
    assert labels(menu)[0] == "⭐ Pay 150 Telegram Stars"
    answer = await press(ann, menu, "Telegram Stars")
    assert answer["text"] == "Invoice sent: tap Pay on it."
    invoice = await find(ann, "", where=lambda m: "invoice" in m)
    assert (invoice["invoice"]["currency"], invoice["invoice"]["total_amount"]) == ("XTR", 150)

    paid = await ann.pay(invoice)
    assert paid.ok and paid.telegram_payment_charge_id
    await shop.settle()
    await find(ann, "is paid (150 XTR)")
    order, held = await only_order(shop, ann)
    assert order.state is OrderState.PENDING_ACCEPTANCE and held == Money(150, "XTR")
    async with shop.runtime.uow_factory() as uow:
        [payment] = await uow.payments.for_order(order.id)
    assert payment.gateway_charge_id == paid.telegram_payment_charge_id
    answers = [e.data for e in shop.standin.events(ann.id) if e.kind == "pre_checkout_answer"]
    assert [a["ok"] for a in answers] == [True]

    # Telegram (or a second worker) delivers the same payment again under a new update.
    assert paid.message is not None
    shop.standin.bot.emit("message", paid.message)
    await shop.settle()
    await find(ann, "This payment (150 XTR) was already recorded")
    order, held = await only_order(shop, ann)
    assert held == Money(150, "XTR")
    statement = await shop.runtime.bus.handle(GetStatement(user_id=order.customer_id))
    [balance] = statement.balances
    assert (balance.wallet, balance.wallet_held) == (Money(150, "XTR"), Money(150, "XTR"))


async def test_a_stars_payment_for_an_order_that_can_no_longer_be_paid_is_declined_at_checkout(
    shop: Shop,
) -> None:
    provider_id, _ = await shop.provider("Lei", price=150, currency="XTR")
    ann = shop.customer("Ann", "zh")
    menu = await book_first_free_hour_zh(shop, ann, provider_id)
    await press(ann, menu, "Telegram 星星")
    invoice = await find(ann, "", where=lambda m: "invoice" in m)
    order, _ = await only_order(shop, ann)
    await press(ann, menu, "取消订单")
    await press(ann, await find(ann, "确定取消吗"), "确定取消")
    await find(ann, "已取消")

    refused = await ann.pay(invoice)
    assert not refused.ok and refused.reason == "refused"
    assert refused.error_message == f"订单 {order.number} 已无法这样支付。打开 /orders 查看订单状态。"
    assert shop.standin.bot.payments == {}


async def book_first_free_hour_zh(shop: Shop, person: SimUser, provider_id: int) -> dict[str, Any]:
    await say(shop, person, f"/start p_{provider_id}")
    await press(person, await find(person, "服务项目："), "预约")
    units = await find(person, "要几")
    await press(person, units, next(label for label in labels(units) if label.startswith("1 ")))
    await press(person, await find(person, "请选择与"), "12")
    await press(person, await find(person, "请选择开始时间"), "10:00")
    await press(person, await find(person, "有什么需要告诉服务者的吗"), "跳过")
    await press(person, await find(person, "请确认你的预约："), "确认")
    return await find(person, "请选择支付方式")


async def test_cancelling_a_stars_order_refunds_the_stars_through_telegram(shop: Shop) -> None:
    provider_id, _ = await shop.provider("Lei", price=150, currency="XTR")
    ann = shop.customer()
    menu = await book_first_free_hour(shop, ann, provider_id)
    await press(ann, menu, "Telegram Stars")
    paid = await ann.pay(await find(ann, "", where=lambda m: "invoice" in m))
    await shop.settle()
    await find(ann, "is paid")

    await say(shop, ann, "/orders")
    listed = await find(ann, "Your orders")
    await press(ann, listed, "YB")
    card = await find(ann, "waiting for the provider")
    await press(ann, card, "Cancel the order")
    quote = await find(ann, "is free: 150 XTR comes back to you in full")
    await press(ann, quote, "Yes, cancel it")
    await find(ann, "is cancelled. Fee: 0 XTR. Back to you: 150 XTR.")
    await find(ann, "↩ 150 XTR went back to where you paid it from.")

    [refund] = shop.standin.calls("refundStarPayment")
    assert refund.ok and int(refund.params["user_id"]) == ann.id
    assert refund.params["telegram_payment_charge_id"] == paid.telegram_payment_charge_id
    order, held = await only_order(shop, ann)
    assert order.state is OrderState.CANCELLED and held is None
    statement = await shop.runtime.bus.handle(GetStatement(user_id=order.customer_id))
    assert all(b.wallet == Money(0, "XTR") for b in statement.balances)


async def test_paying_from_a_wallet_with_too_little_money_is_refused_and_changes_nothing(
    shop: Shop,
) -> None:
    provider_id, _ = await shop.provider("Xiaoyu", price=6000)
    ann = shop.customer()
    menu = await book_first_free_hour(shop, ann, provider_id)
    refusal = await press(ann, menu, "From my wallet")
    assert refusal["show_alert"] is True
    assert refusal["text"] == render_error(DomainError(
        "error.wallet.insufficient_balance", available=Money(0, "CNY"),
        needed=Money(6000, "CNY")), "en")
    assert "not enough" in refusal["text"]
    order, held = await only_order(shop, ann)
    assert order.state is OrderState.AWAITING_PAYMENT and held is None
    statement = await shop.runtime.bus.handle(GetStatement(user_id=order.customer_id))
    assert statement.lines == ()
    # The menu is still there and a test payment (demo mode) goes through, labelled so.
    answer = await press(ann, menu, "Test payment")
    assert answer["text"] == "Paid."
    done = await find(ann, "is paid (60.00 CNY)")
    assert "This was a test payment: no real money moved." in done["text"]
    order, held = await only_order(shop, ann)
    assert order.state is OrderState.PENDING_ACCEPTANCE and held == Money(6000, "CNY")


async def test_the_wallet_shows_balances_and_tops_up_with_a_test_payment(shop: Shop) -> None:
    ann = shop.customer()
    await say(shop, ann, "/wallet")
    wallet = await find(ann, "Your wallet")
    assert "Nothing in your wallet yet." in wallet["text"]
    await press(ann, wallet, "Test top-up 100.00 CNY")
    done = await find(ann, "100.00 CNY added to your wallet. Balance: 100.00 CNY.")
    assert "test payment" in done["text"]
    await say(shop, ann, "/wallet")
    again = await find(ann, "Available: 100.00 CNY")
    assert "top-up" in again["text"]


async def test_a_card_invoice_pays_a_yuan_order_when_a_provider_token_is_configured(
    card_shop: Shop,
) -> None:
    shop = card_shop
    provider_id, _ = await shop.provider("Xiaoyu", price=6000)
    ann = shop.customer()
    menu = await book_first_free_hour(shop, ann, provider_id)
    assert labels(menu)[:3] == ["💳 Pay 60.00 CNY by card", "🧪 Test payment 60.00 CNY (no real money)",
                                "👛 From my wallet (balance 0.00 CNY)"]
    await press(ann, menu, "by card")
    [sent] = shop.standin.calls("sendInvoice")
    assert sent.params["provider_token"] == CARD_TOKEN and sent.params["currency"] == "CNY"
    paid = await ann.pay(await find(ann, "", where=lambda m: "invoice" in m))
    assert paid.ok
    await shop.settle()
    await find(ann, "is paid (60.00 CNY)")
    order, held = await only_order(shop, ann)
    assert order.state is OrderState.PENDING_ACCEPTANCE and held == Money(6000, "CNY")


async def test_after_a_restart_a_stars_refund_finds_the_payer_and_still_goes_through(
    shop: Shop,
) -> None:
    provider_id, _ = await shop.provider("Lei", price=150, currency="XTR")
    ann = shop.customer()
    menu = await book_first_free_hour(shop, ann, provider_id)
    await press(ann, menu, "Telegram Stars")
    paid = await ann.pay(await find(ann, "", where=lambda m: "invoice" in m))
    await shop.settle()
    order, _ = await only_order(shop, ann)
    accounts: TelegramAccounts = shop.bot.service.dispatcher["telegram_accounts"]
    accounts.forget(order.customer_id)  # as a fresh process would know nothing

    # The provider declines; nobody on the customer's side is in this process's memory.
    await shop.runtime.bus.handle(c.RejectOrder(actor_id=provider_id, order_id=order.id,
                                                reason="Not feeling well"))
    await accounts.settle()
    await find(ann, "↩ 150 XTR went back to where you paid it from.")
    [refund] = [call for call in shop.standin.calls("refundStarPayment") if call.ok]
    assert refund.params["telegram_payment_charge_id"] == paid.telegram_payment_charge_id
    assert shop.standin.bot.payments[paid.telegram_payment_charge_id].refunded
    async with shop.runtime.uow_factory() as uow:
        [payment] = await uow.payments.for_order(order.id)
    assert payment.refunded == 150
