"""Booking a provider: offer -> units -> a slot from the calendar (or now) -> details.

The calendar is shown in the customer's time zone and offers only starts that are free in
the provider's calendar for the whole booking (see `bots/telegram/calendar.py`). The same
picker reschedules an order (mode `r`): the chosen start is proposed to the provider.
Once the time is chosen the draft goes to `details.py` for address, notes and the final
confirmation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

from bots.telegram.calendar import (
    CalendarNoop,
    month_bounds,
    month_keyboard,
    shift_month,
    times_keyboard,
)
from bots.telegram.handlers.customer import details, reads
from bots.telegram.handlers.customer.callbacks import (
    CalendarCallback,
    OfferCallback,
    OrderCallback,
    ProviderCallback,
    day_number,
    packed,
)
from bots.telegram.handlers.customer.common import (
    callback_key,
    own_order,
    show,
    t,
    when,
    zone_of,
)
from bots.telegram.middlewares import Actor
from core.booking.commands import ProposeReschedule
from core.booking.policy import duration_of
from core.catalog.handlers import ProviderDetails
from core.catalog.model import Category, Offer, PricingUnit
from core.messagebus import MessageBus
from core.shared.errors import DomainError

UNIT_CHOICES = 6
MAX_UNITS = 100


def router() -> Router:
    book = Router(name="customer.book")
    book.callback_query.register(on_book, ProviderCallback.filter(F.action == "book"))
    book.callback_query.register(on_offer, OfferCallback.filter())
    book.callback_query.register(
        on_calendar, CalendarCallback.filter(F.mode.in_({"b", "r"}))
    )
    book.callback_query.register(on_reschedule, OrderCallback.filter(F.action == "reschedule"))
    book.callback_query.register(on_noop, CalendarNoop.filter())
    return book


async def on_noop(callback: CallbackQuery) -> None:
    await callback.answer()


# -- offer and units ---------------------------------------------------------------------------


async def on_book(
    callback: CallbackQuery,
    callback_data: ProviderCallback,
    bus: MessageBus,
    locale: str,
) -> None:
    provider = await _booked_provider(bus, callback_data.provider_id)
    categories = await reads.categories(bus)
    offers = [o for o in provider.offers if o.active and o.category_id in categories]
    if not offers:
        raise DomainError("error.booking.offer_inactive", offer_id=0)
    if len(offers) == 1:
        await _ask_units(callback, provider, offers[0], categories[offers[0].category_id], locale)
        return
    rows = [
        [InlineKeyboardButton(
            text=t("book.offer_button", locale,
                   category=categories[o.category_id].name(locale), price=o.unit_price.format(),
                   unit=t(f"unit.{categories[o.category_id].pricing_unit.value}", locale)),
            callback_data=OfferCallback(provider_id=provider.profile.user_id, offer_id=o.id).pack(),
        )]
        for o in offers
    ]
    await _reply(callback, t("book.choose_offer", locale, name=provider.profile.display_name),
                 InlineKeyboardMarkup(inline_keyboard=rows))
    await callback.answer()


async def _booked_provider(bus: MessageBus, provider_id: int) -> ProviderDetails:
    """The provider being booked, as read for their card or an earlier step a moment ago."""
    return await reads.provider(bus, provider_id, max_age=reads.BOOKING_READ_SECONDS)


async def _reply(callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Booking steps start under a provider card (maybe a photo): continue in a new message
    the first time, then edit that message as the steps go on."""
    message = callback.message
    if message is not None and getattr(message, "text", None) is not None:
        await show(callback, text, markup)
    elif callback.bot is not None:
        await callback.bot.send_message(callback.from_user.id, text, reply_markup=markup)


