"""The last steps of a booking or an open request: address (typed or shared as a location)
where the service comes to the customer, notes, a summary to confirm, then payment.

The draft waits in the FSM data under `cust_draft` (`flow` is "book" or "request"), so a
restart with Redis storage keeps it; a confirmation whose draft is gone is refused clearly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)

from bots.telegram.handlers.customer import pay
from bots.telegram.handlers.customer.callbacks import DraftCallback
from bots.telegram.handlers.customer.common import (
    DetailsForm,
    TextForm,
    callback_key,
    draft,
    leave,
    no_keyboard,
    save_draft,
    show,
    t,
    when,
    zone_of,
)
from bots.telegram.middlewares import Actor
from bots.telegram.payments import PaymentOptions
from core.booking.commands import BookOrder, PublishOpenOrder
from core.booking.model import Order, Place
from core.catalog.handlers import ProviderDetails
from core.catalog.model import LOCAL_KINDS, Category, Offer
from core.messagebus import MessageBus
from core.shared.errors import DomainError
from core.shared.money import CURRENCIES, Money

MAX_NOTES = 500
MAX_ADDRESS = 200


def router() -> Router:
    steps = Router(name="customer.details")
    typed = (F.text, ~F.text.startswith("/"))
    steps.message.register(on_cancel, Command("cancel"), StateFilter(DetailsForm, TextForm))
    steps.message.register(on_address_location, StateFilter(DetailsForm.address), F.location)
    steps.message.register(on_address_text, StateFilter(DetailsForm.address), *typed)
    steps.message.register(on_notes, StateFilter(DetailsForm.notes), *typed)
    steps.message.register(on_budget, StateFilter(DetailsForm.budget), *typed)
    steps.callback_query.register(on_skip, DraftCallback.filter(F.action == "skip"))
    steps.callback_query.register(on_abort, DraftCallback.filter(F.action == "abort"))
    steps.callback_query.register(on_confirm, DraftCallback.filter(F.action == "confirm"))
    return steps


# -- starting ------------------------------------------------------------------------------------


async def begin_booking(
    callback: CallbackQuery, bus: MessageBus, actor: Actor, locale: str, state: FSMContext,
    provider: ProviderDetails, offer: Offer, category: Category, units: int,
    start: datetime | None,
) -> None:
    await save_draft(state, {
        "flow": "book", "provider_id": provider.profile.user_id,
        "provider_name": provider.profile.display_name, "offer_id": offer.id,
        "category_id": category.id, "category_name": category.name(locale),
        "kind": category.kind.value, "unit": category.pricing_unit.value, "units": units,
        "unit_price": [offer.unit_price.amount, offer.unit_price.currency],
        "start": start.isoformat() if start else None,
    })
    await next_step(callback.message, bus, actor, locale, state, callback=callback)


async def next_step(
    message: Any, bus: MessageBus, actor: Actor, locale: str, state: FSMContext,
    *, callback: CallbackQuery | None = None,
) -> None:
    """Ask for what the draft still lacks: an address, then notes, then confirmation."""
    current = await draft(state)
    if current is None:
        raise DomainError("error.tgc.draft_expired")
    if current["flow"] == "request" and "unit_price" not in current:
        await state.set_state(DetailsForm.budget)
        await _send(message, callback, t("details.budget_prompt", locale,
                                         unit=t(f"unit.{current['unit']}", locale)), None)
        return
    if current["kind"] in LOCAL_KINDS and "address" not in current:
        await state.set_state(DetailsForm.address)
        await _send(message, callback, t("details.address_prompt", locale),
                    address_keyboard(locale))
        return
    if "notes" not in current:
        await state.set_state(DetailsForm.notes)
        skip = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=t("button.skip", locale),
                                 callback_data=DraftCallback(action="skip").pack()),
            InlineKeyboardButton(text=t("button.cancel", locale),
                                 callback_data=DraftCallback(action="abort").pack()),
        ]])
        await _send(message, callback, t("details.notes_prompt", locale), skip)
        return
    await leave(state)
    confirm = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=t("details.confirm", locale),
                             callback_data=DraftCallback(action="confirm").pack()),
        InlineKeyboardButton(text=t("button.cancel", locale),
                             callback_data=DraftCallback(action="abort").pack()),
    ]])
    await _send(message, callback, await summary(bus, actor, locale, current), confirm)


async def _send(message: Any, callback: CallbackQuery | None, text: str, markup: Any) -> None:
    if callback is not None and (markup is None or isinstance(markup, InlineKeyboardMarkup)):
        await show(callback, text, markup)
    elif isinstance(message, Message):
        await message.answer(text, reply_markup=markup)


def address_keyboard(locale: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=t("details.share_location", locale),
                                  request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


async def summary(bus: MessageBus, actor: Actor, locale: str, current: dict[str, Any]) -> str:
    zone = await zone_of(bus, actor)
    start = datetime.fromisoformat(current["start"]) if current.get("start") else None
    unit_price = Money(int(current["unit_price"][0]), current["unit_price"][1])
    units = int(current["units"])
    lines = [t(f"details.summary.{current['flow']}", locale)]
    if current["flow"] == "book":
        lines.append(t("details.provider", locale, name=current["provider_name"]))
    lines += [
        t("details.service", locale, category=current.get("category_name") or "",
          units=units, unit=t(f"unit.{current['unit']}", locale)),
        t("details.time", locale, start=when(start, zone, locale), zone=zone.key),
    ]
    if current.get("address"):
        lines.append(t("details.address", locale, address=current["address"]))
    elif current.get("place"):
        lines.append(t("details.location", locale, lat=f"{current['place'][0]:.5f}",
                       lon=f"{current['place'][1]:.5f}"))
    if current.get("notes"):
        lines.append(t("details.notes", locale, notes=current["notes"]))
    key = "details.total" if current["flow"] == "book" else "details.budget_total"
    lines.append(t(key, locale, total=(unit_price * units).format(), unit_price=unit_price.format()))
    return "\n".join(lines)


# -- typed details -------------------------------------------------------------------------------


async def on_address_text(
    message: Message, bus: MessageBus, actor: Actor, locale: str, state: FSMContext
) -> None:
    assert message.text is not None
    address = message.text.strip()
    if len(address) > MAX_ADDRESS:
        await message.answer(t("details.too_long", locale, maximum=MAX_ADDRESS))
        return
    await _update(state, address=address, place=None)
    await message.answer(t("details.address_saved", locale), reply_markup=no_keyboard())
    await next_step(message, bus, actor, locale, state)


async def on_address_location(
    message: Message, bus: MessageBus, actor: Actor, locale: str, state: FSMContext
) -> None:
    assert message.location is not None
    place = [message.location.latitude, message.location.longitude]
    await _update(state, address=None, place=place)
    await message.answer(t("details.address_saved", locale), reply_markup=no_keyboard())
    await next_step(message, bus, actor, locale, state)


async def on_notes(
    message: Message, bus: MessageBus, actor: Actor, locale: str, state: FSMContext
) -> None:
    assert message.text is not None
    notes = message.text.strip()
    if len(notes) > MAX_NOTES:
        await message.answer(t("details.too_long", locale, maximum=MAX_NOTES))
        return
    await _update(state, notes=notes)
    await next_step(message, bus, actor, locale, state)


async def on_budget(
    message: Message, bus: MessageBus, actor: Actor, locale: str, state: FSMContext
) -> None:
    """A budget per unit: `80` (yuan), `80 CNY`, `¥80`, `500 XTR` (Stars)."""
    assert message.text is not None
    budget = parse_budget(message.text)
    if budget is None:
        await message.answer(t("details.budget_invalid", locale))
        return
    await _update(state, unit_price=[budget.amount, budget.currency])
    await next_step(message, bus, actor, locale, state)


def parse_budget(text: str) -> Money | None:
    words = text.replace("¥", " CNY ").replace("$", " USD ").replace("⭐", " XTR ").split()
    currencies = [w.upper() for w in words if w.upper() in CURRENCIES]
    numbers = [w for w in words if w.upper() not in CURRENCIES]
    if len(numbers) != 1 or len(currencies) > 1:
        return None
    try:
        amount = Money.parse(numbers[0], currencies[0] if currencies else "CNY")
    except DomainError:
        return None
    return amount if amount.is_positive() else None


async def _update(state: FSMContext, **changes: Any) -> None:
    current = await draft(state)
    if current is None:
        await leave(state)
        raise DomainError("error.tgc.draft_expired")
    current.update(changes)
    await save_draft(state, current)


async def on_skip(
    callback: CallbackQuery, bus: MessageBus, actor: Actor, locale: str, state: FSMContext
) -> None:
    await _update(state, notes="")
    await next_step(callback.message, bus, actor, locale, state, callback=callback)
    await callback.answer()


async def on_cancel(message: Message, locale: str, state: FSMContext) -> None:
    """`/cancel` while the bot waits for typed details: drop the draft, say so."""
    await leave(state)
    await save_draft(state, None)
    await message.answer(t("details.aborted", locale), reply_markup=no_keyboard())


async def on_abort(callback: CallbackQuery, locale: str, state: FSMContext) -> None:
    await leave(state)
    await save_draft(state, None)
    await show(callback, t("details.aborted", locale))
    await callback.answer()


# -- confirming ----------------------------------------------------------------------------------


async def on_confirm(
    callback: CallbackQuery,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    state: FSMContext,
    event_update: Update,
    payment_options: PaymentOptions | None = None,
) -> None:
    current = await draft(state)
    if current is None or "notes" not in current:
        raise DomainError("error.tgc.draft_expired")
    start = datetime.fromisoformat(current["start"]) if current.get("start") else None
    place = Place(*current["place"]) if current.get("place") else None
    common: dict[str, Any] = {
        "units": int(current["units"]), "start": start, "address": current.get("address"),
        "place": place, "notes": current.get("notes") or "", "actor_id": actor.user_id,
        "idempotency_key": callback_key(callback),
    }
    order: Order
    if current["flow"] == "book":
        order = await bus.handle(BookOrder(offer_id=int(current["offer_id"]), **common))
    else:
        order = await bus.handle(PublishOpenOrder(
            category_id=int(current["category_id"]),
            unit_price=Money(int(current["unit_price"][0]), current["unit_price"][1]),
            **common,
        ))
    await save_draft(state, None)
    text, markup = await pay.order_payment_menu(
        bus, actor, locale, order, payment_options or pay.DEFAULT_OPTIONS
    )
    await show(callback, text, markup)
    await callback.answer(t("details.placed_alert", locale, number=order.number))
