"""Finding someone: categories, provider lists with filters and pages, search by text, and
the provider card (photo, price, rating, tier, online dot, latest reviews).

Filters live in the FSM data under `cust_filters` and apply to every list until cleared:
price band, minimum rating, online now, tags, and "near me" from a shared location.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)

from bots.telegram.handlers.customer import reads
from bots.telegram.handlers.customer.callbacks import (
    BrowseCallback,
    FilterCallback,
    ProviderCallback,
    packed,
)
from bots.telegram.handlers.customer.common import TextForm, leave, money, no_keyboard, show, t
from bots.telegram.middlewares import Actor
from core.catalog.commands import AddFavourite, ListFavourites, RemoveFavourite, SearchProviders
from core.catalog.handlers import ProviderDetails
from core.catalog.model import Category, GeoPoint, ProviderStatus
from core.catalog.search import SearchCriteria, SearchHit, SearchPage
from core.messagebus import MessageBus
from core.reviews.commands import ListProviderReviews, ReviewPage
from core.shared.money import Money

PAGE_SIZE = 5
LATEST_REVIEWS = 3
CAPTION_LIMIT = 1024
NEAR_RADIUS_KM = 10.0

# Price bands per currency, in minor units (upper bound None: no limit).
PRICE_BANDS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "CNY": ((0, 5000), (5000, 10000), (10000, 20000), (20000, None)),
    "XTR": ((0, 100), (100, 500), (500, 1000), (1000, None)),
}
RATINGS = ("4.0", "4.5")
DOTS = {"online": "🟢", "busy": "🟠", "offline": "⚪", "vacation": "🌴"}


def router() -> Router:
    browse = Router(name="customer.browse")
    browse.message.register(on_browse, Command("browse"))
    browse.message.register(on_search_command, Command("search"))
    browse.message.register(on_favourites, Command("favourites"))
    browse.message.register(
        on_search_text, StateFilter(TextForm.search), F.text, ~F.text.startswith("/")
    )
    browse.message.register(
        on_tags_text, StateFilter(TextForm.tags), F.text, ~F.text.startswith("/")
    )
    browse.message.register(on_location, StateFilter(TextForm.location), F.location)
    browse.message.register(
        on_location_cancelled, StateFilter(TextForm.location), F.text, ~F.text.startswith("/")
    )
    browse.callback_query.register(on_browse_tap, BrowseCallback.filter())
    browse.callback_query.register(on_filter, FilterCallback.filter())
    browse.callback_query.register(on_card, ProviderCallback.filter(F.action == "card"))
    browse.callback_query.register(
        on_favourite, ProviderCallback.filter(F.action.in_({"fav", "unfav"}))
    )
    return browse


# -- categories --------------------------------------------------------------------------------


async def on_browse(message: Message, bus: MessageBus, locale: str, state: FSMContext) -> None:
    await leave(state)
    text, markup = category_menu(await reads.categories(bus), None, locale)
    await message.answer(text, reply_markup=markup)


def category_menu(
    categories: dict[int, Category], parent: Category | None, locale: str
) -> tuple[str, InlineKeyboardMarkup]:
    parent_id = parent.id if parent else None
    children = sorted(
        (c for c in categories.values() if c.parent_id == parent_id),
        key=lambda c: (c.sort_order, c.id),
    )
    rows = [
        [InlineKeyboardButton(
            text=child.name(locale),
            callback_data=packed(
                BrowseCallback, category_id=child.id,
                page=0 if _has_children(categories, child) else 1,
            ),
        )]
        for child in children
    ]
    if parent is not None:
        rows.append([InlineKeyboardButton(
            text=t("browse.all_in", locale, category=parent.name(locale)),
            callback_data=packed(BrowseCallback, category_id=parent.id, page=1),
        )])
        rows.append([InlineKeyboardButton(
            text=t("button.back", locale),
            callback_data=packed(BrowseCallback, category_id=parent.parent_id or 0),
        )])
        text = t("browse.subcategories", locale, category=parent.name(locale))
    else:
        text = t("browse.categories", locale)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def _has_children(categories: dict[int, Category], category: Category) -> bool:
    return any(c.parent_id == category.id for c in categories.values())


async def on_browse_tap(
    callback: CallbackQuery,
    callback_data: BrowseCallback,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    state: FSMContext,
) -> None:
    categories = await reads.categories(bus)
    category = categories.get(callback_data.category_id)
    if callback_data.page == 0 or category is None:
        text, markup = category_menu(categories, category, locale)
        await show(callback, text, markup)
        await callback.answer()
        return
    await show_providers(callback, bus, locale, state, category, callback_data.page)
    await callback.answer()


async def show_providers(
    callback: CallbackQuery,
    bus: MessageBus,
    locale: str,
    state: FSMContext,
    category: Category,
    page: int,
) -> None:
    filters = await _filters(state)
    result: SearchPage = await bus.handle(
        SearchProviders(criteria=criteria(category.id, filters, page))
    )
    text, markup = provider_list(category, result, filters, locale)
    await show(callback, text, markup)


def provider_list(
    category: Category, result: SearchPage, filters: dict[str, Any], locale: str
) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        t("browse.list_title", locale, category=category.name(locale), page=result.page),
        t("browse.filters_line", locale, filters=describe_filters(filters, locale)),
        "",
    ]
    rows: list[list[InlineKeyboardButton]] = []
    first = (result.page - 1) * result.size
    for number, hit in enumerate(result.hits, start=first + 1):
        lines.append(f"{number}. {hit_line(hit, locale)}")
        rows.append([InlineKeyboardButton(
            text=f"{DOTS.get(hit.presence.value, '')} {hit.display_name} · {money(hit.lowest_price)}",
            callback_data=packed(ProviderCallback, provider_id=hit.provider_id, action="card"),
        )])
    if not result.hits:
        lines.append(t("browse.nothing", locale))
    navigation = []
    if result.page > 1:
        navigation.append(InlineKeyboardButton(
            text=t("button.previous", locale),
            callback_data=packed(BrowseCallback, category_id=category.id, page=result.page - 1),
        ))
    if result.has_more:
        navigation.append(InlineKeyboardButton(
            text=t("button.next", locale),
            callback_data=packed(BrowseCallback, category_id=category.id, page=result.page + 1),
        ))
    if navigation:
        rows.append(navigation)
    rows.append([
        InlineKeyboardButton(
            text=t("button.filters", locale),
            callback_data=packed(FilterCallback, category_id=category.id, name="menu"),
        ),
        InlineKeyboardButton(
            text=t("button.back", locale),
            callback_data=packed(BrowseCallback, category_id=category.parent_id or 0),
        ),
    ])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def hit_line(hit: SearchHit, locale: str) -> str:
    parts = [f"{DOTS.get(hit.presence.value, '')} {hit.display_name}"]
    if hit.rating_count:
        parts.append(t("browse.rating", locale, rating=f"{hit.rating_average:.1f}",
                       count=hit.rating_count))
    else:
        parts.append(t("browse.no_ratings", locale))
    parts.append(t("browse.tier", locale, tier=hit.tier))
    parts.append(t("browse.from_price", locale, price=money(hit.lowest_price)))
    if hit.distance_km is not None:
        parts.append(t("browse.distance", locale, km=f"{hit.distance_km:.1f}"))
    return " · ".join(parts)


# -- filters -----------------------------------------------------------------------------------


async def _filters(state: FSMContext) -> dict[str, Any]:
    value = (await state.get_data()).get("cust_filters")
    return dict(value) if isinstance(value, dict) else {}


def criteria(category_id: int | None, filters: dict[str, Any], page: int) -> SearchCriteria:
    price_min = price_max = None
    if filters.get("price"):
        low, high, currency = filters["price"]
        price_min = Money(int(low), currency)
        price_max = Money(int(high), currency) if high is not None else None
    near = filters.get("near")
    return SearchCriteria(
        category_id=category_id,
        price_min=price_min,
        price_max=price_max,
        min_rating=float(filters["rating"]) if filters.get("rating") else None,
        online_now=bool(filters.get("online")),
        tags=frozenset(filters.get("tags") or ()),
        near=GeoPoint(near[0], near[1]) if near else None,
        radius_km=NEAR_RADIUS_KM,
        page=page,
        size=PAGE_SIZE,
    )


def band_label(low: int, high: int | None, currency: str) -> str:
    if high is None:
        return f"≥ {Money(low, currency).format()}"
    if low == 0:
        return f"≤ {Money(high, currency).format()}"
    return f"{Money(low, currency).format()} – {Money(high, currency).format()}"


def describe_filters(filters: dict[str, Any], locale: str) -> str:
    parts = []
    if filters.get("price"):
        parts.append(band_label(*filters["price"]))
    if filters.get("rating"):
        parts.append(t("filter.rating_at_least", locale, rating=filters["rating"]))
    if filters.get("online"):
        parts.append(t("filter.online", locale))
    if filters.get("tags"):
        parts.append(" ".join(f"#{tag}" for tag in filters["tags"]))
    if filters.get("near"):
        parts.append(t("filter.near", locale, km=f"{NEAR_RADIUS_KM:.0f}"))
    return ", ".join(parts) if parts else t("filter.none", locale)


def filter_menu(category_id: int, filters: dict[str, Any], locale: str) -> InlineKeyboardMarkup:
    def button(text: str, name: str, value: str = "") -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text,
            callback_data=FilterCallback(category_id=category_id, name=name, value=value).pack(),
        )

    rows = []
    for currency, bands in PRICE_BANDS.items():
        rows.append([
            button(band_label(low, high, currency), "price",
                   f"{currency}-{low}-{'' if high is None else high}")
            for low, high in bands
        ])
    rows.append([button(t("filter.rating_at_least", locale, rating=r), "rating", r)
                 for r in RATINGS])
    online = bool(filters.get("online"))
    rows.append([
        button(("✅ " if online else "") + t("filter.online", locale), "online",
               "off" if online else "on"),
        button(t("filter.tags_button", locale), "tags"),
    ])
    rows.append([
        button(t("filter.near_button", locale), "near",
               "off" if filters.get("near") else "on"),
        button(t("filter.clear", locale), "clear"),
    ])
    rows.append([InlineKeyboardButton(
        text=t("filter.show", locale),
        callback_data=BrowseCallback(category_id=category_id, page=1).pack(),
    )])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def on_filter(
    callback: CallbackQuery,
    callback_data: FilterCallback,
    bus: MessageBus,
    locale: str,
    state: FSMContext,
) -> None:
    filters = await _filters(state)
    name, value = callback_data.name, callback_data.value
    if name == "menu":
        text = t("filter.menu", locale, filters=describe_filters(filters, locale))
        await show(callback, text, filter_menu(callback_data.category_id, filters, locale))
        await callback.answer()
        return
    if name == "tags":
        await state.set_state(TextForm.tags)
        await state.update_data(cust_text={"category_id": callback_data.category_id})
        await callback.answer()
        if isinstance(callback.message, Message):
            await callback.message.answer(t("filter.tags_prompt", locale))
        return
    if name == "near" and value == "on":
        await state.set_state(TextForm.location)
        await state.update_data(cust_text={"category_id": callback_data.category_id})
        await callback.answer()
        if isinstance(callback.message, Message):
            await callback.message.answer(
                t("filter.location_prompt", locale), reply_markup=location_keyboard(locale)
            )
        return
    filters = apply_filter(filters, name, value)
    await state.update_data(cust_filters=filters)
    await callback.answer(t("filter.applied", locale))
    category = (await reads.categories(bus)).get(callback_data.category_id)
    if category is not None:
        await show_providers(callback, bus, locale, state, category, 1)


def apply_filter(filters: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    """The filters after one tap; a value that does not parse (a forged button) changes nothing."""
    changed = dict(filters)
    if name == "clear":
        return {}
    if name == "price":
        currency, _, bounds = value.partition("-")
        low, _, high = bounds.partition("-")
        if currency in PRICE_BANDS and low.isdigit() and (high == "" or high.isdigit()):
            changed["price"] = [int(low), int(high) if high else None, currency]
    elif name == "rating" and value in RATINGS:
        changed["rating"] = value
    elif name == "online":
        changed["online"] = value == "on"
    elif name == "near" and value == "off":
        changed["near"] = None
    return changed


def location_keyboard(locale: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=t("filter.share_location", locale), request_location=True)],
            [KeyboardButton(text=t("button.cancel", locale))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


async def _text_target(state: FSMContext) -> int:
    value = (await state.get_data()).get("cust_text")
    return int(value.get("category_id", 0)) if isinstance(value, dict) else 0


async def on_tags_text(message: Message, bus: MessageBus, locale: str, state: FSMContext) -> None:
    assert message.text is not None
    tags = [word.strip().lstrip("#").lower() for word in message.text.replace(",", " ").split()]
    filters = await _filters(state)
    filters["tags"] = [tag for tag in tags if tag][:5]
    await state.update_data(cust_filters=filters)
    await leave(state)
    await _send_list(message, bus, locale, state, await _text_target(state))


async def on_location(message: Message, bus: MessageBus, locale: str, state: FSMContext) -> None:
    assert message.location is not None
    filters = await _filters(state)
    filters["near"] = [message.location.latitude, message.location.longitude]
    await state.update_data(cust_filters=filters)
    await leave(state)
    await message.answer(t("filter.location_saved", locale), reply_markup=no_keyboard())
    await _send_list(message, bus, locale, state, await _text_target(state))


async def on_location_cancelled(message: Message, locale: str, state: FSMContext) -> None:
    await leave(state)
    await message.answer(t("filter.location_cancelled", locale), reply_markup=no_keyboard())


async def _send_list(
    message: Message, bus: MessageBus, locale: str, state: FSMContext, category_id: int
) -> None:
    category = (await reads.categories(bus)).get(category_id)
    if category is None:
        return
    filters = await _filters(state)
    result = await bus.handle(SearchProviders(criteria=criteria(category.id, filters, 1)))
    text, markup = provider_list(category, result, filters, locale)
    await message.answer(text, reply_markup=markup)


# -- search by text ----------------------------------------------------------------------------


async def on_search_command(
    message: Message, command: CommandObject, bus: MessageBus, locale: str, state: FSMContext
) -> None:
    if command.args and command.args.strip():
        await leave(state)
        await answer_search(message, bus, locale, command.args.strip())
        return
    await state.set_state(TextForm.search)
    await message.answer(t("search.prompt", locale))


async def on_search_text(message: Message, bus: MessageBus, locale: str, state: FSMContext) -> None:
    assert message.text is not None
    await leave(state)
    await answer_search(message, bus, locale, message.text.strip())


async def answer_search(message: Message, bus: MessageBus, locale: str, query: str) -> None:
    """Categories whose name (either language) contains the words, and providers tagged so."""
    needle = query.casefold()
    categories = await reads.categories(bus)
    matching = [
        c for c in categories.values()
        if needle in c.name_zh.casefold() or needle in c.name_en.casefold() or needle in c.slug
    ][:6]
    tags = frozenset(word.lstrip("#") for word in needle.split() if word.lstrip("#"))
    hits: tuple[SearchHit, ...] = ()
    if tags:
        page = await bus.handle(SearchProviders(criteria=SearchCriteria(tags=tags, size=PAGE_SIZE)))
        hits = page.hits
    rows = [
        [InlineKeyboardButton(
            text="📂 " + c.name(locale),
            callback_data=BrowseCallback(
                category_id=c.id, page=0 if _has_children(categories, c) else 1
            ).pack(),
        )]
        for c in matching
    ]
    rows += [
        [InlineKeyboardButton(
            text=f"{DOTS.get(hit.presence.value, '')} {hit.display_name} · {money(hit.lowest_price)}",
            callback_data=ProviderCallback(provider_id=hit.provider_id, action="card").pack(),
        )]
        for hit in hits
    ]
    if not rows:
        await message.answer(t("search.nothing", locale, query=query))
        return
    await message.answer(
        t("search.results", locale, query=query),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


# -- the provider card -------------------------------------------------------------------------


async def on_card(
    callback: CallbackQuery,
    callback_data: ProviderCallback,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    bot: Bot,
) -> None:
    await send_card(bot, actor, bus, locale, callback_data.provider_id)
    await callback.answer()


async def send_card(bot: Bot, actor: Actor, bus: MessageBus, locale: str, provider_id: int) -> None:
    """The provider's card as a new message: with their first photo when Telegram takes it."""
    details = await reads.provider(bus, provider_id, viewer_id=actor.user_id)
    categories = await reads.categories(bus)
    reviews: ReviewPage = await bus.handle(
        ListProviderReviews(provider_id=provider_id, limit=LATEST_REVIEWS)
    )
    text = card_text(details, categories, reviews, locale)
    markup = card_keyboard(details, details.favourite, locale)
    chat_id = actor.telegram_id
    if details.profile.photos and len(text) <= CAPTION_LIMIT:
        try:
            await bot.send_photo(chat_id, details.profile.photos[0], caption=text, reply_markup=markup)
            return
        except TelegramBadRequest:
            # A photo reference Telegram does not know (from another channel): text only.
            pass
    await bot.send_message(chat_id, text, reply_markup=markup)