async def on_offer(
    callback: CallbackQuery,
    callback_data: OfferCallback,
    bus: MessageBus,
    actor: Actor,
    locale: str,
) -> None:
    provider = await _booked_provider(bus, callback_data.provider_id)
    offer = reads.offer_of(provider, callback_data.offer_id)
    categories = await reads.categories(bus)
    category = categories.get(offer.category_id)
    if category is None:
        raise DomainError("error.booking.category_inactive", category_id=offer.category_id)
    if callback_data.units == 0:
        await _ask_units(callback, provider, offer, category, locale)
        return
    units = callback_data.units
    if not 1 <= units <= MAX_UNITS:
        raise DomainError("error.order.invalid_units", units=units)
    zone = await zone_of(bus, actor)
    today = bus.clock.now().astimezone(zone).date()
    text, markup = await month_view(
        bus, actor, locale, "b", offer.id, provider, category, units, today.year, today.month
    )
    await _reply(callback, text, markup)
    await callback.answer()


def minimum_units(offer: Offer, category: Category) -> int:
    return max(1, offer.min_units, category.min_units)


async def _ask_units(
    callback: CallbackQuery, provider: ProviderDetails, offer: Offer, category: Category,
    locale: str,
) -> None:
    provider_id = provider.profile.user_id
    if category.pricing_unit is PricingUnit.BASE_PER_KM:
        # An errand is one trip whatever its length: straight to the calendar.
        units = [1]
    else:
        first = minimum_units(offer, category)
        units = list(range(first, min(first + UNIT_CHOICES, MAX_UNITS + 1)))
    unit = t(f"unit.{category.pricing_unit.value}", locale)
    buttons = [
        InlineKeyboardButton(
            text=t("book.units_button", locale, units=n, unit=unit,
                   price=(offer.unit_price * n).format()),
            callback_data=OfferCallback(provider_id=provider_id, offer_id=offer.id, units=n).pack(),
        )
        for n in units
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    text = t("book.choose_units", locale, category=category.name(locale),
             name=provider.profile.display_name, price=offer.unit_price.format(), unit=unit)
    await _reply(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))
    await callback.answer()


# -- the calendar -------------------------------------------------------------------------------


