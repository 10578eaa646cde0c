"""Publishing an open request: a category, how many units, when (now or a day and hour),
a budget per unit, then the details and payment. Qualified providers get it in waves
(favourites, then the best nearby, then everyone); the order card shows the wave it is in
and lets the customer raise the price between waves.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bots.telegram.calendar import (
    month_keyboard,
    open_request_days,
    open_request_starts,
    times_keyboard,
)
from bots.telegram.handlers.customer import details, reads
from bots.telegram.handlers.customer.callbacks import (
    CalendarCallback,
    RequestCallback,
    day_number,
)
from bots.telegram.handlers.customer.common import draft, leave, save_draft, show, t, zone_of
from bots.telegram.middlewares import Actor
from core.catalog.model import Category, PricingUnit
from core.messagebus import MessageBus
from core.shared.errors import DomainError

UNIT_CHOICES = (1, 2, 3, 4)


def router() -> Router:
    request = Router(name="customer.request")
    request.message.register(on_request, Command("request"))
    request.callback_query.register(on_category, RequestCallback.filter(F.step == "cat"))
    request.callback_query.register(on_units, RequestCallback.filter(F.step == "units"))
    request.callback_query.register(on_time, CalendarCallback.filter(F.mode == "o"))
    return request


def _menu(categories: dict[int, Category], parent: Category | None, locale: str) -> InlineKeyboardMarkup:
    parent_id = parent.id if parent else None
    children = sorted((c for c in categories.values() if c.parent_id == parent_id),
                      key=lambda c: (c.sort_order, c.id))
    rows = [[InlineKeyboardButton(
        text=c.name(locale), callback_data=RequestCallback(step="cat", value=c.id).pack()
    )] for c in children]
    if parent is not None:
        rows.append([InlineKeyboardButton(
            text=t("button.back", locale),
            callback_data=RequestCallback(step="cat", value=parent.parent_id or 0).pack(),
        )])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def on_request(message: Message, bus: MessageBus, locale: str, state: FSMContext) -> None:
    await leave(state)
    await message.answer(t("request.intro", locale),
                         reply_markup=_menu(await reads.categories(bus), None, locale))


async def on_category(
    callback: CallbackQuery, callback_data: RequestCallback, bus: MessageBus, locale: str,
    state: FSMContext,
) -> None:
    categories = await reads.categories(bus)
    category = categories.get(callback_data.value)
    if category is None or any(c.parent_id == category.id for c in categories.values()):
        await show(callback, t("request.intro", locale), _menu(categories, category, locale))
        await callback.answer()
        return
    await save_draft(state, {
        "flow": "request", "category_id": category.id, "category_name": category.name(locale),
        "kind": category.kind.value, "unit": category.pricing_unit.value,
    })
    choices = (1,) if category.pricing_unit is PricingUnit.BASE_PER_KM else tuple(
        n for n in range(max(1, category.min_units), max(1, category.min_units) + len(UNIT_CHOICES))
    )
    unit = t(f"unit.{category.pricing_unit.value}", locale)
    row = [InlineKeyboardButton(text=t("request.units_button", locale, units=n, unit=unit),
                                callback_data=RequestCallback(step="units", value=n).pack())
           for n in choices]
    await show(callback, t("request.units", locale, category=category.name(locale)),
               InlineKeyboardMarkup(inline_keyboard=[row]))
    await callback.answer()


async def _current(state: FSMContext) -> dict[str, object]:
    current = await draft(state)
    if current is None or current.get("flow") != "request":
        raise DomainError("error.tgc.draft_expired")
    return current


async def on_units(
    callback: CallbackQuery, callback_data: RequestCallback, bus: MessageBus, actor: Actor,
    locale: str, state: FSMContext,
) -> None:
    current = await _current(state)
    if not 1 <= callback_data.value <= 100:
        raise DomainError("error.order.invalid_units", units=callback_data.value)
    current["units"] = callback_data.value
    await save_draft(state, current)
    text, markup = await _days(bus, actor, locale, current)
    await show(callback, text, markup)
    await callback.answer()


async def _days(
    bus: MessageBus, actor: Actor, locale: str, current: dict[str, object]
) -> tuple[str, InlineKeyboardMarkup]:
    zone = await zone_of(bus, actor)
    now = bus.clock.now()
    today = now.astimezone(zone).date()
    days = open_request_days(now, zone)
    category_id, units = int(str(current["category_id"])), int(str(current["units"]))

    def data(action: str, **fields: int) -> str:
        return CalendarCallback(mode="o", ref=category_id, owner=0, units=units, action=action,
                                **fields).pack()

    last = max(days) if days else today
    months = sorted({(d.year, d.month) for d in days} or {(today.year, today.month)})
    rows: list[list[InlineKeyboardButton]] = [
        [InlineKeyboardButton(text=t("calendar.now", locale), callback_data=data("n"))]
    ]
    for year, month in months:
        rows += month_keyboard(year, month, days, locale, previous_data=None, next_data=None,
                               day_data=lambda d: data("d", day=day_number(d))).inline_keyboard
    text = t("request.when", locale, zone=zone.key, last=f"{last:%m-%d}")
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def on_time(
    callback: CallbackQuery, callback_data: CalendarCallback, bus: MessageBus, actor: Actor,
    locale: str, state: FSMContext,
) -> None:
    current = await _current(state)
    cb = callback_data
    if cb.action == "d":
        zone = await zone_of(bus, actor)
        day = cb.local_day()
        starts = open_request_starts(bus.clock.now(), zone, day)
        back = InlineKeyboardButton(
            text=t("button.back", locale),
            callback_data=CalendarCallback(mode="o", ref=cb.ref, owner=0, units=cb.units,
                                           action="m").pack(),
        )
        markup = times_keyboard(starts, zone, back=back, start_data=lambda s: CalendarCallback(
            mode="o", ref=cb.ref, owner=0, units=cb.units, action="s",
            minute=int(s.timestamp() // 60)).pack())
        await show(callback, t("calendar.day", locale, day=f"{day:%Y-%m-%d}", zone=zone.key),
                   markup)
    elif cb.action == "m":
        text, markup = await _days(bus, actor, locale, current)
        await show(callback, text, markup)
    else:
        start = datetime.fromtimestamp(cb.minute * 60, UTC) if cb.action == "s" else None
        current["start"] = start.isoformat() if start else None
        await save_draft(state, current)
        await details.next_step(callback.message, bus, actor, locale, state, callback=callback)
    await callback.answer()
