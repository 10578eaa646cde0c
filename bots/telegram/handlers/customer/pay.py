"""Paying: for an order, an extension, a raised open request, a tip, or a wallet top-up.

The customer picks a method (Telegram Stars for orders in XTR, a card invoice when a payment
provider token is configured, the wallet balance, or the sandbox in demo mode, always
labelled as a test). Wallet and sandbox payments are one command. Stars and card payments
are Telegram invoices: `StartPayment` gives the `payment_ref` the invoice payload carries;
`pre_checkout_query` is answered after `CheckPayment` and a look at the order (well inside
Telegram's 10 s); `successful_payment` is recorded with `ConfirmPayment` and its
`telegram_payment_charge_id`, which credits the wallet once however often Telegram delivers
it, and then the order (or tip, extension, raise) is paid from that money.
"""

from __future__ import annotations

import logging
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    Update,
)

from bots.i18n import render_error
from bots.telegram.handlers.customer.callbacks import OrderCallback, PayCallback
from bots.telegram.handlers.customer.common import (
    callback_key,
    money,
    own_order,
    show,
    t,
    update_key,
    when,
    zone_of,
)
from bots.telegram.middlewares import Actor
from bots.telegram.payments import (
    GATEWAYS,
    PURPOSES,
    InvoicePayload,
    PaymentOptions,
    TelegramAccounts,
    gateway_for_currency,
)
from core.booking.commands import (
    ExtendOrder,
    GetOrder,
    PayOrder,
    RaiseOpenOrderPrice,
    TipOrder,
)
from core.booking.model import Order
from core.booking.states import VERBS
from core.messagebus import MessageBus
from core.shared.errors import DomainError, Forbidden
from core.shared.money import Money
from core.wallet.commands import CheckPayment, ConfirmPayment, GetStatement, StartPayment
from core.wallet.ports import PaymentInstructions
from core.wallet.views import PaymentOutcome, Statement

log = logging.getLogger(__name__)

DEFAULT_OPTIONS = PaymentOptions()
# Which verb each purpose needs the order to allow, for a payment to still make sense.
PURPOSE_VERBS = {"o": "pay", "x": "extend", "r": "raise_price", "t": "tip"}
INVOICE_TITLE_LIMIT = 32


def router() -> Router:
    pay = Router(name="customer.pay")
    pay.callback_query.register(on_pay, PayCallback.filter())
    pay.pre_checkout_query.register(on_pre_checkout)
    pay.message.register(on_successful_payment, F.successful_payment)
    pay.message.register(on_refunded_payment, F.refunded_payment)
    return pay


# -- menus -------------------------------------------------------------------------------------


async def wallet_balance(bus: MessageBus, actor: Actor, currency: str) -> Money:
    statement: Statement = await bus.handle(
        GetStatement(user_id=actor.user_id, currency=currency, limit=1, actor_id=actor.user_id)
    )
    for balance in statement.balances:
        if balance.currency == currency:
            return balance.wallet_available
    return Money.zero(currency)


def method_rows(
    purpose: str,
    ref: int,
    amount: int,
    price: Money,
    options: PaymentOptions,
    balance: Money,
    locale: str,
) -> list[list[InlineKeyboardButton]]:
    """One button per way to pay `price`; `amount` is what the button carries (see PayCallback)."""
    labels = {
        "stars": t("pay.method.stars", locale, amount=price.amount),
        "card": t("pay.method.card", locale, amount=price.format()),
        "sandbox": t("pay.method.sandbox", locale, amount=price.format()),
        "wallet": t("pay.method.wallet", locale, balance=balance.format()),
    }
    return [
        [InlineKeyboardButton(
            text=labels[method],
            callback_data=PayCallback(
                purpose=purpose, ref=ref, amount=amount, method=method,
                currency=price.currency if purpose == "w" else "",
            ).pack(),
        )]
        for method in options.methods_for(price.currency)
    ]


