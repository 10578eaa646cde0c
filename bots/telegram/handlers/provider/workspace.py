"""`/workspace`: a provider's day in the chat.

- Presence: online, offline or on vacation (`SetPresence`); the "go online" button of a
  notice lands here too.
- Orders: the incoming, accepted and running ones as cards with the time left to answer and
  the buttons each state allows. Accept (`AcceptOrder`), reject with a reason picked or
  typed (`RejectOrder`), start (`StartOrder`; work at the customer's place checks in with a
  shared location or a photo), finish (`FinishOrder` with a proof photo; errands with the
  customer's delivery code). The same buttons under the core's order notices (including
  offers of open requests) reach the same handlers.
- Earnings: what is settling, available and being withdrawn per currency, and a withdrawal
  (`RequestWithdrawal`) with the payout methods this deployment offers for that currency.
- Reviews: the latest, and a reply to one (`ReplyToReview`).

Steps that need words or a file from the person (a reason, a code, a photo, an amount, a
reply) use the FSM; `/cancel` leaves them.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from bots.i18n import gettext
from bots.telegram.callbacks import ActionCallback
from bots.telegram.handlers.provider import drafts
from bots.telegram.handlers.provider.callbacks import (
    FinishWithoutPhoto,
    PresenceChoice,
    RejectReason,
    WithdrawAmount,
    WithdrawMethod,
    WithdrawStart,
    WorkspaceView,
)
from bots.telegram.handlers.provider.views import (
    file_of,
    local_time,
    parse_money,
    time_left,
    unit_name,
)
from bots.telegram.keyboards import keyboard_for
from bots.telegram.middlewares import Actor
from core.booking.commands import (
    AcceptOrder,
    FinishOrder,
    GetOrder,
    ListOrders,
    RejectOrder,
    StartOrder,
)
from core.booking.model import Order, Place
from core.booking.states import OrderState
from core.catalog.commands import GetProvider, ListCategories, SetPresence
from core.catalog.model import Category, Presence
from core.identity.commands import GetUser, UserView
from core.messagebus import MessageBus
from core.reviews.commands import ListProviderReviews, ReplyToReview
from core.shared.messages import Action
from core.shared.money import Money
from core.wallet.commands import GetStatement, ListWithdrawals, RequestWithdrawal
from core.wallet.gateways import PaymentGateways

# The order states a provider still has something to do in (or waits in), newest first.
OPEN_STATES = (
    OrderState.PENDING_ACCEPTANCE, OrderState.ACCEPTED, OrderState.IN_SERVICE,
    OrderState.DELIVERED,
)
PRESENCES = (Presence.ONLINE, Presence.OFFLINE, Presence.VACATION)
PRESENCE_ICONS = {"online": "🟢", "busy": "🟠", "offline": "⚪", "vacation": "🏖"}
REJECT_REASONS = ("busy", "too_far", "unavailable")
MAX_CARDS = 10
RECENT_REVIEWS = 5
# This flow's part of the person's FSM data (see `drafts`).
DRAFT = "provider_workspace"


class WorkspaceForm(StatesGroup):
    reject_reason = State()
    checkin = State()
    finish_code = State()
    finish_proof = State()
    withdraw_amount = State()
    review_reply = State()


W = WorkspaceForm
TEXT = F.text & ~F.text.startswith("/")


def router() -> Router:
    ws = Router(name="provider.workspace")
    ws.message.filter(F.chat.type == "private")
    ws.callback_query.filter(F.message.chat.type == "private")
    ws.message.register(on_cancel, Command("cancel"), StateFilter(WorkspaceForm))
    ws.message.register(on_workspace, Command("workspace"))
    ws.callback_query.register(on_view, WorkspaceView.filter())
    ws.callback_query.register(on_presence, PresenceChoice.filter())
    ws.callback_query.register(on_go_online, ActionCallback.filter(F.kind == "provider.go_online"))

    ws.callback_query.register(on_accept, ActionCallback.filter(F.kind == "order.accept"))
    ws.callback_query.register(on_reject, ActionCallback.filter(F.kind == "order.reject"))
    ws.callback_query.register(on_reject_reason, RejectReason.filter())
    ws.message.register(on_reject_reason_text, W.reject_reason, TEXT)
    ws.callback_query.register(on_start, ActionCallback.filter(F.kind == "order.start"))
    ws.message.register(on_checkin, W.checkin, F.location | F.photo)
    ws.callback_query.register(on_finish, ActionCallback.filter(F.kind == "order.finish"))
    ws.message.register(on_delivery_code, W.finish_code, TEXT)
    ws.message.register(on_proof, W.finish_proof, F.photo | F.document)
    ws.callback_query.register(on_finish_without_photo, FinishWithoutPhoto.filter())

    ws.callback_query.register(on_earnings_action, ActionCallback.filter(F.kind == "wallet.withdraw"))
    ws.callback_query.register(on_withdraw, WithdrawStart.filter())
    ws.message.register(on_withdraw_amount_text, W.withdraw_amount, TEXT)
    ws.callback_query.register(on_withdraw_amount, WithdrawAmount.filter())
    ws.callback_query.register(on_withdraw_method, WithdrawMethod.filter())

    ws.callback_query.register(on_reply, ActionCallback.filter(F.kind == "review.reply"))
    ws.message.register(on_reply_text, W.review_reply, TEXT)
    # Anything else while a step waits for words or a file: say again what it needs.
    ws.message.register(on_unexpected, StateFilter(WorkspaceForm), ~F.text.startswith("/"))
    return ws


async def on_cancel(message: Message, state: FSMContext, locale: str) -> None:
    await drafts.finish(state, DRAFT)
    await message.answer(gettext("tg.ws.cancelled", locale), reply_markup=ReplyKeyboardRemove())


async def on_unexpected(message: Message, state: FSMContext, locale: str) -> None:
    step = (await state.get_state() or "").split(":")[-1]
    await message.answer(gettext(f"tg.ws.expected.{step}", locale))


# -- the dashboard and presence -------------------------------------------------------------


async def on_workspace(message: Message, actor: Actor, locale: str, bus: MessageBus) -> None:
    text, markup = await dashboard(bus, actor, locale)
    await message.answer(text, reply_markup=markup)


async def on_view(
    callback: CallbackQuery, callback_data: WorkspaceView, actor: Actor, locale: str,
    bus: MessageBus,
) -> None:
    assert isinstance(callback.message, Message)
    view = callback_data.view
    if view == "home":
        text, markup = await dashboard(bus, actor, locale)
        await callback.message.edit_text(text, reply_markup=markup)
    elif view == "orders":
        await send_orders(callback.message, bus, actor, locale)
    elif view == "earnings":
        await send_earnings(callback.message, bus, actor, locale)
    elif view == "reviews":
        await send_reviews(callback.message, bus, actor, locale)
    await callback.answer()


async def on_presence(
    callback: CallbackQuery, callback_data: PresenceChoice, actor: Actor, locale: str,
    bus: MessageBus,
) -> None:
    await bus.handle(SetPresence(
        provider_id=actor.user_id, presence=callback_data.presence, actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}",
    ))
    text, markup = await dashboard(bus, actor, locale)
    assert isinstance(callback.message, Message)
    if text != callback.message.text:
        await callback.message.edit_text(text, reply_markup=markup)
    await callback.answer(gettext(f"tg.ws.presence.now_{callback_data.presence}", locale))


async def on_go_online(callback: CallbackQuery, actor: Actor, locale: str, bus: MessageBus) -> None:
    await bus.handle(SetPresence(
        provider_id=actor.user_id, presence=Presence.ONLINE.value, actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}",
    ))
    await _conclude(callback, gettext("tg.ws.presence.now_online", locale))


async def dashboard(bus: MessageBus, actor: Actor, locale: str) -> tuple[str, InlineKeyboardMarkup | None]:
    user = await _viewer(bus, actor)
    if "provider" not in user.roles:
        return gettext("tg.ws.not_provider", locale), None
    details = await bus.handle(GetProvider(provider_id=actor.user_id, actor_id=actor.user_id))
    profile = details.profile
    orders = await _open_orders(bus, actor)
    waiting = sum(1 for o in orders if o.state is OrderState.PENDING_ACCEPTANCE)
    text = "\n".join([
        gettext("tg.ws.title", locale, name=profile.display_name),
        gettext("tg.ws.status", locale, icon=PRESENCE_ICONS.get(profile.presence.value, ""),
                status=gettext(f"tg.ws.presence.{profile.presence.value}", locale)),
        gettext("tg.ws.rating", locale, rating=f"{profile.rating_average:.1f}",
                count=profile.rating_count, tier=profile.tier),
        gettext("tg.ws.orders_summary", locale, waiting=waiting, open=len(orders)),
    ])
    presence_row = [
        InlineKeyboardButton(
            text=("✓ " if profile.presence is presence else "")
            + gettext(f"tg.ws.presence.button_{presence.value}", locale),
            callback_data=PresenceChoice(presence=presence.value).pack(),
        )
        for presence in PRESENCES
    ]
    views_row = [
        InlineKeyboardButton(text=gettext(f"tg.ws.view.{view}", locale),
                             callback_data=WorkspaceView(view=view).pack())
        for view in ("orders", "earnings", "reviews")
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=[presence_row, views_row])


# -- orders ---------------------------------------------------------------------------------


async def send_orders(message: Message, bus: MessageBus, actor: Actor, locale: str) -> None:
    orders = await _open_orders(bus, actor)
    if not orders:
        await message.answer(gettext("tg.ws.orders.none", locale))
        return
    user = await _viewer(bus, actor)
    categories = {c.id: c for c in await bus.handle(ListCategories())}
    await message.answer(gettext("tg.ws.orders.title", locale, count=len(orders)))
    for order in orders[:MAX_CARDS]:
        await message.answer(
            order_card(order, categories.get(order.category_id), bus, locale, user.timezone),
            reply_markup=_order_buttons(order, locale),
        )


def order_card(order: Order, category: Category | None, bus: MessageBus, locale: str, timezone: str) -> str:
    lines = [
        gettext("tg.ws.order.title", locale, number=order.number,
                category=category.name(locale) if category else "—"),
        gettext("tg.ws.order.when", locale,
                start=local_time(order.scheduled_start, timezone) if order.scheduled_start
                else gettext("tg.ws.order.now", locale),
                units=order.price.units, unit=unit_name(order.pricing_unit, locale)),
        gettext("tg.ws.order.total", locale, total=order.price.total.format()),
    ]
    if order.address:
        lines.append(gettext("tg.ws.order.address", locale, address=order.address))
    if order.notes:
        lines.append(gettext("tg.ws.order.notes", locale, notes=order.notes))
    state = gettext(f"tg.ws.state.{order.state.value}", locale)
    if order.state is OrderState.PENDING_ACCEPTANCE:
        state += " · " + time_left(order.accept_deadline, bus.clock.now(), locale)
    lines.append(state)
    return "\n".join(lines)


def _order_buttons(order: Order, locale: str) -> InlineKeyboardMarkup | None:
    kinds = {
        OrderState.PENDING_ACCEPTANCE: ("order.accept", "order.reject"),
        OrderState.ACCEPTED: ("order.start",),
        OrderState.IN_SERVICE: ("order.finish",),
    }.get(order.state, ())
    return _action_keyboard([Action(kind, {"order_id": order.id}) for kind in kinds], locale)


async def on_accept(callback: CallbackQuery, callback_data: ActionCallback, actor: Actor,
                    locale: str, bus: MessageBus) -> None:
    order = await bus.handle(AcceptOrder(
        order_id=_id(callback_data), actor_id=actor.user_id, idempotency_key=f"tg:cb:{callback.id}",
    ))
    await _conclude(callback, gettext("tg.ws.accepted", locale, number=order.number))


async def on_reject(callback: CallbackQuery, callback_data: ActionCallback, locale: str) -> None:
    assert isinstance(callback.message, Message)
    order_id = _id(callback_data)
    rows = [
        [InlineKeyboardButton(text=gettext(f"tg.ws.reject.reason.{reason}", locale),
                              callback_data=RejectReason(order_id=order_id, reason=reason).pack())]
        for reason in (*REJECT_REASONS, "other")
    ]
    rows.append([InlineKeyboardButton(text=gettext("tg.ws.button.back", locale),
                                      callback_data=RejectReason(order_id=order_id, reason="back").pack())])
    await callback.message.edit_reply_markup(reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
    await callback.answer(gettext("tg.ws.reject.choose", locale))


async def on_reject_reason(
    callback: CallbackQuery, callback_data: RejectReason, state: FSMContext, actor: Actor,
    locale: str, bus: MessageBus,
) -> None:
    assert isinstance(callback.message, Message)
    order_id, reason = callback_data.order_id, callback_data.reason
    if reason == "back":
        actions = [Action("order.accept", {"order_id": order_id}), Action("order.reject", {"order_id": order_id})]
        await callback.message.edit_reply_markup(reply_markup=_action_keyboard(actions, locale))
        await callback.answer()
        return
    if reason == "other":
        await state.set_state(W.reject_reason)
        await drafts.keep(state, DRAFT, order_id=order_id, card=_card_of(callback.message))
        await callback.message.answer(gettext("tg.ws.reject.ask", locale))
        await callback.answer()
        return
    order = await bus.handle(RejectOrder(
        order_id=order_id, reason=gettext(f"tg.ws.reject.reason.{reason}", locale),
        actor_id=actor.user_id, idempotency_key=f"tg:cb:{callback.id}",
    ))
    await _conclude(callback, gettext("tg.ws.rejected", locale, number=order.number))


async def on_reject_reason_text(
    message: Message, state: FSMContext, actor: Actor, locale: str, bus: MessageBus,
    event_update: Update, bot: Bot,
) -> None:
    assert message.text is not None
    data = await drafts.draft(state, DRAFT)
    order = await bus.handle(RejectOrder(
        order_id=data["order_id"], reason=message.text, actor_id=actor.user_id,
        idempotency_key=f"tg:{event_update.update_id}",
    ))
    await drafts.finish(state, DRAFT)
    line = gettext("tg.ws.rejected", locale, number=order.number)
    await _edit_card(bot, data.get("card"), line)
    await message.answer(line)


async def on_start(callback: CallbackQuery, callback_data: ActionCallback, state: FSMContext,
                   actor: Actor, locale: str, bus: MessageBus) -> None:
    assert isinstance(callback.message, Message)
    order = (await bus.handle(GetOrder(order_id=_id(callback_data), actor_id=actor.user_id))).order
    if order.kind == "on_site" and order.provider_id == actor.user_id:
        # The core asks for a check-in at the customer's place: a location or a photo.
        await state.set_state(W.checkin)
        await drafts.keep(state, DRAFT, order_id=order.id, card=_card_of(callback.message))
        await callback.message.answer(
            gettext("tg.ws.checkin.ask", locale, number=order.number),
            reply_markup=ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text=gettext("tg.ws.checkin.button", locale),
                                          request_location=True)]],
                resize_keyboard=True, one_time_keyboard=True,
            ),
        )
        await callback.answer()
        return
    started = await bus.handle(StartOrder(
        order_id=order.id, actor_id=actor.user_id, idempotency_key=f"tg:cb:{callback.id}",
    ))
    await _conclude(callback, gettext("tg.ws.started", locale, number=started.number))
    await _offer_finish(callback.message, started, locale)


async def on_checkin(message: Message, state: FSMContext, actor: Actor, locale: str,
                     bus: MessageBus, event_update: Update, bot: Bot) -> None:
    data = await drafts.draft(state, DRAFT)
    place = Place(message.location.latitude, message.location.longitude) if message.location else None
    order = await bus.handle(StartOrder(
        order_id=data["order_id"], location=place, photo=None if place else file_of(message),
        actor_id=actor.user_id, idempotency_key=f"tg:{event_update.update_id}",
    ))
    await drafts.finish(state, DRAFT)
    line = gettext("tg.ws.started", locale, number=order.number)
    await _edit_card(bot, data.get("card"), line)
    await message.answer(line, reply_markup=ReplyKeyboardRemove())
    await _offer_finish(message, order, locale)


async def _offer_finish(message: Message, order: Order, locale: str) -> None:
    await message.answer(
        gettext("tg.ws.finish.hint", locale, number=order.number),
        reply_markup=_action_keyboard([Action("order.finish", {"order_id": order.id})], locale),
    )


async def on_finish(callback: CallbackQuery, callback_data: ActionCallback, state: FSMContext,
                    actor: Actor, locale: str, bus: MessageBus) -> None:
    assert isinstance(callback.message, Message)
    order = (await bus.handle(GetOrder(order_id=_id(callback_data), actor_id=actor.user_id))).order
    if order.provider_id != actor.user_id or order.state is not OrderState.IN_SERVICE:
        # Let the core say why (not yours, not started, already done).
        await bus.handle(FinishOrder(order_id=order.id, actor_id=actor.user_id,
                                     idempotency_key=f"tg:cb:{callback.id}"))
        return
    await drafts.keep(state, DRAFT, order_id=order.id, card=_card_of(callback.message))
    if order.kind == "errand":
        await state.set_state(W.finish_code)
        await callback.message.answer(gettext("tg.ws.finish.ask_code", locale, number=order.number))
    else:
        await state.set_state(W.finish_proof)
        await callback.message.answer(
            gettext("tg.ws.finish.ask_proof", locale, number=order.number),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
                text=gettext("tg.ws.finish.without_photo", locale),
                callback_data=FinishWithoutPhoto(order_id=order.id).pack(),
            )]]),
        )
    await callback.answer()


async def on_delivery_code(message: Message, state: FSMContext, actor: Actor, locale: str,
                           bus: MessageBus, event_update: Update, bot: Bot) -> None:
    data = await drafts.draft(state, DRAFT)
    order = await bus.handle(FinishOrder(
        order_id=data["order_id"], delivery_code=message.text, actor_id=actor.user_id,
        idempotency_key=f"tg:{event_update.update_id}",
    ))
    await _finished(message, state, bot, data, order, locale)


async def on_proof(message: Message, state: FSMContext, actor: Actor, locale: str,
                   bus: MessageBus, event_update: Update, bot: Bot) -> None:
    data = await drafts.draft(state, DRAFT)
    order = await bus.handle(FinishOrder(
        order_id=data["order_id"], proof=file_of(message), actor_id=actor.user_id,
        idempotency_key=f"tg:{event_update.update_id}",
    ))
    await _finished(message, state, bot, data, order, locale)


async def on_finish_without_photo(
    callback: CallbackQuery, callback_data: FinishWithoutPhoto, state: FSMContext, actor: Actor,
    locale: str, bus: MessageBus,
) -> None:
    order = await bus.handle(FinishOrder(
        order_id=callback_data.order_id, actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}",
    ))
    await drafts.finish(state, DRAFT)
    await _conclude(callback, gettext("tg.ws.finished", locale, number=order.number))


async def _finished(message: Message, state: FSMContext, bot: Bot, data: dict[str, Any],
                    order: Order, locale: str) -> None:
    await drafts.finish(state, DRAFT)
    line = gettext("tg.ws.finished", locale, number=order.number)
    await _edit_card(bot, data.get("card"), line)
    await message.answer(line)


# -- earnings and withdrawals ---------------------------------------------------------------


async def on_earnings_action(callback: CallbackQuery, actor: Actor, locale: str, bus: MessageBus) -> None:
    assert isinstance(callback.message, Message)
    await send_earnings(callback.message, bus, actor, locale)
    await callback.answer()


async def send_earnings(message: Message, bus: MessageBus, actor: Actor, locale: str) -> None:
    statement = await bus.handle(GetStatement(user_id=actor.user_id, actor_id=actor.user_id, limit=1))
    balances = [
        b for b in statement.balances
        if b.earnings_pending.amount or b.earnings_available.amount or b.withdrawing.amount
    ]
    lines = [gettext("tg.ws.earnings.title", locale)]
    if not balances:
        lines.append(gettext("tg.ws.earnings.none", locale))
    for balance in balances:
        lines.append(gettext(
            "tg.ws.earnings.line", locale, currency=balance.currency,
            available=balance.earnings_available.format(), pending=balance.earnings_pending.format(),
            withdrawing=balance.withdrawing.format(),
        ))
    withdrawals = await bus.handle(
        ListWithdrawals(provider_id=actor.user_id, actor_id=actor.user_id, limit=5)
    )
    if withdrawals:
        lines.append(gettext("tg.ws.withdrawals.title", locale))
        lines.extend(
            gettext("tg.ws.withdrawals.line", locale, id=w.id, amount=w.amount.format(),
                    status=gettext(f"tg.ws.withdrawal.{w.status.value}", locale))
            for w in withdrawals
        )
    buttons = [
        [InlineKeyboardButton(text=gettext("tg.ws.withdraw.button", locale, currency=b.currency),
                              callback_data=WithdrawStart(currency=b.currency).pack())]
        for b in balances if b.earnings_available.is_positive()
    ]
    await message.answer(
        "\n".join(lines),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None,
    )


async def on_withdraw(callback: CallbackQuery, callback_data: WithdrawStart, state: FSMContext,
                      actor: Actor, locale: str, bus: MessageBus) -> None:
    assert isinstance(callback.message, Message)
    currency = callback_data.currency
    statement = await bus.handle(
        GetStatement(user_id=actor.user_id, currency=currency, actor_id=actor.user_id, limit=1)
    )
    available = next(
        (b.earnings_available for b in statement.balances if b.currency == currency),
        Money.zero(currency),
    )
    await state.set_state(W.withdraw_amount)
    await drafts.keep(state, DRAFT, currency=currency)
    await callback.message.answer(
        gettext("tg.ws.withdraw.ask", locale, available=available.format()),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=gettext("tg.ws.withdraw.all", locale, amount=available.format()),
            callback_data=WithdrawAmount(currency=currency, amount=available.amount).pack(),
        )]]),
    )
    await callback.answer()


async def on_withdraw_amount_text(message: Message, state: FSMContext, actor: Actor,
                                  locale: str, bus: MessageBus, event_update: Update) -> None:
    assert message.text is not None
    currency = (await drafts.draft(state, DRAFT))["currency"]
    amount = parse_money(message.text, currency)
    await _choose_method(message, state, actor, locale, bus, amount, f"tg:{event_update.update_id}")


async def on_withdraw_amount(
    callback: CallbackQuery, callback_data: WithdrawAmount, state: FSMContext, actor: Actor,
    locale: str, bus: MessageBus,
) -> None:
    assert isinstance(callback.message, Message)
    amount = Money(callback_data.amount, callback_data.currency)
    await callback.message.edit_reply_markup(reply_markup=None)
    await _choose_method(callback.message, state, actor, locale, bus, amount, f"tg:cb:{callback.id}")
    await callback.answer()


async def _choose_method(message: Message, state: FSMContext, actor: Actor, locale: str,
                         bus: MessageBus, amount: Money, key: str) -> None:
    methods = payout_methods(bus, amount.currency)
    if not methods:
        await drafts.finish(state, DRAFT)
        await message.answer(gettext("tg.ws.withdraw.no_method", locale, currency=amount.currency))
        return
    if len(methods) == 1:
        await _withdraw(message, state, actor, locale, bus, amount, methods[0], key)
        return
    await message.answer(
        gettext("tg.ws.withdraw.method", locale, amount=amount.format()),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[
            [InlineKeyboardButton(
                text=gettext(f"tg.ws.payout.{method}", locale),
                callback_data=WithdrawMethod(currency=amount.currency, amount=amount.amount,
                                             method=method).pack(),
            )]
            for method in methods
        ]),
    )


async def on_withdraw_method(
    callback: CallbackQuery, callback_data: WithdrawMethod, state: FSMContext, actor: Actor,
    locale: str, bus: MessageBus,
) -> None:
    assert isinstance(callback.message, Message)
    await callback.message.edit_reply_markup(reply_markup=None)
    amount = Money(callback_data.amount, callback_data.currency)
    await _withdraw(callback.message, state, actor, locale, bus, amount, callback_data.method,
                    f"tg:cb:{callback.id}")
    await callback.answer()


async def _withdraw(message: Message, state: FSMContext, actor: Actor, locale: str,
                    bus: MessageBus, amount: Money, method: str, key: str) -> None:
    withdrawal = await bus.handle(RequestWithdrawal(
        provider_id=actor.user_id, amount=amount, method=method, actor_id=actor.user_id,
        idempotency_key=key,
    ))
    await drafts.finish(state, DRAFT)
    await message.answer(gettext(
        "tg.ws.withdraw.sent", locale, id=withdrawal.id, amount=withdrawal.amount.format(),
        fee=withdrawal.fee.format(), payout=withdrawal.payout.format(),
    ))


def payout_methods(bus: MessageBus, currency: str) -> list[str]:
    """The payout methods this deployment registered that pay out in `currency`.

    The registry is the bus's own `payment_gateways` dependency, the one
    `RequestWithdrawal` checks, so the choice offered is exactly what it accepts.
    """
    gateways = bus.dependencies.get("payment_gateways")
    if not isinstance(gateways, PaymentGateways):
        return []
    found = []
    for name in gateways.names():
        gateway = gateways.get(name)
        if gateway.supports_payout and currency in gateway.currencies:
            found.append(name)
    return found


# -- reviews --------------------------------------------------------------------------------


async def send_reviews(message: Message, bus: MessageBus, actor: Actor, locale: str) -> None:
    page = await bus.handle(ListProviderReviews(provider_id=actor.user_id, limit=RECENT_REVIEWS))
    if not page.reviews:
        await message.answer(gettext("tg.ws.reviews.none", locale))
        return
    await message.answer(gettext("tg.ws.reviews.title", locale, total=page.total))
    for review in page.reviews:
        lines = [gettext(
            "tg.ws.review.line", locale, stars="★" * review.rating + "☆" * (5 - review.rating),
            name=review.reviewer_name or gettext("tg.ws.review.anonymous", locale),
            text=review.text or "—",
        )]
        markup = None
        if review.reply_text:
            lines.append(gettext("tg.ws.review.your_reply", locale, reply=review.reply_text))
        else:
            markup = _action_keyboard(
                [Action("review.reply", {"review_id": review.id}, "review.action.reply")], locale
            )
        await message.answer("\n".join(lines), reply_markup=markup)


async def on_reply(callback: CallbackQuery, callback_data: ActionCallback, state: FSMContext,
                   locale: str) -> None:
    assert isinstance(callback.message, Message)
    await state.set_state(W.review_reply)
    await drafts.keep(state, DRAFT, review_id=_id(callback_data), card=_card_of(callback.message))
    await callback.message.answer(gettext("tg.ws.reply.ask", locale))
    await callback.answer()


async def on_reply_text(message: Message, state: FSMContext, actor: Actor, locale: str,
                        bus: MessageBus, event_update: Update, bot: Bot) -> None:
    assert message.text is not None
    data = await drafts.draft(state, DRAFT)
    await bus.handle(ReplyToReview(
        review_id=data["review_id"], provider_id=actor.user_id, text=message.text,
        actor_id=actor.user_id, idempotency_key=f"tg:{event_update.update_id}",
    ))
    await drafts.finish(state, DRAFT)
    line = gettext("tg.ws.reply.sent", locale)
    await _edit_card(bot, data.get("card"), line)
    await message.answer(line)


# -- helpers --------------------------------------------------------------------------------


async def _viewer(bus: MessageBus, actor: Actor) -> UserView:
    user: UserView = await bus.handle(GetUser(user_id=actor.user_id, actor_id=actor.user_id))
    return user


async def _open_orders(bus: MessageBus, actor: Actor) -> list[Order]:
    orders: list[Order] = await bus.handle(ListOrders(provider_id=actor.user_id, limit=100))
    return [o for o in orders if o.state in OPEN_STATES]


def _id(callback_data: ActionCallback) -> int:
    return int(callback_data.id or 0)


def _action_keyboard(actions: list[Action], locale: str) -> InlineKeyboardMarkup | None:
    """The same buttons a notice with these actions would have."""
    return keyboard_for(actions, locale)


def _card_of(message: Message) -> dict[str, Any]:
    """Where a card is, so a step finished later can mark it done."""
    return {"chat_id": message.chat.id, "message_id": message.message_id, "text": message.text or ""}


async def _edit_card(bot: Bot, card: dict[str, Any] | None, line: str) -> None:
    if not card or not card.get("text"):
        return
    await bot.edit_message_text(
        text=f"{card['text']}\n\n{line}", chat_id=card["chat_id"], message_id=card["message_id"],
    )


async def _conclude(callback: CallbackQuery, line: str) -> None:
    """Mark the tapped card with what happened and take its buttons away."""
    if isinstance(callback.message, Message) and callback.message.text:
        await callback.message.edit_text(f"{callback.message.text}\n\n{line}")
    await callback.answer(line)
