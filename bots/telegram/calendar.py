"""The slot calendar picker: a month of days, then one day's start times, as inline keyboards.

Everything is shown in the customer's time zone. Which starts are bookable comes from the
catalog's availability arithmetic (`core.catalog.availability.free_starts`, computed in the
provider's zone) with the provider's booked time taken out: a start is offered when every
step of the booking's length is free, so a two-hour lesson is only offered where two free
hours follow each other. The booking area checks the slot again when the order is placed,
so a picker shown a minute ago can never double-book anyone.

The keyboards take the callback data of each button from the caller, so the same picker
serves booking an offer, rescheduling an order and timing an open request.
"""

from __future__ import annotations

import calendar as stdcalendar
import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bots.i18n import gettext
from core.catalog.availability import Interval, Schedule, free_starts

TIMES_PER_ROW = 4
# Open requests can be timed this far ahead, on the hour.
OPEN_REQUEST_DAYS = 14
OPEN_REQUEST_NOTICE = timedelta(minutes=30)


class CalendarNoop(CallbackData, prefix="cz"):
    """A cell that only labels (a weekday, an empty day): tapping it does nothing."""


NOOP = CalendarNoop().pack()


def step_minutes(duration: timedelta) -> int:
    """The grid starts are offered on: hours when the length is whole hours, else halves."""
    minutes = int(duration.total_seconds() // 60)
    if minutes % 60 == 0:
        return 60
    if minutes % 30 == 0:
        return 30
    return max(5, minutes)


def bookable_starts(
    schedule: Schedule,
    busy: Sequence[Interval],
    now: datetime,
    duration: timedelta,
    zone: ZoneInfo,
    first: date,
    last: date,
) -> dict[date, list[datetime]]:
    """Customer-local day -> the UTC starts of a booking of `duration` that fit, in order."""
    step = step_minutes(duration)
    pieces = max(1, int(duration.total_seconds() // 60) // step)
    begin = datetime.combine(first, time(0), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)
    provider_zone = schedule.zone
    day = begin.astimezone(provider_zone).date() - timedelta(days=1)
    final = end.astimezone(provider_zone).date() + timedelta(days=1)
    free: set[datetime] = set()
    while day <= final:
        free.update(free_starts(schedule, day, now, busy, step))
        day += timedelta(days=1)
    grid = timedelta(minutes=step)
    # How far after its start each further step of the booking begins (none for one step).
    further = [grid * k for k in range(1, pieces)]
    by_day: dict[date, list[datetime]] = {}
    for start in sorted(free):
        if begin <= start < end and (not further or all(start + gap in free for gap in further)):
            by_day.setdefault(start.astimezone(zone).date(), []).append(start)
    return by_day


def open_request_starts(now: datetime, zone: ZoneInfo, day: date) -> list[datetime]:
    """Whole hours of a local day far enough ahead for an open request."""
    earliest = now + OPEN_REQUEST_NOTICE
    starts = []
    for hour in range(24):
        start = datetime.combine(day, time(hour), zone).astimezone(UTC)
        if start >= earliest:
            starts.append(start)
    return starts


def open_request_days(now: datetime, zone: ZoneInfo) -> set[date]:
    today = now.astimezone(zone).date()
    days = {today + timedelta(days=n) for n in range(OPEN_REQUEST_DAYS)}
    return {d for d in days if open_request_starts(now, zone, d)}


def month_bounds(year: int, month: int) -> tuple[date, date]:
    last = stdcalendar.monthrange(year, month)[1]
    return date(year, month, 1), date(year, month, last)


def shift_month(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


def _cell(text: str, data: str = NOOP) -> InlineKeyboardButton:
    if data == NOOP:
        return _label(text)
    return InlineKeyboardButton(text=text, callback_data=data)


@functools.lru_cache(maxsize=512)
def _label(text: str) -> InlineKeyboardButton:
    """A cell that only labels (a weekday, a dot, a blank, the month): the same few in every
    month, so each is built once and shared (nothing changes a button once built; building
    one is most of the cost of a month's keyboard)."""
    return InlineKeyboardButton(text=text, callback_data=NOOP)


def month_keyboard(
    year: int,
    month: int,
    enabled: Iterable[date],
    locale: str,
    *,
    day_data: Callable[[date], str],
    previous_data: str | None,
    next_data: str | None,
    extra_rows: Sequence[Sequence[InlineKeyboardButton]] = (),
) -> InlineKeyboardMarkup:
    """Weeks Monday to Sunday; a bookable day is its number, any other day a dot."""
    open_days = set(enabled)
    rows: list[list[InlineKeyboardButton]] = [
        [_cell(gettext(f"tgc.weekday.short.{d}", locale)) for d in range(7)]
    ]
    for week in stdcalendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        row = []
        for day in week:
            if day.month != month:
                row.append(_cell(" "))
            elif day in open_days:
                row.append(_cell(str(day.day), day_data(day)))
            else:
                row.append(_cell("·"))
        rows.append(row)
    navigation = [
        _cell("◀", previous_data) if previous_data else _cell(" "),
        _cell(f"{year}-{month:02d}"),
        _cell("▶", next_data) if next_data else _cell(" "),
    ]
    rows.append(navigation)
    rows.extend(list(r) for r in extra_rows)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def times_keyboard(
    starts: Sequence[datetime],
    zone: ZoneInfo,
    *,
    start_data: Callable[[datetime], str],
    back: InlineKeyboardButton,
) -> InlineKeyboardMarkup:
    """One button per start time (local `HH:MM`), a few per row, and a way back."""
    # `time.isoformat` writes what "%H:%M" does, in a third of strftime's time.
    buttons = [
        _cell(start.astimezone(zone).time().isoformat("minutes"), start_data(start))
        for start in starts
    ]
    rows = [buttons[i : i + TIMES_PER_ROW] for i in range(0, len(buttons), TIMES_PER_ROW)]
    rows.append([back])
    return InlineKeyboardMarkup(inline_keyboard=rows)