async def order_payment_menu(
    bus: MessageBus, actor: Actor, locale: str, order: Order, options: PaymentOptions
) -> tuple[str, InlineKeyboardMarkup]:
    zone = await zone_of(bus, actor)
    price = order.price.deposit
    balance = await wallet_balance(bus, actor, price.currency)
    text = t("pay.choose", locale, number=order.number, total=price.format(),
             deadline=when(order.payment_deadline, zone, locale))
    if options.sandbox:
        text += "\n" + t("pay.sandbox_hint", locale)
    rows = method_rows("o", order.id, 0, price, options, balance, locale)
    rows.append([InlineKeyboardButton(
        text=t("order.action.cancel", locale),
        callback_data=OrderCallback(order_id=order.id, action="cancel").pack(),
    )])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def extra_payment_menu(
    bus: MessageBus, actor: Actor, locale: str, order: Order, purpose: str, amount: int,
    price: Money, text: str, options: PaymentOptions,
) -> tuple[str, InlineKeyboardMarkup]:
    balance = await wallet_balance(bus, actor, price.currency)
    rows = method_rows(purpose, order.id, amount, price, options, balance, locale)
    rows.append([InlineKeyboardButton(
        text=t("button.back", locale),
        callback_data=OrderCallback(order_id=order.id, action="show").pack(),
    )])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def price_of(order: Order, purpose: str, amount: int) -> Money:
    """What a purpose costs: the order's deposit, `amount` units more, or `amount` itself."""
    if purpose == "o":
        return order.price.deposit
    if purpose == "x":
        return order.price.unit_price * amount
    return Money(amount, order.price.currency)


# -- paying ------------------------------------------------------------------------------------


async def on_pay(
    callback: CallbackQuery,
    callback_data: PayCallback,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    bot: Bot,
    payment_options: PaymentOptions | None = None,
    telegram_accounts: TelegramAccounts | None = None,
) -> None:
    options = payment_options or DEFAULT_OPTIONS
    purpose, method = callback_data.purpose, callback_data.method
    if purpose not in PURPOSES or method not in GATEWAYS:
        raise DomainError("error.wallet.unknown_method", method=method)
    if telegram_accounts is not None:
        telegram_accounts.remember(actor.user_id, actor.telegram_id)
    if purpose == "w":
        await top_up(callback, callback_data, bus, actor, locale, bot, options)
        return
    order = await own_order(bus, actor, callback_data.ref)
    if order.customer_id != actor.user_id:
        raise Forbidden("error.order.not_yours", number=order.number)
    price = price_of(order, purpose, callback_data.amount)
    if method not in options.methods_for(price.currency):
        raise DomainError("error.wallet.method_currency", method=GATEWAYS[method],
                          currency=price.currency)
    if method in ("stars", "card"):
        instructions: PaymentInstructions = await bus.handle(StartPayment(
            customer_id=actor.user_id, gateway=GATEWAYS[method], amount=price,
            purpose=PURPOSES[purpose], order_id=order.id,
            description=t(f"pay.describe.{purpose}", locale, number=order.number),
            actor_id=actor.user_id, idempotency_key=callback_key(callback),
        ))
        await send_invoice(bot, actor, locale, options, instructions, InvoicePayload(
            purpose, order.id, instructions.payment_ref), order.number)
        await callback.answer(t("pay.invoice_sent", locale))
        return
    payment_ref = f"tg-sbx-{callback.id}" if method == "sandbox" else None
    paid = await charge(bus, actor, order, purpose, callback_data.amount, GATEWAYS[method],
                        payment_ref, callback_key(callback))
    await show(callback, await paid_text(bus, actor, locale, paid, purpose, price,
                                         test=method == "sandbox"))
    await callback.answer(t("pay.done_alert", locale))


