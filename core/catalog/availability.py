"""When a provider can be booked: weekly rules in their time zone, and the arithmetic on them.

A `Schedule` holds weekly rules (weekday, start, end in the provider's local wall-clock time,
on quarter hours; a rule whose end is at or before its start runs past midnight), blocked
dates, a buffer kept free around every booking, a minimum notice and a booking horizon.

Everything is computed in the provider's zone with `zoneinfo` and returned as aware UTC
datetimes, so daylight-saving days come out right: a 00:00-06:00 rule lasts seven real hours
on the night clocks go back and five on the night they go forward. A blocked date removes
every minute whose local date is that date. Bookings belong to the booking area: it passes
them as `busy` intervals, and the buffer is kept on both sides of each.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from core.catalog.model import check_timezone
from core.shared.clock import ensure_utc
from core.shared.errors import DomainError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY

# Weekly hours start and end on quarter hours; `week_slots` maps the week in them.
SLOT_MINUTES = 15
SLOTS_PER_DAY = MINUTES_PER_DAY // SLOT_MINUTES
SLOTS_PER_WEEK = 7 * SLOTS_PER_DAY

MAX_RULES = 50
MAX_BLOCKED_DATES = 366
# name -> (minimum, maximum) of the plan's numeric settings
LIMITS = {
    "buffer_minutes": (0, 240),
    "min_notice_minutes": (0, 7 * MINUTES_PER_DAY),
    "horizon_days": (1, 365),
}
MIN_SLOT_MINUTES = 5


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _parse_hhmm(text: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(text)
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > MINUTES_PER_DAY:
        raise ValueError(text)
    return value


@dataclass(frozen=True, order=True)
class WeeklyRule:
    weekday: int  # 0 = Monday … 6 = Sunday, in the provider's zone
    start_minute: int  # minutes after local midnight, 0..1439
    end_minute: int  # 1..1440; at or before start_minute: the shift ends the next day

    def __post_init__(self) -> None:
        if not (
            0 <= self.weekday <= 6
            and 0 <= self.start_minute < MINUTES_PER_DAY
            and 0 <= self.end_minute <= MINUTES_PER_DAY
            and self.start_minute != self.end_minute
        ):
            raise DomainError("error.availability.invalid_rule", rule=self.label())
        # Hours are set in quarter hours, which keeps the quarter-hour week map exact.
        if self.start_minute % SLOT_MINUTES or self.end_minute % SLOT_MINUTES:
            raise DomainError("error.availability.not_quarter_hour", rule=self.label())

    @classmethod
    def parse(cls, text: str) -> WeeklyRule:
        """`"mon 09:00-18:00"`, `"fri 22:00-02:00"` (overnight), `"sun 00:00-24:00"`."""
        try:
            day, _, hours = text.strip().lower().partition(" ")
            start, _, end = hours.partition("-")
            return cls(WEEKDAYS.index(day[:3]), _parse_hhmm(start), _parse_hhmm(end))
        except ValueError as exc:
            raise DomainError("error.availability.invalid_rule", rule=text) from exc

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    @property
    def length_minutes(self) -> int:
        if self.crosses_midnight:
            return MINUTES_PER_DAY - self.start_minute + self.end_minute
        return self.end_minute - self.start_minute

    def label(self) -> str:
        day = WEEKDAYS[self.weekday] if 0 <= self.weekday <= 6 else str(self.weekday)
        return f"{day} {_hhmm(self.start_minute)}-{_hhmm(self.end_minute)}"

    def week_intervals(self) -> list[tuple[int, int]]:
        """The rule as minute intervals of the local week [0, 10080), split where it wraps."""
        start = self.weekday * MINUTES_PER_DAY + self.start_minute
        end = start + self.length_minutes
        if end <= MINUTES_PER_WEEK:
            return [(start, end)]
        return [(start, MINUTES_PER_WEEK), (0, end - MINUTES_PER_WEEK)]

    def day_pieces(self) -> list[tuple[int, int, int]]:
        """(weekday, start, end) pieces within single local days (for indexed search)."""
        if not self.crosses_midnight:
            return [(self.weekday, self.start_minute, self.end_minute)]
        pieces = [(self.weekday, self.start_minute, MINUTES_PER_DAY)]
        if self.end_minute > 0:
            pieces.append(((self.weekday + 1) % 7, 0, self.end_minute))
        return pieces


def check_no_overlap(rules: Iterable[WeeklyRule]) -> None:
    pieces = sorted(
        (interval, rule) for rule in rules for interval in rule.week_intervals()
    )
    for (previous, first), (current, second) in pairwise(pieces):
        if current[0] < previous[1]:
            raise DomainError(
                "error.availability.overlapping_rules", first=first.label(), second=second.label()
            )


@dataclass(frozen=True, kw_only=True)
class AvailabilityPlan:
    """The provider-chosen part of a schedule (the time zone comes from their profile)."""

    rules: tuple[WeeklyRule, ...] = ()
    blocked_dates: frozenset[date] = frozenset()
    buffer_minutes: int = 15
    min_notice_minutes: int = 60
    horizon_days: int = 30

    def validated(self) -> AvailabilityPlan:
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise DomainError(
                    "error.availability.invalid_setting", setting=name, value=value, minimum=low, maximum=high
                )
        if len(self.rules) > MAX_RULES:
            raise DomainError("error.availability.too_many_rules", maximum=MAX_RULES)
        if len(self.blocked_dates) > MAX_BLOCKED_DATES:
            raise DomainError("error.availability.too_many_blocked_dates", maximum=MAX_BLOCKED_DATES)
        check_no_overlap(self.rules)
        return replace(self, rules=tuple(sorted(set(self.rules))))


@dataclass(frozen=True, kw_only=True)
class Schedule:
    provider_id: int
    timezone: str
    rules: tuple[WeeklyRule, ...] = ()
    blocked_dates: frozenset[date] = frozenset()
    buffer_minutes: int = 15
    min_notice_minutes: int = 60
    horizon_days: int = 30
    version: int = 0

    @classmethod
    def of(cls, provider_id: int, timezone: str, plan: AvailabilityPlan) -> Schedule:
        plan = plan.validated()
        return cls(
            provider_id=provider_id,
            timezone=check_timezone(timezone),
            rules=plan.rules,
            blocked_dates=plan.blocked_dates,
            buffer_minutes=plan.buffer_minutes,
            min_notice_minutes=plan.min_notice_minutes,
            horizon_days=plan.horizon_days,
        )

    @property
    def plan(self) -> AvailabilityPlan:
        return AvailabilityPlan(
            rules=self.rules,
            blocked_dates=self.blocked_dates,
            buffer_minutes=self.buffer_minutes,
            min_notice_minutes=self.min_notice_minutes,
            horizon_days=self.horizon_days,
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime  # aware UTC
    end: datetime  # aware UTC


Interval = tuple[datetime, datetime]


@functools.lru_cache(maxsize=4096)
def _utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """Local wall-clock `minute` of `day` (1440 = next midnight) as an aware UTC instant.

    zoneinfo resolves a wall time that does not exist (the spring-forward gap) with the
    offset before the change and an ambiguous one (the repeated hour) with its first
    occurrence, so shifts keep their real length on both transition days.

    A pure function asked the same few questions over and over (every calendar a customer
    opens asks for the same days' shift edges), so its answers are kept: converting was
    most of the cost of a day's windows.
    """
    day_offset, minute = divmod(minute, MINUTES_PER_DAY)
    local = datetime.combine(day + timedelta(days=day_offset), time(minute // 60, minute % 60))
    return local.replace(tzinfo=zone).astimezone(UTC)


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def day_windows(schedule: Schedule, day: date) -> list[Interval]:
    """The UTC intervals in which the provider works on local `day` (before bookings)."""
    if day in schedule.blocked_dates:
        return []
    zone = schedule.zone
    day_start, day_end = _utc(day, 0, zone), _utc(day, MINUTES_PER_DAY, zone)
    yesterday = day - timedelta(days=1)
    shifts: list[Interval] = []
    for rule in schedule.rules:
        if rule.weekday == day.weekday():
            shifts.append(
                (_utc(day, rule.start_minute, zone), _utc(day, rule.start_minute + rule.length_minutes, zone))
            )
        if rule.crosses_midnight and rule.weekday == yesterday.weekday():
            shifts.append(
                (
                    _utc(yesterday, rule.start_minute, zone),
                    _utc(yesterday, rule.start_minute + rule.length_minutes, zone),
                )
            )
    clipped = ((max(s, day_start), min(e, day_end)) for s, e in shifts)
    return _merge((s, e) for s, e in clipped if s < e)


def windows_between(schedule: Schedule, start: datetime, end: datetime) -> list[Interval]:
    """Working intervals overlapping [start, end), merged across midnights."""
    zone = schedule.zone
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    intervals: list[Interval] = []
    day = first
    while day <= last:
        intervals.extend(day_windows(schedule, day))
        day += timedelta(days=1)
    return [(s, e) for s, e in _merge(intervals) if s < end and e > start]


def _conflicts(start: datetime, end: datetime, busy: Sequence[Interval], buffer: timedelta) -> bool:
    return any(start < b_end + buffer and end > b_start - buffer for b_start, b_end in busy)


def _normalize_busy(busy: Sequence[Interval]) -> list[Interval]:
    return [(ensure_utc(s), ensure_utc(e)) for s, e in busy]


def free_slots(
    schedule: Schedule,
    day: date,
    now: datetime,
    busy: Sequence[Interval] = (),
    slot_minutes: int = 60,
) -> list[Slot]:
    """Bookable slots of `slot_minutes` on the provider's local `day`, in UTC.

    Slots lie on a grid from the start of each working window; one is free when it starts
    after the minimum notice, within the horizon, and keeps the buffer clear of every busy
    interval.
    """
    length = timedelta(minutes=slot_minutes)
    return [Slot(start, start + length)
            for start in free_starts(schedule, day, now, busy, slot_minutes)]


def free_starts(
    schedule: Schedule,
    day: date,
    now: datetime,
    busy: Sequence[Interval] = (),
    slot_minutes: int = 60,
) -> list[datetime]:
    """The starts of `free_slots(...)`, in order, for callers that need no more (a calendar
    asks for a month of them at a time)."""
    if slot_minutes < MIN_SLOT_MINUTES:
        raise DomainError("error.availability.invalid_slot_length", minimum=MIN_SLOT_MINUTES)
    now = ensure_utc(now)
    buffer = timedelta(minutes=schedule.buffer_minutes)
    # Each busy interval widened by the buffer on both sides: what a slot must not overlap.
    kept_clear = [(ensure_utc(s) - buffer, ensure_utc(e) + buffer) for s, e in busy]
    length = timedelta(minutes=slot_minutes)
    earliest = now + timedelta(minutes=schedule.min_notice_minutes)
    latest = now + timedelta(days=schedule.horizon_days)
    starts: list[datetime] = []
    for window_start, window_end in day_windows(schedule, day):
        # Only what reaches into this window can touch its slots (most windows: nothing).
        near = [(lo, hi) for lo, hi in kept_clear if lo < window_end and hi > window_start]
        start = window_start
        while start + length <= window_end:
            end = start + length
            if earliest <= start <= latest and not (
                near and any(start < hi and end > lo for lo, hi in near)
            ):
                starts.append(start)
            start = end
    return starts


def check_bookable(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    now: datetime,
    busy: Sequence[Interval] = (),
) -> None:
    """Refuse a booking of [start, end) the schedule does not allow, saying why."""
    start, end, now = ensure_utc(start), ensure_utc(end), ensure_utc(now)
    if end <= start:
        raise DomainError("error.availability.invalid_range")
    if start < now:
        raise DomainError("error.availability.in_past")
    if start < now + timedelta(minutes=schedule.min_notice_minutes):
        raise DomainError("error.availability.too_little_notice", minutes=schedule.min_notice_minutes)
    if start > now + timedelta(days=schedule.horizon_days):
        raise DomainError("error.availability.beyond_horizon", days=schedule.horizon_days)
    if not any(s <= start and end <= e for s, e in windows_between(schedule, start, end)):
        raise DomainError("error.availability.outside_hours")
    if _conflicts(start, end, _normalize_busy(busy), timedelta(minutes=schedule.buffer_minutes)):
        raise DomainError("error.availability.busy", buffer_minutes=schedule.buffer_minutes)


def week_slots(rules: Iterable[WeeklyRule]) -> str:
    """The local week as 672 characters, one per quarter hour from Monday 00:00, "1" where
    the provider works. Rules start and end on quarter hours, so the map is exact: search
    answers "works at this local time?" from the provider's row alone."""
    slots = ["0"] * SLOTS_PER_WEEK
    for rule in rules:
        for start, end in rule.week_intervals():
            for slot in range(start // SLOT_MINUTES, end // SLOT_MINUTES):
                slots[slot] = "1"
    return "".join(slots)


def slot_index(weekday: int, minute: int) -> int:
    """The position in `week_slots` of a local weekday and minute of day."""
    return weekday * SLOTS_PER_DAY + minute // SLOT_MINUTES


def local_moment(timezone: str, instant: datetime) -> tuple[date, int, int]:
    """(local date, weekday, minute of day) of `instant` in `timezone` (for search)."""
    local = ensure_utc(instant).astimezone(ZoneInfo(timezone))
    return local.date(), local.weekday(), local.hour * 60 + local.minute
