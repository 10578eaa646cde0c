"""Small renderings the provider flows share: files people send, times, money, hours, units.

Nothing here decides anything; it turns what a person sent into values the core checks,
and what the core returned into words in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiogram.types import Message

from bots.i18n import gettext
from core.catalog.availability import WEEKDAYS, WeeklyRule
from core.shared.errors import DomainError
from core.shared.money import CURRENCIES, Money

# What people type for a currency, besides its ISO code.
CURRENCY_WORDS = {
    "¥": "CNY", "元": "CNY", "rmb": "CNY", "yuan": "CNY", "$": "USD",
    "⭐": "XTR", "⭐️": "XTR", "star": "XTR", "stars": "XTR", "星": "XTR",
}
DEFAULT_CURRENCY = "CNY"

# Day names people type, in both languages; "daily" stands for the whole week.
DAY_WORDS = {
    **{day: index for index, day in enumerate(WEEKDAYS)},
    "周一": 0, "周二": 1, "周三": 2, "周四": 3, "周五": 4, "周六": 5, "周日": 6, "周天": 6,
}
EVERY_DAY = frozenset({"daily", "everyday", "every", "每天", "每日"})


def file_of(message: Message) -> str | None:
    """The file id of the photo (largest size), image document or voice in `message`."""
    if message.photo:
        return message.photo[-1].file_id
    if message.document is not None:
        return message.document.file_id
    if message.voice is not None:
        return message.voice.file_id
    return None


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(instant: datetime | None, timezone: str | None) -> str:
    if instant is None:
        return "—"
    return instant.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M")


def time_left(deadline: datetime | None, now: datetime, locale: str) -> str:
    """"⏳ 1 h 5 min left", or that the time is up."""
    if deadline is None:
        return ""
    remaining = deadline - now
    if remaining <= timedelta(0):
        return gettext("tg.ws.time_up", locale)
    minutes = max(1, int(remaining.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    if hours:
        return gettext("tg.ws.time_left_hours", locale, hours=hours, minutes=minutes)
    return gettext("tg.ws.time_left_minutes", locale, minutes=minutes)


def parse_money(text: str, currency: str | None = None) -> Money:
    """"80", "80 CNY", "¥80", "500 stars" -> Money; `currency` fixes the currency."""
    words = text.strip().replace(",", "").lower()
    found = currency
    for word, code in sorted(CURRENCY_WORDS.items(), key=lambda item: -len(item[0])):
        if word in words:
            words = words.replace(word, " ")
            found = found or code
    for code in CURRENCIES:
        if code.lower() in words:
            words = words.replace(code.lower(), " ")
            found = found or code
    return Money.parse(words.strip() or text, found or DEFAULT_CURRENCY)


def parse_hours(text: str) -> tuple[WeeklyRule, ...]:
    """Lines like "mon-fri 09:00-18:00", "daily 10:00-22:00", "周六 10:00-16:00"."""
    rules: list[WeeklyRule] = []
    for line in text.replace(";", "\n").replace("，", "\n").replace(",", "\n").splitlines():
        line = line.strip()
        if not line:
            continue
        days, _, hours = line.partition(" ")
        rules.extend(WeeklyRule.parse(f"{WEEKDAYS[day]} {hours.strip()}") for day in _days(days, line))
    if not rules:
        raise DomainError("error.availability.invalid_rule", rule=text.strip())
    return tuple(rules)


def _days(words: str, line: str) -> Iterable[int]:
    words = words.strip().lower()
    if words in EVERY_DAY:
        return range(7)
    first, dash, last = words.partition("-")
    if first not in DAY_WORDS or (dash and last not in DAY_WORDS):
        raise DomainError("error.availability.invalid_rule", rule=line)
    start = DAY_WORDS[first]
    end = DAY_WORDS[last] if dash else start
    return [(start + step) % 7 for step in range((end - start) % 7 + 1)]


def hours_text(labels: Iterable[str], locale: str) -> str:
    """Rule labels ("mon 09:00-18:00") with the day named in the reader's language."""
    shown = []
    for label in labels:
        day, _, hours = label.partition(" ")
        shown.append(f"{gettext(f'tg.pv.weekday.{day}', locale)} {hours}")
    return ", ".join(shown) or "—"


def unit_name(pricing_unit: str, locale: str) -> str:
    return gettext(f"tg.pv.unit.{pricing_unit}", locale)