async def charge(
    bus: MessageBus, actor: Actor, order: Order, purpose: str, amount: int, method: str,
    payment_ref: str | None, key: str,
) -> Order:
    """The booking command that takes the money for `purpose`."""
    common = {"order_id": order.id, "method": method, "payment_ref": payment_ref,
              "actor_id": actor.user_id, "idempotency_key": key}
    currency = order.price.currency
    if purpose == "o":
        result: Order = await bus.handle(PayOrder(**common))
    elif purpose == "x":
        result = await bus.handle(ExtendOrder(extra_units=amount, **common))
    elif purpose == "r":
        result = await bus.handle(RaiseOpenOrderPrice(bonus=Money(amount, currency), **common))
    else:
        result = await bus.handle(TipOrder(amount=Money(amount, currency), **common))
    return result


async def paid_text(
    bus: MessageBus, actor: Actor, locale: str, order: Order, purpose: str, price: Money,
    *, test: bool,
) -> str:
    zone = await zone_of(bus, actor)
    key = {"o": "pay.paid_order", "x": "pay.paid_extension", "r": "pay.paid_raise",
           "t": "pay.paid_tip"}[purpose]
    text = t(key, locale, number=order.number, amount=price.format(),
             deadline=when(order.accept_deadline, zone, locale))
    if test:
        text += "\n" + t("pay.test_note", locale)
    return text


async def send_invoice(
    bot: Bot, actor: Actor, locale: str, options: PaymentOptions,
    instructions: PaymentInstructions, payload: InvoicePayload, number: str,
) -> None:
    title = t(f"pay.invoice.title.{payload.purpose}", locale, number=number)
    await bot.send_invoice(
        chat_id=actor.telegram_id,
        title=title[:INVOICE_TITLE_LIMIT],
        description=t("pay.invoice.description", locale, number=number,
                      amount=instructions.amount.format()),
        payload=payload.pack(),
        currency=instructions.amount.currency,
        prices=[LabeledPrice(label=title[:INVOICE_TITLE_LIMIT], amount=instructions.amount.amount)],
        provider_token=None if instructions.amount.currency == "XTR" else options.card_token,
    )


async def top_up(
    callback: CallbackQuery, callback_data: PayCallback, bus: MessageBus, actor: Actor,
    locale: str, bot: Bot, options: PaymentOptions,
) -> None:
    amount = Money(callback_data.amount, callback_data.currency or "CNY")
    method = callback_data.method
    if method == "wallet" or method not in options.methods_for(amount.currency):
        raise DomainError("error.wallet.method_currency", method=GATEWAYS[method],
                          currency=amount.currency)
    instructions: PaymentInstructions = await bus.handle(StartPayment(
        customer_id=actor.user_id, gateway=GATEWAYS[method], amount=amount, purpose="topup",
        description=t("pay.describe.w", locale, number=""), actor_id=actor.user_id,
        idempotency_key=callback_key(callback),
    ))
    if method in ("stars", "card"):
        await send_invoice(bot, actor, locale, options, instructions,
                           InvoicePayload("w", 0, instructions.payment_ref), "")
        await callback.answer(t("pay.invoice_sent", locale))
        return
    # The sandbox pays at once: it is the test button.
    await bus.handle(ConfirmPayment(
        gateway=instructions.gateway, payment_ref=instructions.payment_ref, amount=amount.amount,
        currency=amount.currency, purpose="topup", actor_id=actor.user_id,
        idempotency_key=callback_key(callback, 1),
    ))
    balance = await wallet_balance(bus, actor, amount.currency)
    await show(callback, t("pay.topped_up", locale, amount=amount.format(),
                           balance=balance.format()) + "\n" + t("pay.test_note", locale))
    await callback.answer()


# -- Telegram invoices ---------------------------------------------------------------------------