def card_text(
    details: ProviderDetails, categories: dict[int, Category], reviews: ReviewPage, locale: str
) -> str:
    profile = details.profile
    lines = [
        f"{DOTS.get(profile.presence.value, '')} {profile.display_name} · "
        + t("browse.tier", locale, tier=profile.tier),
        t(f"presence.{profile.presence.value}", locale),
    ]
    if profile.rating_count:
        lines.append(t("card.rating", locale, rating=f"{profile.rating_average:.1f}",
                       count=profile.rating_count))
    else:
        lines.append(t("browse.no_ratings", locale))
    if profile.bio:
        lines += ["", profile.bio]
    if profile.tags:
        lines.append(" ".join(f"#{tag}" for tag in sorted(profile.tags)))
    offers = [o for o in details.offers if o.active and o.category_id in categories]
    if offers:
        lines += ["", t("card.services", locale)]
        for offer in offers:
            category = categories[offer.category_id]
            lines.append(t(
                "card.offer", locale, category=category.name(locale),
                price=offer.unit_price.format(),
                unit=t(f"unit.{category.pricing_unit.value}", locale), min_units=offer.min_units,
            ))
    if profile.status is ProviderStatus.SUSPENDED:
        lines += ["", t("card.unavailable", locale)]
    if reviews.reviews:
        lines += ["", t("card.reviews", locale, total=reviews.total)]
        for review in reviews.reviews:
            name = review.reviewer_name or t("card.anonymous", locale)
            words = f" {review.text}" if review.text else ""
            lines.append(f"{'★' * review.rating}{'☆' * (5 - review.rating)}{words} — {name}")
    return "\n".join(lines)


