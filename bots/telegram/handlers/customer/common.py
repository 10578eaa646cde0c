"""What every customer flow shares: idempotency keys, answering in place, time zones, the
customer's view of an order, and the FSM bookkeeping that keeps other flows' data alone.

The FSM context is shared with every other flow of the bot (a provider's application form
may be half filled in), so customer flows keep their data under `cust_*` keys and only ever
leave states of their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove

from bots.i18n import gettext
from bots.telegram.middlewares import Actor
from core.booking.commands import GetOrder
from core.booking.model import Order
from core.identity.commands import GetUser
from core.messagebus import MessageBus
from core.shared.errors import Forbidden, NotFound
from core.shared.money import Money

DEFAULT_ZONE = "Asia/Shanghai"
PREFIX = "tgc."


def t(key: str, locale: str, /, **params: Any) -> str:
    """A customer-flow text (`tgc.<key>` in tg_customer.po)."""
    return gettext(PREFIX + key, locale, **params)


def callback_key(callback: CallbackQuery, step: int = 0) -> str:
    """The idempotency key of a tap; `step` tells apart several commands of one tap."""
    return f"tg:cb:{callback.id}" + (f":{step}" if step else "")


def update_key(update_id: int, step: int = 0) -> str:
    return f"tg:{update_id}" + (f":{step}" if step else "")


# -- answering --------------------------------------------------------------------------------


async def show(
    callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Replace the tapped message with `text` (a new message when it cannot be edited)."""
    message = callback.message
    if isinstance(message, Message) and message.text is not None:
        try:
            await message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as error:
            # Tapping the same button twice asks for an identical edit; Telegram refuses it.
            if "message is not modified" in error.message:
                return
            raise
    if isinstance(message, Message):
        await message.answer(text, reply_markup=markup)
    elif callback.from_user is not None and callback.bot is not None:
        await callback.bot.send_message(callback.from_user.id, text, reply_markup=markup)


async def say(message: Message, text: str, markup: Any = None) -> Message:
    return await message.answer(text, reply_markup=markup)


def no_keyboard() -> ReplyKeyboardRemove:
    return ReplyKeyboardRemove()


# -- time -------------------------------------------------------------------------------------


async def zone_of(bus: MessageBus, actor: Actor) -> ZoneInfo:
    """The time zone the customer reads times in (their profile's, Shanghai if unusable);
    the actor lookup already read it, so this asks the core only for an actor made without."""
    name = actor.timezone
    if name is None:
        user = await bus.handle(GetUser(user_id=actor.user_id, actor_id=actor.user_id))
        name = user.timezone
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def when(instant: datetime | None, zone: ZoneInfo, locale: str) -> str:
    """`01-12 (Mon) 10:00` in the reader's zone; "as soon as possible" for no time."""
    if instant is None:
        return t("time.now", locale)
    local = instant.astimezone(zone)
    weekday = t(f"weekday.{local.weekday()}", locale)
    return f"{local:%m-%d} ({weekday}) {local:%H:%M}"


def money(amount: Money | None) -> str:
    return amount.format() if amount is not None else "-"


# -- orders -----------------------------------------------------------------------------------


async def own_order(bus: MessageBus, actor: Actor, order_id: int) -> Order:
    """The order, if the actor is its customer or provider. Anyone else is told there is no
    such order, as for an id that does not exist: a forged button learns nothing.

    The core refuses a reader who is neither a party nor an operator; an operator may read
    any order, but in a customer's flow only their own is theirs to act on."""
    try:
        details = await bus.handle(GetOrder(order_id=order_id, actor_id=actor.user_id))
    except Forbidden as refused:
        if refused.key != "error.order.not_yours":
            raise
        raise NotFound("error.order.not_found", order=str(order_id)) from None
    order: Order = details.order
    if order.party_of(actor.user_id) is None:
        raise NotFound("error.order.not_found", order=str(order_id))
    return order


# -- FSM --------------------------------------------------------------------------------------


class DetailsForm(StatesGroup):
    """Typed details of a booking or an open request (the draft is `cust_draft`)."""

    address = State()
    notes = State()
    budget = State()


class TextForm(StatesGroup):
    """One line of text for something the customer started (see `cust_text`)."""

    search = State()
    tags = State()
    location = State()
    review = State()
    dispute = State()


MY_GROUPS = (DetailsForm, TextForm)


async def leave(state: FSMContext) -> None:
    """Leave a customer state (never someone else's form)."""
    current = await state.get_state()
    if current is not None and any(current in group.__all_states_names__ for group in MY_GROUPS):
        await state.set_state(None)


async def draft(state: FSMContext) -> dict[str, Any] | None:
    data = await state.get_data()
    value = data.get("cust_draft")
    return dict(value) if isinstance(value, dict) else None


async def save_draft(state: FSMContext, value: dict[str, Any] | None) -> None:
    await state.update_data(cust_draft=value)