async def on_pre_checkout(
    query: PreCheckoutQuery, bus: MessageBus, actor: Actor, locale: str
) -> None:
    """Say yes only to a payment the wallet expects, for something that can still be paid."""
    payload = InvoicePayload.parse(query.invoice_payload)
    if payload is None:
        await query.answer(ok=False, error_message=t("pay.unknown_invoice", locale))
        return
    await bus.handle(CheckPayment(
        gateway=gateway_for_currency(query.currency), payment_ref=payload.payment_ref,
        amount=query.total_amount, currency=query.currency, actor_id=actor.user_id,
    ))
    if payload.purpose != "w":
        order = (await bus.handle(GetOrder(order_id=payload.target_id, actor_id=actor.user_id))).order
        if not still_payable(order, payload.purpose, bus.clock.now()):
            await query.answer(
                ok=False, error_message=t("pay.no_longer_payable", locale, number=order.number)
            )
            return
    await query.answer(ok=True)


def still_payable(order: Order, purpose: str, now: datetime) -> bool:
    """Whether the order still accepts a payment for `purpose` (the core checks again)."""
    if order.state not in VERBS[PURPOSE_VERBS[purpose]]:
        return False
    if purpose == "o" and order.payment_deadline is not None:
        return now < order.payment_deadline
    return True


async def on_successful_payment(
    message: Message,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    event_update: Update,
    telegram_accounts: TelegramAccounts | None = None,
) -> None:
    paid = message.successful_payment
    assert paid is not None
    if telegram_accounts is not None:
        telegram_accounts.remember(actor.user_id, actor.telegram_id)
    payload = InvoicePayload.parse(paid.invoice_payload)
    gateway = gateway_for_currency(paid.currency)
    outcome: PaymentOutcome = await bus.handle(ConfirmPayment(
        gateway=gateway,
        payment_ref=payload.payment_ref if payload else paid.invoice_payload,
        amount=paid.total_amount,
        currency=paid.currency,
        purpose=PURPOSES[payload.purpose] if payload else None,
        order_id=payload.target_id if payload and payload.purpose != "w" else None,
        gateway_charge_id=paid.telegram_payment_charge_id,
        actor_id=actor.user_id,
        idempotency_key=update_key(event_update.update_id),
    ))
    if not outcome.accepted or payload is None:
        # The wallet recorded an alert for operators; the person hears what went wrong.
        log.warning("payment %s refused: %s", paid.invoice_payload, outcome.problem)
        await message.answer(render_error(
            DomainError(outcome.error_key or "error.wallet.payment_unknown",
                        payment=paid.invoice_payload), locale))
        return
    amount = Money(paid.total_amount, paid.currency)
    if payload.purpose == "w":
        key = "pay.topped_up" if outcome.status == "credited" else "pay.already_recorded"
        balance = await wallet_balance(bus, actor, paid.currency)
        await message.answer(t(key, locale, amount=amount.format(), balance=balance.format()))
        return
    order: Order = (await bus.handle(GetOrder(
        order_id=payload.target_id, actor_id=actor.user_id))).order
    payable = still_payable(order, payload.purpose, bus.clock.now())
    # An order payment is taken whenever the order still waits for it (also on a repeated
    # delivery after a crash); other purposes only on the first delivery.
    if payable and (payload.purpose == "o" or outcome.status == "credited"):
        units = amount.amount // order.price.unit_price.amount if payload.purpose == "x" else 0
        done = await charge(
            bus, actor, order, payload.purpose,
            units if payload.purpose == "x" else amount.amount, gateway, payload.payment_ref,
            update_key(event_update.update_id, 1),
        )
        await message.answer(await paid_text(bus, actor, locale, done, payload.purpose, amount,
                                             test=False))
    elif outcome.status == "duplicate":
        await message.answer(t("pay.already_recorded", locale, amount=amount.format(),
                               balance=money(await wallet_balance(bus, actor, paid.currency))))
    else:
        await message.answer(t("pay.kept_in_wallet", locale, number=order.number,
                               amount=amount.format()))


async def on_refunded_payment(message: Message, locale: str) -> None:
    """Telegram posts a refund into the chat; say in words what it is."""
    refunded = message.refunded_payment
    assert refunded is not None
    amount = Money(refunded.total_amount, refunded.currency)
    await message.answer(t("pay.refunded", locale, amount=amount.format()))
