"""Browsing and booking in WeChat: categories, providers, an offer, units, a slot, confirm.

Each step is a numbered prompt; what was picked so far is kept in `session.data["book"]`
(ids and the start instant only). Free slots are the provider's schedule
(`core.catalog.availability.free_slots`) minus the times their active orders hold, shown
in the customer's time zone; the core checks the slot again when the order is placed, so
a slot taken in the meantime is refused with a clear message and nothing is booked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from bots.wechat import orders
from bots.wechat.conversation import Conversation
from bots.wechat.render import clock_time, day_label, local_time, money
from core.booking.commands import BookOrder, ListOrders
from core.booking.policy import duration_of
from core.booking.states import ACTIVE
from core.catalog.availability import Schedule, Slot, check_bookable, free_slots
from core.catalog.commands import GetProvider, ListCategories, SearchProviders
from core.catalog.model import Category, subtree_ids
from core.catalog.search import SearchCriteria
from core.shared.errors import DomainError

# Days looked at for free slots, and how many days with slots are offered at once.
DAYS_AHEAD = 14
DAYS_SHOWN = 7
SLOTS_PER_PAGE = 8
# Start times are offered on this grid (or the booking's length, when shorter).
SLOT_GRID_MINUTES = 60
MAX_ADDRESS = 200
# Work at the customer's place needs an address (the core refuses an order without one).
ADDRESS_KINDS = frozenset({"on_site", "errand"})
# Priced per hour or per round: the customer picks how many; other units are one visit.
COUNTED_UNITS = frozenset({"hour", "round"})
UNIT_CHOICES = 6
# A provider's calendar is read from this many of their latest orders.
BUSY_LOOKUP = 200


async def all_categories(conv: Conversation) -> dict[int, Category]:
    if "categories" not in conv.cache:
        listed = await conv.run(ListCategories(include_inactive=False))
        conv.cache["categories"] = {c.id: c for c in listed}
    categories: dict[int, Category] = conv.cache["categories"]
    return categories


def category_name(conv: Conversation, categories: dict[int, Category], category_id: int) -> str:
    category = categories.get(category_id)
    return category.name(conv.locale) if category else f"#{category_id}"


# -- browsing -------------------------------------------------------------------------------


async def categories(conv: Conversation) -> None:
    conv.finish()
    found = await all_categories(conv)
    top = [c for c in found.values() if c.parent_id is None]
    if not top:
        conv.tell("wx.browse.empty")
        return
    conv.ask(conv.t("wx.browse.categories"),
             [(f"cat:{c.id}", c.name(conv.locale)) for c in top])


async def category(conv: Conversation, category_id: int) -> None:
    found = await all_categories(conv)
    chosen = found.get(category_id)
    if chosen is None:
        conv.tell("wx.browse.gone")
        return
    children = [c for c in found.values() if c.parent_id == category_id]
    if not children:
        await providers(conv, category_id, 1, online=False)
        return
    choices = [(f"cat:{c.id}", c.name(conv.locale)) for c in children]
    choices.append((f"plist:{category_id}:1:0", conv.t("wx.browse.all_of", name=chosen.name(conv.locale))))
    conv.ask(conv.t("wx.browse.subcategories", name=chosen.name(conv.locale)), choices)


async def providers(conv: Conversation, category_id: int, page: int, *, online: bool) -> None:
    criteria = SearchCriteria(category_id=category_id or None, online_now=online, page=page,
                              size=conv.options.page_size)
    result = await conv.run(SearchProviders(criteria=criteria))
    if not result.hits:
        conv.tell("wx.browse.no_providers" if page == 1 else "wx.browse.no_more")
        return
    choices = []
    for hit in result.hits:
        rating = (conv.t("wx.rating", average=f"{hit.rating_average:.1f}", count=hit.rating_count)
                  if hit.rating_count else conv.t("wx.rating.none"))
        price = conv.t("wx.price_from", price=money(hit.lowest_price)) if hit.lowest_price else ""
        label = " · ".join(part for part in (
            hit.display_name, f"T{hit.tier}", rating, conv.t(f"wx.presence.{hit.presence}"), price,
        ) if part)
        choices.append((f"prov:{hit.provider_id}:{category_id}", label))
    if result.has_more:
        choices.append((f"plist:{category_id}:{page + 1}:{int(online)}", conv.t("wx.next_page")))
    found = await all_categories(conv)
    head = (conv.t("wx.browse.online_now") if online and not category_id
            else conv.t("wx.browse.providers", name=category_name(conv, found, category_id),
                        page=page))
    conv.ask(head, choices)


async def provider(conv: Conversation, provider_id: int, category_id: int = 0) -> None:
    details = await conv.run(GetProvider(provider_id=provider_id))
    profile = details.profile
    found = await all_categories(conv)
    wanted = subtree_ids(list(found.values()), category_id) if category_id in found else None
    offers = [o for o in details.offers
              if o.active and o.category_id in found and (wanted is None or o.category_id in wanted)]
    rating = (conv.t("wx.rating", average=f"{profile.rating_average:.1f}", count=profile.rating_count)
              if profile.rating_count else conv.t("wx.rating.none"))
    lines = [
        conv.t("wx.provider.card", name=profile.display_name, tier=profile.tier, rating=rating,
               presence=conv.t(f"wx.presence.{profile.presence}")),
    ]
    if profile.bio:
        lines.append(profile.bio[:120])
    if profile.status != "approved" or profile.presence == "vacation":
        lines.append(conv.t("wx.provider.unavailable"))
        conv.finish()
        conv.say("\n".join(lines))
        return
    if not offers:
        lines.append(conv.t("wx.provider.no_offers"))
        conv.finish()
        conv.say("\n".join(lines))
        return
    choices = [
        (f"offer:{o.id}:{provider_id}",
         conv.t("wx.offer.line", service=category_name(conv, found, o.category_id),
                price=money(o.unit_price), unit=conv.t(f"wx.unit.{found[o.category_id].pricing_unit}")))
        for o in offers
    ]
    conv.ask("\n".join([*lines, "", conv.t("wx.provider.pick_offer")]), choices)


# -- booking --------------------------------------------------------------------------------


def _draft(conv: Conversation) -> dict[str, Any] | None:
    draft = conv.session.data.get("book")
    return draft if isinstance(draft, dict) and "offer" in draft else None


async def _offer_context(conv: Conversation, draft: dict[str, Any]) -> tuple[Any, Any, Category] | None:
    """(provider details, offer, category) of the draft, or None (told) if gone."""
    details = await conv.run(GetProvider(provider_id=draft["provider"]))
    offer = next((o for o in details.offers if o.id == draft["offer"] and o.active), None)
    found = await all_categories(conv)
    if offer is None or offer.category_id not in found:
        conv.finish()
        conv.tell("wx.book.offer_gone")
        return None
    return details, offer, found[offer.category_id]


async def offer(conv: Conversation, offer_id: int, provider_id: int) -> None:
    conv.session.data = {"book": {"offer": offer_id, "provider": provider_id}}
    context = await _offer_context(conv, conv.session.data["book"])
    if context is None:
        return
    _, chosen, category = context
    minimum = max(1, chosen.min_units, category.min_units)
    if str(category.pricing_unit) not in COUNTED_UNITS:
        await units(conv, minimum)
        return
    unit = conv.t(f"wx.unit.{category.pricing_unit}")
    conv.ask(conv.t("wx.book.units", unit=unit), [
        (f"units:{n}", conv.t("wx.book.units_line", units=n, unit=unit,
                              total=money(chosen.unit_price * n)))
        for n in range(minimum, minimum + UNIT_CHOICES)
    ])


async def units(conv: Conversation, count: int) -> None:
    draft = _draft(conv)
    if draft is None:
        conv.tell("wx.flow.expired")
        return
    draft["units"] = count
    draft.pop("start", None)
    await _pick_day(conv, draft)


async def _busy(conv: Conversation, provider_id: int) -> list[tuple[datetime, datetime]]:
    held = await conv.run(ListOrders(provider_id=provider_id, limit=BUSY_LOOKUP))
    return [(o.scheduled_start, o.scheduled_end) for o in held
            if o.state in ACTIVE and o.scheduled_start is not None and o.scheduled_end is not None]


def _slot_minutes(category: Category, count: int) -> int:
    return int(duration_of(str(category.pricing_unit), count).total_seconds() // 60)


def _slots_on(schedule: Schedule, day: date, now: datetime, busy: list[tuple[datetime, datetime]],
              minutes: int) -> list[Slot]:
    """Bookable [start, start + minutes) on the provider's local `day`, starting on the hour
    (or the half hour for shorter bookings) so a two-hour booking may start at 10:00."""
    grid = min(minutes, SLOT_GRID_MINUTES)
    length = timedelta(minutes=minutes)
    bookable = []
    for candidate in free_slots(schedule, day, now, busy, slot_minutes=grid):
        try:
            check_bookable(schedule, candidate.start, candidate.start + length, now, busy)
        except DomainError:
            continue
        bookable.append(Slot(candidate.start, candidate.start + length))
    return bookable


async def _pick_day(conv: Conversation, draft: dict[str, Any]) -> None:
    context = await _offer_context(conv, draft)
    if context is None:
        return
    details, _, category = context
    schedule: Schedule = details.schedule
    busy = await _busy(conv, draft["provider"])
    minutes = _slot_minutes(category, draft["units"])
    today = conv.now.astimezone(schedule.zone).date()
    choices: list[tuple[str, str]] = []
    if details.profile.presence == "online" and str(category.kind) == "online_session":
        choices.append(("now", conv.t("wx.book.now")))
    for offset in range(DAYS_AHEAD):
        day = today + timedelta(days=offset)
        count = len(_slots_on(schedule, day, conv.now, busy, minutes))
        if count:
            choices.append((f"day:{day.isoformat()}:1",
                            conv.t("wx.book.day_line", day=day_label(day, conv.locale), count=count)))
        if len(choices) >= DAYS_SHOWN:
            break
    if not choices:
        conv.finish()
        conv.tell("wx.book.no_slots")
        return
    conv.ask(conv.t("wx.book.pick_day"), choices)


async def instant(conv: Conversation) -> None:
    draft = _draft(conv)
    if draft is None or "units" not in draft:
        conv.tell("wx.flow.expired")
        return
    draft["start"] = None
    await _after_time(conv, draft)


async def day(conv: Conversation, day_iso: str, page: int) -> None:
    draft = _draft(conv)
    if draft is None or "units" not in draft:
        conv.tell("wx.flow.expired")
        return
    try:
        chosen = date.fromisoformat(day_iso)
    except ValueError:
        conv.tell("wx.flow.expired")
        return
    context = await _offer_context(conv, draft)
    if context is None:
        return
    details, _, category = context
    busy = await _busy(conv, draft["provider"])
    slots = _slots_on(details.schedule, chosen, conv.now, busy, _slot_minutes(category, draft["units"]))
    start = (page - 1) * SLOTS_PER_PAGE
    shown = slots[start:start + SLOTS_PER_PAGE]
    if not shown:
        conv.tell("wx.book.day_full")
        await _pick_day(conv, draft)
        return
    choices = [(f"slot:{int(s.start.timestamp())}",
                f"{clock_time(s.start, conv.timezone)}-{clock_time(s.end, conv.timezone)}")
               for s in shown]
    if len(slots) > start + SLOTS_PER_PAGE:
        choices.append((f"day:{day_iso}:{page + 1}", conv.t("wx.next_page")))
    conv.ask(conv.t("wx.book.pick_slot", day=day_label(chosen, conv.locale),
                    zone=conv.timezone), choices)


async def slot(conv: Conversation, epoch: int) -> None:
    draft = _draft(conv)
    if draft is None or "units" not in draft:
        conv.tell("wx.flow.expired")
        return
    draft["start"] = epoch
    await _after_time(conv, draft)


async def _after_time(conv: Conversation, draft: dict[str, Any]) -> None:
    context = await _offer_context(conv, draft)
    if context is None:
        return
    _, _, category = context
    if str(category.kind) in ADDRESS_KINDS and not draft.get("address"):
        conv.expect("book.address", conv.t("wx.book.ask_address"))
        return
    await _confirm(conv, draft)


async def address(conv: Conversation, text: str) -> None:
    draft = _draft(conv)
    if draft is None:
        conv.finish()
        conv.tell("wx.flow.expired")
        return
    text = " ".join(text.split())
    if not text or len(text) > MAX_ADDRESS:
        conv.expect("book.address", conv.t("wx.book.address_invalid", limit=MAX_ADDRESS))
        return
    draft["address"] = text
    conv.session.step = ""
    await _confirm(conv, draft)


async def _confirm(conv: Conversation, draft: dict[str, Any]) -> None:
    context = await _offer_context(conv, draft)
    if context is None:
        return
    details, chosen, category = context
    start = draft.get("start")
    when = (local_time(datetime.fromtimestamp(start, UTC), conv.timezone) if start is not None
            else conv.t("wx.book.now"))
    summary = conv.t(
        "wx.book.summary", provider=details.profile.display_name,
        service=category.name(conv.locale), when=when, units=draft["units"],
        unit=conv.t(f"wx.unit.{category.pricing_unit}"),
        total=money(chosen.unit_price * draft["units"]), zone=conv.timezone,
    )
    if draft.get("address"):
        summary += "\n" + conv.t("wx.book.summary_address", address=draft["address"])
    conv.ask(summary, [("book", conv.t("wx.book.confirm")), ("abort", conv.t("wx.book.abort"))])


async def confirmed(conv: Conversation) -> None:
    draft = _draft(conv)
    if draft is None or "units" not in draft or "start" not in draft:
        conv.finish()
        conv.tell("wx.flow.expired")
        return
    start = draft.get("start")
    order = await conv.run(BookOrder(
        actor_id=conv.user_id, idempotency_key=conv.idempotency("book"),
        offer_id=draft["offer"], units=draft["units"],
        start=datetime.fromtimestamp(start, UTC) if start is not None else None,
        address=draft.get("address"),
    ))
    conv.finish()
    await orders.pay_options(conv, order, placed=True)