def card_keyboard(details: ProviderDetails, favourite: bool, locale: str) -> InlineKeyboardMarkup:
    provider_id = details.profile.user_id
    row = []
    bookable = details.profile.status is ProviderStatus.APPROVED and any(
        o.active for o in details.offers
    )
    if bookable:
        row.append(InlineKeyboardButton(
            text=t("card.book", locale),
            callback_data=ProviderCallback(provider_id=provider_id, action="book").pack(),
        ))
    row.append(InlineKeyboardButton(
        text=t("card.saved" if favourite else "card.save", locale),
        callback_data=ProviderCallback(
            provider_id=provider_id, action="unfav" if favourite else "fav"
        ).pack(),
    ))
    return InlineKeyboardMarkup(inline_keyboard=[row])


async def on_favourite(
    callback: CallbackQuery,
    callback_data: ProviderCallback,
    bus: MessageBus,
    actor: Actor,
    locale: str,
) -> None:
    adding = callback_data.action == "fav"
    command = AddFavourite if adding else RemoveFavourite
    await bus.handle(command(
        customer_id=actor.user_id, provider_id=callback_data.provider_id, actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}",
    ))
    details = await reads.provider(bus, callback_data.provider_id)
    if isinstance(callback.message, Message):
        try:
            await callback.message.edit_reply_markup(
                reply_markup=card_keyboard(details, adding, locale)
            )
        except TelegramBadRequest as error:
            if "message is not modified" not in error.message:
                raise
    await callback.answer(t("card.saved_alert" if adding else "card.removed_alert", locale))


# -- favourites --------------------------------------------------------------------------------


async def on_favourites(
    message: Message, bus: MessageBus, actor: Actor, locale: str, state: FSMContext
) -> None:
    await leave(state)
    ids = await bus.handle(ListFavourites(customer_id=actor.user_id, actor_id=actor.user_id))
    if not ids:
        await message.answer(t("favourites.none", locale))
        return
    rows = []
    for provider_id in ids:
        profile = (await reads.provider(bus, provider_id)).profile
        rows.append([InlineKeyboardButton(
            text=f"{DOTS.get(profile.presence.value, '')} {profile.display_name}",
            callback_data=ProviderCallback(provider_id=provider_id, action="card").pack(),
        )])
    await message.answer(
        t("favourites.title", locale), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows)
    )
