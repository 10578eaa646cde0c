"""Invoices are paid the Telegram way: pre_checkout_query, the bot's answer within 10 s,
then a successful_payment message; Stars can be refunded once."""

from __future__ import annotations

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LabeledPrice, Message, PreCheckoutQuery

from bots.telegram.standin import BotApiStandIn

from .conftest import eventually, polling

STARS = [LabeledPrice(label="2 hours of billiards coaching", amount=150)]


def shop(paid: list[Message], *, accept: bool = True) -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.pre_checkout_query()
    async def check(query: PreCheckoutQuery) -> None:
        if accept:
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message="This slot was just taken")

    @dispatcher.message(F.successful_payment)
    async def record(message: Message) -> None:
        paid.append(message)

    return dispatcher


async def test_a_stars_invoice_is_paid_and_can_be_refunded_once(
    standin: BotApiStandIn, bot: Bot
) -> None:
    paid: list[Message] = []
    ann = standin.create_user("Ann")
    invoice = await bot.send_invoice(ann.id, title="Coaching", description="2 h with Lei",
                                     payload="order:42", currency="XTR", prices=STARS)

    async with polling(shop(paid), bot):
        result = await ann.pay(invoice.message_id)
        await eventually(lambda: len(paid) == 1)

    assert invoice.invoice is not None and invoice.invoice.total_amount == 150
    assert result.ok and result.telegram_payment_charge_id
    payment = paid[0].successful_payment
    assert payment is not None
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == \
        ("XTR", 150, "order:42")
    assert payment.telegram_payment_charge_id == result.telegram_payment_charge_id

    assert await bot.refund_star_payment(ann.id, result.telegram_payment_charge_id)
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(ann.id, result.telegram_payment_charge_id)
    refund = ann.history()[-1]["message"]["refunded_payment"]
    assert refund["telegram_payment_charge_id"] == result.telegram_payment_charge_id


async def test_a_refused_checkout_charges_nothing(standin: BotApiStandIn, bot: Bot) -> None:
    paid: list[Message] = []
    ann = standin.create_user("Ann")
    invoice = await bot.send_invoice(ann.id, title="Coaching", description="2 h",
                                     payload="order:43", currency="XTR", prices=STARS)

    async with polling(shop(paid, accept=False), bot):
        result = await ann.pay(invoice.message_id)

    assert not result.ok
    assert (result.reason, result.error_message) == ("refused", "This slot was just taken")
    assert paid == [] and standin.bot.payments == {}
    assert [e.kind for e in standin.events(ann.id)][-2:] == ["pre_checkout_answer",
                                                            "payment_failed"]


async def test_an_unanswered_checkout_times_out_and_a_late_answer_is_refused(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    invoice = await bot.send_invoice(ann.id, title="Coaching", description="2 h",
                                     payload="order:44", currency="XTR", prices=STARS)

    result = await ann.pay(invoice.message_id, within=0.05)
    [update] = await bot.get_updates(timeout=0)

    assert (result.ok, result.reason) == (False, "timeout")
    assert update.pre_checkout_query is not None
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=True)
    assert standin.bot.payments == {}


async def test_provider_invoices_need_a_token_and_stars_invoices_refuse_one(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    with pytest.raises(TelegramBadRequest, match="PAYMENT_PROVIDER_INVALID"):
        await bot.send_invoice(ann.id, title="Cleaning", description="3 h", payload="o:1",
                               currency="CNY", prices=[LabeledPrice(label="3 h", amount=30000)])
    with pytest.raises(TelegramBadRequest, match="PAYMENT_PROVIDER_INVALID"):
        await bot.send_invoice(ann.id, title="Cleaning", description="3 h", payload="o:1",
                               provider_token="tok", currency="XTR", prices=STARS)
    with pytest.raises(TelegramBadRequest, match="CURRENCY_TOTAL_AMOUNT_INVALID"):
        await bot.send_invoice(ann.id, title="Cleaning", description="3 h", payload="o:1",
                               provider_token="tok", currency="CNY",
                               prices=[LabeledPrice(label="free", amount=0)])
    assert ann.bot_messages() == []


async def test_provider_invoices_take_tips_and_ask_for_order_info(
    standin: BotApiStandIn, bot: Bot
) -> None:
    paid: list[Message] = []
    ann = standin.create_user("Ann", username="ann")
    invoice = await bot.send_invoice(
        ann.id, title="Cleaning", description="3 h", payload="order:45",
        provider_token="sandbox-token", currency="CNY",
        prices=[LabeledPrice(label="3 h", amount=30000)], max_tip_amount=5000,
        suggested_tip_amounts=[1000, 2000], need_phone_number=True)

    async with polling(shop(paid), bot):
        result = await ann.pay(invoice.message_id, tip=2000)
        await eventually(lambda: len(paid) == 1)

    assert result.ok
    payment = paid[0].successful_payment
    assert payment is not None and payment.total_amount == 32000
    assert payment.order_info is not None and payment.order_info.phone_number
    assert payment.provider_payment_charge_id


async def test_invoice_links_are_paid_in_the_private_chat(standin: BotApiStandIn,
                                                          bot: Bot) -> None:
    paid: list[Message] = []
    ann = standin.create_user("Ann")
    link = await bot.create_invoice_link(title="Tip", description="Thank your coach",
                                         payload="tip:7", currency="XTR",
                                         prices=[LabeledPrice(label="Tip", amount=20)])

    async with polling(shop(paid), bot):
        result = await ann.pay(link)
        await eventually(lambda: len(paid) == 1)

    assert link.startswith("https://t.me/$")
    assert result.ok and paid[0].chat.id == ann.id