async def month_view(
    bus: MessageBus,
    actor: Actor,
    locale: str,
    mode: str,
    ref: int,
    provider: ProviderDetails,
    category: Category,
    units: int,
    year: int,
    month: int,
    *,
    exclude_order_id: int | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    zone = await zone_of(bus, actor)
    now = bus.clock.now()
    today = now.astimezone(zone).date()
    horizon = (now + timedelta(days=provider.schedule.horizon_days)).astimezone(zone).date()
    first, last = month_bounds(year, month)
    duration = duration_of(category.pricing_unit.value, units)
    starts = {}
    if last >= today and first <= horizon:
        starts = await reads.free_starts(
            bus, provider, duration, zone, max(first, today), min(last, horizon),
            exclude_order_id=exclude_order_id,
        )
    owner = provider.profile.user_id

    def data(action: str, **fields: int) -> str:
        return packed(CalendarCallback, mode=mode, ref=ref, owner=owner, units=units,
                      action=action, **fields)

    before = shift_month(year, month, -1)
    after = shift_month(year, month, 1)
    extra = []
    if mode == "b" and provider.profile.presence.value == "online":
        extra.append([InlineKeyboardButton(text=t("calendar.now", locale), callback_data=data("n"))])
    markup = month_keyboard(
        year, month, starts.keys(), locale,
        day_data=lambda d: data("d", day=day_number(d)),
        previous_data=(data("m", day=day_number(date(*before, 1)))
                       if (year, month) > (today.year, today.month) else None),
        next_data=(data("m", day=day_number(date(*after, 1)))
                   if month_bounds(*after)[0] <= horizon else None),
        extra_rows=extra,
    )
    key = "calendar.month" if starts else "calendar.month_empty"
    text = t(key, locale, name=provider.profile.display_name, category=category.name(locale),
             units=units, unit=t(f"unit.{category.pricing_unit.value}", locale), zone=zone.key)
    return text, markup


async def on_calendar(
    callback: CallbackQuery,
    callback_data: CalendarCallback,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    state: FSMContext,
) -> None:
    cb = callback_data
    provider = await _booked_provider(bus, cb.owner)
    exclude = None
    if cb.mode == "b":
        category = (await reads.categories(bus)).get(reads.offer_of(provider, cb.ref).category_id)
    else:
        order = await own_order(bus, actor, cb.ref)
        exclude = order.id
        category = (await reads.categories(bus)).get(order.category_id)
    if category is None:
        raise DomainError("error.booking.category_inactive", category_id=0)
    if cb.action == "m":
        shown = cb.local_day()
        text, markup = await month_view(bus, actor, locale, cb.mode, cb.ref, provider, category,
                                        cb.units, shown.year, shown.month,
                                        exclude_order_id=exclude)
        await show(callback, text, markup)
    elif cb.action == "d":
        await _day_view(callback, cb, bus, actor, locale, provider, category, exclude)
    elif cb.action in ("s", "n"):
        start = None
        if cb.action == "s":
            start = datetime.fromtimestamp(cb.minute * 60, UTC)
        if cb.mode == "b":
            await details.begin_booking(callback, bus, actor, locale, state, provider,
                                        reads.offer_of(provider, cb.ref), category, cb.units,
                                        start)
        else:
            await _propose(callback, bus, actor, locale, cb.ref, start)
    await callback.answer()


async def _day_view(
    callback: CallbackQuery, cb: CalendarCallback, bus: MessageBus, actor: Actor, locale: str,
    provider: ProviderDetails, category: Category, exclude: int | None,
) -> None:
    zone = await zone_of(bus, actor)
    day = cb.local_day()
    duration = duration_of(category.pricing_unit.value, cb.units)
    starts = (await reads.free_starts(bus, provider, duration, zone, day, day,
                                      exclude_order_id=exclude)).get(day, [])

    def data(action: str, **fields: int) -> str:
        return packed(CalendarCallback, mode=cb.mode, ref=cb.ref, owner=cb.owner,
                      units=cb.units, action=action, **fields)

    back = InlineKeyboardButton(text=t("button.back", locale),
                                callback_data=data("m", day=day_number(day)))
    markup = times_keyboard(starts, zone, back=back,
                            start_data=lambda s: data("s", minute=int(s.timestamp() // 60)))
    key = "calendar.day" if starts else "calendar.day_empty"
    await show(callback, t(key, locale, day=f"{day:%Y-%m-%d}", zone=zone.key), markup)


# -- rescheduling -------------------------------------------------------------------------------


async def on_reschedule(
    callback: CallbackQuery,
    callback_data: OrderCallback,
    bus: MessageBus,
    actor: Actor,
    locale: str,
) -> None:
    order = await own_order(bus, actor, callback_data.order_id)
    order.ensure_verb("propose_reschedule")
    if order.provider_id is None or order.scheduled_start is None:
        raise DomainError("error.reschedule.instant_order", number=order.number)
    provider = await reads.provider(bus, order.provider_id)
    category = (await reads.categories(bus)).get(order.category_id)
    if category is None:
        raise DomainError("error.booking.category_inactive", category_id=order.category_id)
    zone = await zone_of(bus, actor)
    shown = order.scheduled_start.astimezone(zone)
    text, markup = await month_view(bus, actor, locale, "r", order.id, provider, category,
                                    order.price.units, shown.year, shown.month,
                                    exclude_order_id=order.id)
    await show(callback, t("reschedule.intro", locale, number=order.number,
                           start=when(order.scheduled_start, zone, locale)) + "\n" + text, markup)
    await callback.answer()


async def _propose(
    callback: CallbackQuery, bus: MessageBus, actor: Actor, locale: str, order_id: int,
    start: datetime | None,
) -> None:
    if start is None:
        raise DomainError("error.reschedule.instant_order", number="")
    order = await bus.handle(ProposeReschedule(
        order_id=order_id, new_start=start, actor_id=actor.user_id,
        idempotency_key=callback_key(callback),
    ))
    zone = await zone_of(bus, actor)
    await show(callback, t("reschedule.proposed", locale, number=order.number,
                           start=when(start, zone, locale)))
