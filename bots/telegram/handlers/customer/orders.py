"""My orders: the list, each order's card with the actions its state allows, and the notice
buttons that lead to the same actions.

Cancelling shows the fee first (what the booking policy would keep right now and what comes
back) and cancels only on a second tap; if the fee changed in between (a fee tier passed),
the new figure is shown instead of cancelling. Confirming completion leads to rating; a
rating may get a few words; a tip and an extension are paid like an order.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bots.telegram.callbacks import ActionCallback
from bots.telegram.handlers.customer import browse, pay, reads
from bots.telegram.handlers.customer.book import on_reschedule
from bots.telegram.handlers.customer.callbacks import OrderCallback, OrdersCallback
from bots.telegram.handlers.customer.common import (
    TextForm,
    callback_key,
    leave,
    own_order,
    show,
    t,
    update_key,
    when,
    zone_of,
)
from bots.telegram.middlewares import Actor
from bots.telegram.payments import PaymentOptions, TelegramAccounts
from core.booking.commands import (
    AnswerReschedule,
    CancelOrder,
    ConfirmOrder,
    ListOrders,
    OpenDispute,
    RespondToDispute,
)
from core.booking.model import Dispatch, Order, Party
from core.booking.states import OrderState
from core.messagebus import MessageBus
from core.reviews.commands import SubmitReview
from core.shared.errors import DomainError, Forbidden
from core.shared.money import Money

S = OrderState
PAGE_SIZE = 6
MAX_TEXT = 500
TIPS: dict[str, tuple[int, ...]] = {
    "CNY": (500, 1000, 2000, 5000),
    "USD": (100, 200, 500, 1000),
    "XTR": (10, 50, 100, 500),
}
RAISES_PERCENT = (10, 20, 50)
# Notice buttons (`Action` kinds) -> the order card's action names.
NOTICE_ACTIONS = {
    "order.pay": "pay",
    "order.cancel": "cancel",
    "order.confirm": "confirm",
    "order.dispute": "dispute",
    "order.extend": "extend",
    "order.raise_price": "raise",
    "order.reschedule_agree": "agree",
    "order.reschedule_decline": "decline",
    "order.dispute_respond": "respond",
}


def router() -> Router:
    orders = Router(name="customer.orders")
    orders.message.register(on_orders, Command("orders"))
    orders.callback_query.register(on_orders_page, OrdersCallback.filter())
    orders.callback_query.register(on_order, OrderCallback.filter(F.action != "reschedule"))
    orders.callback_query.register(
        on_notice_action, ActionCallback.filter(F.kind.in_(set(NOTICE_ACTIONS)))
    )
    orders.callback_query.register(
        on_notice_reschedule, ActionCallback.filter(F.kind == "order.reschedule")
    )
    orders.callback_query.register(
        on_book_provider, ActionCallback.filter(F.kind == "order.book_provider")
    )
    typed = (F.text, ~F.text.startswith("/"))
    orders.message.register(on_review_text, StateFilter(TextForm.review), *typed)
    orders.message.register(on_dispute_text, StateFilter(TextForm.dispute), *typed)
    return orders


# -- the list -----------------------------------------------------------------------------------


async def on_orders(
    message: Message, bus: MessageBus, actor: Actor, locale: str, state: FSMContext
) -> None:
    await leave(state)
    text, markup = await order_list(bus, actor, locale, 1)
    await message.answer(text, reply_markup=markup)


async def on_orders_page(
    callback: CallbackQuery, callback_data: OrdersCallback, bus: MessageBus, actor: Actor,
    locale: str,
) -> None:
    text, markup = await order_list(bus, actor, locale, max(1, callback_data.page))
    await show(callback, text, markup)
    await callback.answer()


async def order_list(
    bus: MessageBus, actor: Actor, locale: str, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    found: list[Order] = await bus.handle(ListOrders(
        customer_id=actor.user_id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE,
        actor_id=actor.user_id,
    ))
    shown, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    if not shown:
        return t("orders.none", locale), InlineKeyboardMarkup(inline_keyboard=[])
    zone = await zone_of(bus, actor)
    rows = [
        [InlineKeyboardButton(
            text=f"{o.number} · {t(f'state.{o.state.value}', locale)} · "
                 f"{when(o.scheduled_start, zone, locale)}",
            callback_data=OrderCallback(order_id=o.id, action="show").pack(),
        )]
        for o in shown
    ]
    navigation = []
    if page > 1:
        navigation.append(InlineKeyboardButton(
            text=t("button.previous", locale), callback_data=OrdersCallback(page=page - 1).pack()))
    if more:
        navigation.append(InlineKeyboardButton(
            text=t("button.next", locale), callback_data=OrdersCallback(page=page + 1).pack()))
    if navigation:
        rows.append(navigation)
    return t("orders.title", locale, page=page), InlineKeyboardMarkup(inline_keyboard=rows)


# -- one order ----------------------------------------------------------------------------------


async def order_card(
    bus: MessageBus, actor: Actor, locale: str, order: Order
) -> tuple[str, InlineKeyboardMarkup]:
    zone = await zone_of(bus, actor)
    categories = await reads.categories(bus)
    category = categories.get(order.category_id)
    who = t("order.open_request", locale)
    if order.provider_id is not None:
        who = (await reads.provider(bus, order.provider_id)).profile.display_name
    unit = t(f"unit.{order.pricing_unit}", locale)
    lines = [
        t("order.title", locale, number=order.number, state=t(f"state.{order.state.value}", locale)),
        t("order.what", locale, category=category.name(locale) if category else "",
          units=order.price.units, unit=unit, who=who),
        t("details.time", locale, start=when(order.scheduled_start, zone, locale), zone=zone.key),
        t("order.total", locale, total=order.price.total.format()),
    ]
    if order.address:
        lines.append(t("details.address", locale, address=order.address))
    if order.notes:
        lines.append(t("details.notes", locale, notes=order.notes))
    lines += _state_lines(order, zone, locale)
    return "\n".join(line for line in lines if line), InlineKeyboardMarkup(
        inline_keyboard=_actions(order, actor, locale)
    )


def _state_lines(order: Order, z: ZoneInfo, locale: str) -> list[str]:
    """What the state means for the customer now (deadlines in their zone `z`)."""
    lines = []
    if order.state is S.AWAITING_PAYMENT:
        lines.append(t("order.pay_by", locale, deadline=when(order.payment_deadline, z, locale)))
    if order.state is S.PENDING_ACCEPTANCE:
        if order.dispatch is Dispatch.OPEN:
            lines.append(t("order.waves", locale, wave=order.wave,
                           next=when(order.next_wave_at, z, locale) if order.next_wave_at else "-"))
        lines.append(t("order.answer_by", locale, deadline=when(order.accept_deadline, z, locale)))
    if order.proposed_start is not None:
        lines.append(t("order.proposed", locale, start=when(order.proposed_start, z, locale)))
    if order.state is S.DELIVERED and order.auto_complete_at is not None:
        lines.append(t("order.confirm_by", locale, deadline=when(order.auto_complete_at, z, locale)))
    if order.state in (S.CANCELLED, S.REJECTED, S.EXPIRED) and order.refund is not None:
        fee = order.fee or Money.zero(order.price.currency)
        lines.append(t("order.closed_money", locale, fee=fee.format(), refund=order.refund.format()))
    if order.dispute is not None:
        lines.append(t("order.dispute", locale, reason=order.dispute.reason))
    return lines


def _button(order: Order, action: str, locale: str, value: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=t(f"order.action.{action}", locale),
        callback_data=OrderCallback(order_id=order.id, action=action, value=value).pack(),
    )


def _actions(order: Order, actor: Actor, locale: str) -> list[list[InlineKeyboardButton]]:
    rows: list[list[InlineKeyboardButton]] = []
    mine = order.customer_id == actor.user_id
    state = order.state
    if mine:
        wanted: list[str] = {
            S.AWAITING_PAYMENT: ["pay", "cancel"],
            S.PENDING_ACCEPTANCE: ["cancel"],
            S.ACCEPTED: ["reschedule", "cancel"],
            S.IN_SERVICE: ["extend"],
            S.DELIVERED: ["confirm", "dispute", "tip"],
            S.COMPLETED: ["review", "tip", "dispute"],
            S.RESOLVED: ["review", "tip"],
        }.get(state, [])
        if state is S.PENDING_ACCEPTANCE:
            if order.dispatch is Dispatch.OPEN:
                wanted = ["raise", "refresh", "cancel"]
            elif order.scheduled_start is not None:
                wanted = ["reschedule", "cancel"]
        if state is S.COMPLETED and order.settled_at is not None:
            wanted = [w for w in wanted if w != "dispute"]
        if state in (S.CANCELLED, S.REJECTED, S.EXPIRED, S.COMPLETED, S.RESOLVED) and (
            order.provider_id is not None
        ):
            wanted.append("again")
        rows += [[_button(order, action, locale)] for action in wanted]
    if order.proposed_by is not None and order.proposed_by != actor.user_id:
        rows.append([_button(order, "agree", locale), _button(order, "decline", locale)])
    rows.append([InlineKeyboardButton(text=t("orders.back", locale),
                                      callback_data=OrdersCallback(page=1).pack())])
    return rows


async def on_order(
    callback: CallbackQuery,
    callback_data: OrderCallback,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    state: FSMContext,
    bot: Bot,
    payment_options: PaymentOptions | None = None,
    telegram_accounts: TelegramAccounts | None = None,
) -> None:
    await act(callback, bus, actor, locale, state, bot, callback_data.order_id,
              callback_data.action, callback_data.value, payment_options, telegram_accounts)


async def on_notice_action(
    callback: CallbackQuery,
    callback_data: ActionCallback,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    state: FSMContext,
    bot: Bot,
    payment_options: PaymentOptions | None = None,
    telegram_accounts: TelegramAccounts | None = None,
) -> None:
    if callback_data.id is None:
        await callback.answer(t("button.stale", locale), show_alert=True)
        return
    await act(callback, bus, actor, locale, state, bot, callback_data.id,
              NOTICE_ACTIONS[callback_data.kind], 0, payment_options, telegram_accounts)


async def on_notice_reschedule(
    callback: CallbackQuery, callback_data: ActionCallback, bus: MessageBus, actor: Actor,
    locale: str,
) -> None:
    await on_reschedule(callback, OrderCallback(order_id=callback_data.id or 0,
                                                action="reschedule"), bus, actor, locale)


async def on_book_provider(
    callback: CallbackQuery, callback_data: ActionCallback, bus: MessageBus, actor: Actor,
    locale: str, bot: Bot,
) -> None:
    await browse.send_card(bot, actor, bus, locale, callback_data.id or 0)
    await callback.answer()


async def act(
    callback: CallbackQuery,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    state: FSMContext,
    bot: Bot,
    order_id: int,
    action: str,
    value: int,
    payment_options: PaymentOptions | None,
    telegram_accounts: TelegramAccounts | None,
) -> None:
    """One action on one order: show it, or do what the button says and show the result."""
    options = payment_options or pay.DEFAULT_OPTIONS
    order = await own_order(bus, actor, order_id)
    key = callback_key(callback)
    if action in ("show", "refresh"):
        await _show_order(callback, bus, actor, locale, order)
    elif action == "pay":
        _customer(order, actor)
        order.ensure_verb("pay")
        text, markup = await pay.order_payment_menu(bus, actor, locale, order, options)
        await show(callback, text, markup)
    elif action == "cancel":
        if telegram_accounts is not None:
            telegram_accounts.remember(actor.user_id, actor.telegram_id)
        await _quote_cancel(callback, bus, actor, locale, order, changed=False)
    elif action == "cancel_yes":
        if telegram_accounts is not None:
            telegram_accounts.remember(actor.user_id, actor.telegram_id)
        party = order.party_of(actor.user_id) or Party.CUSTOMER
        quote = await reads.cancellation_quote(bus, order, party)
        if quote.fee.amount != value:
            await _quote_cancel(callback, bus, actor, locale, order, changed=True)
        else:
            done = await bus.handle(CancelOrder(order_id=order.id, actor_id=actor.user_id,
                                                idempotency_key=key))
            zero = Money.zero(done.price.currency)
            await show(callback, t("cancel.done", locale, number=done.number,
                                   fee=(done.fee or zero).format(),
                                   refund=(done.refund or zero).format()))
    elif action == "confirm":
        _customer(order, actor)
        done = await bus.handle(ConfirmOrder(order_id=order.id, actor_id=actor.user_id,
                                             idempotency_key=key))
        await show(callback, t("confirm.done", locale, number=done.number),
                   _stars_keyboard(done, locale))
    elif action == "review":
        await show(callback, t("review.prompt", locale, number=order.number),
                   _stars_keyboard(order, locale))
    elif action == "rate":
        if not 1 <= value <= 5:
            raise DomainError("error.review.invalid_rating", rating=value)
        await state.set_state(TextForm.review)
        await state.update_data(cust_text={"order_id": order.id, "rating": value})
        skip = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=t("button.skip", locale),
            callback_data=OrderCallback(order_id=order.id, action="review_skip", value=value).pack(),
        )]])
        await show(callback, t("review.words_prompt", locale, stars="★" * value), skip)
    elif action == "review_skip":
        await leave(state)
        await _submit_review(bus, actor, order, value, "", key)
        await show(callback, t("review.thanks", locale, stars="★" * value))
    elif action in ("dispute", "respond"):
        await state.set_state(TextForm.dispute)
        await state.update_data(cust_text={"order_id": order.id, "mode": action})
        await show(callback, t(f"dispute.{action}_prompt", locale, number=order.number))
    elif action == "tip":
        _customer(order, actor)
        order.ensure_verb("tip")
        amounts = TIPS.get(order.price.currency, TIPS["CNY"])
        row = [_money_button(order, "tip_amount", Money(a, order.price.currency)) for a in amounts]
        rows = [row, [_button(order, "show", locale)]]
        await show(callback, t("tip.prompt", locale, number=order.number),
                   InlineKeyboardMarkup(inline_keyboard=rows))
    elif action == "tip_amount":
        _customer(order, actor)
        amount = Money(value, order.price.currency)
        text, markup = await pay.extra_payment_menu(
            bus, actor, locale, order, "t", value, amount,
            t("tip.method", locale, amount=amount.format(), number=order.number), options)
        await show(callback, text, markup)
    elif action == "extend":
        _customer(order, actor)
        order.ensure_verb("extend")
        price = order.price.unit_price
        text, markup = await pay.extra_payment_menu(
            bus, actor, locale, order, "x", 1, price,
            t("extend.method", locale, unit=t(f"unit.{order.pricing_unit}", locale),
              amount=price.format(), number=order.number), options)
        await show(callback, text, markup)
    elif action == "raise":
        _customer(order, actor)
        order.ensure_verb("raise_price")
        subtotal = order.price.subtotal
        row = [
            _money_button(order, "raise_amount", Money(max(1, subtotal.amount * p // 100),
                                                         subtotal.currency), prefix=f"+{p}% ")
            for p in RAISES_PERCENT
        ]
        await show(callback, t("raise.prompt", locale, number=order.number,
                               total=order.price.total.format()),
                   InlineKeyboardMarkup(inline_keyboard=[row, [_button(order, "show", locale)]]))
    elif action == "raise_amount":
        _customer(order, actor)
        bonus = Money(value, order.price.currency)
        text, markup = await pay.extra_payment_menu(
            bus, actor, locale, order, "r", value, bonus,
            t("raise.method", locale, amount=bonus.format(), number=order.number), options)
        await show(callback, text, markup)
    elif action in ("agree", "decline"):
        done = await bus.handle(AnswerReschedule(order_id=order.id, agree=action == "agree",
                                                 actor_id=actor.user_id, idempotency_key=key))
        await _show_order(callback, bus, actor, locale, done)
    elif action == "again":
        if order.provider_id is not None:
            await browse.send_card(bot, actor, bus, locale, order.provider_id)
    else:
        await callback.answer(t("button.stale", locale), show_alert=True)
        return
    await callback.answer()


def _customer(order: Order, actor: Actor) -> None:
    if order.customer_id != actor.user_id:
        raise Forbidden("error.order.not_yours", number=order.number)


def _money_button(order: Order, action: str, amount: Money, prefix: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=prefix + amount.format(),
        callback_data=OrderCallback(order_id=order.id, action=action, value=amount.amount).pack(),
    )


def _stars_keyboard(order: Order, locale: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(
            text="★" * stars,
            callback_data=OrderCallback(order_id=order.id, action="rate", value=stars).pack(),
        )
        for stars in range(1, 6)
    ]])


async def _show_order(
    callback: CallbackQuery, bus: MessageBus, actor: Actor, locale: str, order: Order
) -> None:
    text, markup = await order_card(bus, actor, locale, order)
    await show(callback, text, markup)


async def _quote_cancel(
    callback: CallbackQuery, bus: MessageBus, actor: Actor, locale: str, order: Order,
    *, changed: bool,
) -> None:
    party = order.party_of(actor.user_id) or Party.CUSTOMER
    order.ensure_verb("cancel")
    quote = await reads.cancellation_quote(bus, order, party)
    if party is Party.PROVIDER:
        text = t("cancel.quote_provider", locale, number=order.number,
                 refund=quote.refund.format())
    elif quote.fee.is_positive():
        text = t("cancel.quote_fee", locale, number=order.number, fee=quote.fee.format(),
                 percent=f"{quote.fee_bps / 100:g}", refund=quote.refund.format())
    elif quote.refund.is_positive():
        text = t("cancel.quote_free", locale, number=order.number, refund=quote.refund.format())
    else:
        text = t("cancel.quote_unpaid", locale, number=order.number)
    if party is Party.PROVIDER:
        text += "\n" + t("cancel.provider_strike", locale)
    if changed:
        text = t("cancel.fee_changed", locale) + "\n" + text
    keep = InlineKeyboardButton(
        text=t("order.action.keep", locale),
        callback_data=OrderCallback(order_id=order.id, action="show").pack(),
    )
    markup = InlineKeyboardMarkup(inline_keyboard=[
        [_button(order, "cancel_yes", locale, value=quote.fee.amount)], [keep],
    ])
    await show(callback, text, markup)


async def _submit_review(
    bus: MessageBus, actor: Actor, order: Order, rating: int, text: str, key: str
) -> None:
    await bus.handle(SubmitReview(order_id=order.id, reviewer_id=actor.user_id, rating=rating,
                                  text=text, actor_id=actor.user_id, idempotency_key=key))


# -- typed answers ------------------------------------------------------------------------------


async def _text_data(state: FSMContext) -> dict[str, int | str]:
    value = (await state.get_data()).get("cust_text")
    return dict(value) if isinstance(value, dict) else {}


async def on_review_text(
    message: Message, bus: MessageBus, actor: Actor, locale: str, state: FSMContext,
    event_update: Update,
) -> None:
    assert message.text is not None
    data = await _text_data(state)
    await leave(state)
    if "order_id" not in data:
        raise DomainError("error.tgc.draft_expired")
    order = await own_order(bus, actor, int(data["order_id"]))
    rating = int(data["rating"])
    await _submit_review(bus, actor, order, rating, message.text.strip()[:MAX_TEXT],
                         update_key(event_update.update_id))
    await message.answer(t("review.thanks", locale, stars="★" * rating))


async def on_dispute_text(
    message: Message, bus: MessageBus, actor: Actor, locale: str, state: FSMContext,
    event_update: Update,
) -> None:
    assert message.text is not None
    data = await _text_data(state)
    await leave(state)
    if "order_id" not in data:
        raise DomainError("error.tgc.draft_expired")
    order_id = int(data["order_id"])
    text = message.text.strip()[:MAX_TEXT]
    key = update_key(event_update.update_id)
    if data.get("mode") == "respond":
        done = await bus.handle(RespondToDispute(order_id=order_id, response=text,
                                                 actor_id=actor.user_id, idempotency_key=key))
        await message.answer(t("dispute.responded", locale, number=done.number))
        return
    done = await bus.handle(OpenDispute(order_id=order_id, reason=text, actor_id=actor.user_id,
                                        idempotency_key=key))
    await message.answer(t("dispute.opened", locale, number=done.number))
