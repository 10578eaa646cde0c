"""Free slots and bookability: time zones and DST, buffers, notice, horizon, blocked dates, overlaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.catalog.availability import (
    AvailabilityPlan,
    Schedule,
    WeeklyRule,
    check_bookable,
    free_slots,
    free_starts,
    slot_index,
    week_slots,
)
from core.shared.errors import DomainError

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = date(2026, 1, 5)
# Sunday night before: far enough ahead for any notice in these tests.
EARLY = datetime(2026, 1, 4, 0, 0, tzinfo=UTC)


def schedule(*rules: str, timezone: str = "Asia/Shanghai", **plan: object) -> Schedule:
    settings: dict[str, object] = {"buffer_minutes": 0, "min_notice_minutes": 0, "horizon_days": 30}
    settings.update(plan)
    return Schedule.of(
        7, timezone, AvailabilityPlan(rules=tuple(WeeklyRule.parse(r) for r in rules), **settings)  # type: ignore[arg-type]
    )


def local(day: date, hour: int, minute: int = 0, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


def starts(slots: list) -> list[str]:  # type: ignore[type-arg]
    return [s.start.astimezone(SHANGHAI).strftime("%H:%M") for s in slots]


def test_slots_follow_the_weekly_rule_in_the_providers_zone_and_come_back_in_utc() -> None:
    slots = free_slots(schedule("mon 09:00-12:00"), MONDAY, EARLY)
    assert [s.start for s in slots] == [
        datetime(2026, 1, 5, 1, 0, tzinfo=UTC),
        datetime(2026, 1, 5, 2, 0, tzinfo=UTC),
        datetime(2026, 1, 5, 3, 0, tzinfo=UTC),
    ]
    assert all(s.end - s.start == timedelta(hours=1) for s in slots)
    assert free_slots(schedule("mon 09:00-12:00"), MONDAY + timedelta(days=1), EARLY) == []


def test_a_short_night_when_clocks_go_forward_and_a_long_one_when_they_go_back() -> None:
    night = schedule("sun 00:00-06:00", timezone="America/New_York", horizon_days=365)
    spring, autumn = date(2026, 3, 8), date(2026, 11, 1)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    spring_slots = free_slots(night, spring, now)
    autumn_slots = free_slots(night, autumn, now)
    assert len(spring_slots) == 5
    assert len(autumn_slots) == 7
    assert spring_slots[0].start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    assert spring_slots[-1].end == datetime(2026, 3, 8, 10, 0, tzinfo=UTC)  # 06:00 EDT
    assert autumn_slots[-1].end == datetime(2026, 11, 1, 11, 0, tzinfo=UTC)  # 06:00 EST


def test_the_same_wall_clock_hour_moves_in_utc_across_a_dst_change() -> None:
    day_shift = schedule("mon 09:00-10:00", timezone="America/New_York", horizon_days=365)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    before = free_slots(day_shift, date(2026, 3, 2), now)
    after = free_slots(day_shift, date(2026, 3, 9), now)
    assert before[0].start == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    assert after[0].start == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    check_bookable(day_shift, after[0].start, after[0].end, now)
    with pytest.raises(DomainError) as refused:
        check_bookable(
            day_shift,
            datetime(2026, 3, 9, 14, 0, tzinfo=UTC),
            datetime(2026, 3, 9, 15, 0, tzinfo=UTC),
            now,
        )
    assert refused.value.key == "error.availability.outside_hours"


def test_the_buffer_is_kept_free_on_both_sides_of_a_booking() -> None:
    busy = [(local(MONDAY, 12), local(MONDAY, 13))]
    tight = schedule("mon 09:00-17:00")
    buffered = schedule("mon 09:00-17:00", buffer_minutes=15)
    assert starts(free_slots(tight, MONDAY, EARLY, busy)) == [
        "09:00", "10:00", "11:00", "13:00", "14:00", "15:00", "16:00"
    ]
    assert starts(free_slots(buffered, MONDAY, EARLY, busy)) == [
        "09:00", "10:00", "14:00", "15:00", "16:00"
    ]
    with pytest.raises(DomainError) as refused:
        check_bookable(buffered, local(MONDAY, 13, 5), local(MONDAY, 14), EARLY, busy)
    assert refused.value.key == "error.availability.busy"
    check_bookable(buffered, local(MONDAY, 13, 15), local(MONDAY, 14), EARLY, busy)



def test_a_calendar_asking_for_starts_alone_gets_those_of_the_free_slots() -> None:
    busy = [(local(MONDAY, 12), local(MONDAY, 13))]
    night = schedule("sun 00:00-06:00", timezone="America/New_York", horizon_days=365)
    cases = [
        (schedule("mon 09:00-17:00", buffer_minutes=15), MONDAY, EARLY, 60),
        (schedule("mon 09:00-17:00", min_notice_minutes=120), MONDAY, local(MONDAY, 9), 30),
        (night, date(2026, 3, 8), datetime(2026, 3, 1, tzinfo=UTC), 60),  # clocks go forward
        (night, date(2026, 11, 1), datetime(2026, 3, 1, tzinfo=UTC), 90),  # and back
    ]
    for plan, day, now, minutes in cases:
        slots = free_slots(plan, day, now, busy, minutes)
        assert slots
        assert free_starts(plan, day, now, busy, minutes) == [slot.start for slot in slots]

def test_minimum_notice_hides_slots_that_start_too_soon() -> None:
    rules = schedule("mon 09:00-13:00", min_notice_minutes=90)
    now = local(MONDAY, 8, 45)
    assert starts(free_slots(rules, MONDAY, now)) == ["11:00", "12:00"]
    with pytest.raises(DomainError) as refused:
        check_bookable(rules, local(MONDAY, 10), local(MONDAY, 11), now)
    assert refused.value.key == "error.availability.too_little_notice"
    assert refused.value.params == {"minutes": 90}


def test_nothing_is_bookable_beyond_the_horizon() -> None:
    rules = schedule("mon 09:00-10:00", horizon_days=7)
    now = local(MONDAY, 9)
    assert free_slots(rules, MONDAY + timedelta(days=7), now) != []  # exactly a week ahead
    assert free_slots(rules, MONDAY + timedelta(days=14), now) == []
    later = MONDAY + timedelta(days=14)
    with pytest.raises(DomainError) as refused:
        check_bookable(rules, local(later, 9), local(later, 10), now)
    assert refused.value.key == "error.availability.beyond_horizon"


def test_a_blocked_date_has_no_slots_not_even_from_a_shift_that_started_the_night_before() -> None:
    sunday = MONDAY - timedelta(days=1)
    rules = schedule("sun 22:00-02:00", "mon 09:00-10:00", blocked_dates=frozenset({MONDAY}))
    now = datetime(2026, 1, 3, tzinfo=UTC)
    assert free_slots(rules, MONDAY, now) == []
    assert starts(free_slots(rules, sunday, now)) == ["22:00", "23:00"]
    with pytest.raises(DomainError) as refused:
        check_bookable(rules, local(MONDAY, 9), local(MONDAY, 10), now)
    assert refused.value.key == "error.availability.outside_hours"


def test_an_overnight_rule_continues_into_the_next_day_and_can_be_booked_across_midnight() -> None:
    rules = schedule("sun 22:00-02:00")
    now = datetime(2026, 1, 3, tzinfo=UTC)
    assert starts(free_slots(rules, MONDAY, now)) == ["00:00", "01:00"]
    check_bookable(rules, local(MONDAY - timedelta(days=1), 23), local(MONDAY, 1), now)


def test_adjacent_rules_join_into_one_window() -> None:
    rules = schedule("mon 09:00-12:00", "mon 12:00-18:00")
    check_bookable(rules, local(MONDAY, 11), local(MONDAY, 13), EARLY)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("mon 09:00-12:00", "mon 11:00-13:00"),
        ("fri 22:00-02:00", "sat 01:00-03:00"),
        ("sun 23:00-01:00", "mon 00:30-02:00"),  # wraps around the end of the week
        ("tue 08:00-20:00", "tue 10:00-11:00"),
    ],
)
def test_overlapping_rules_are_refused(first: str, second: str) -> None:
    with pytest.raises(DomainError) as refused:
        schedule(first, second)
    assert refused.value.key == "error.availability.overlapping_rules"


@pytest.mark.parametrize("text", ["mon 09:00-09:00", "funday 09:00-10:00", "mon 9-10", "mon 25:00-26:00"])
def test_a_rule_that_is_not_a_rule_is_refused(text: str) -> None:
    with pytest.raises(DomainError) as refused:
        WeeklyRule.parse(text)
    assert refused.value.key == "error.availability.invalid_rule"


def test_rules_parse_and_print_back() -> None:
    assert WeeklyRule.parse("Fri 22:00-02:00").label() == "fri 22:00-02:00"
    assert WeeklyRule.parse("sun 00:00-24:00").length_minutes == 24 * 60


@pytest.mark.parametrize(
    "settings",
    [{"buffer_minutes": -1}, {"buffer_minutes": 500}, {"horizon_days": 0}, {"min_notice_minutes": 99_999}],
)
def test_settings_out_of_range_are_refused(settings: dict[str, int]) -> None:
    with pytest.raises(DomainError) as refused:
        schedule("mon 09:00-10:00", **settings)
    assert refused.value.key == "error.availability.invalid_setting"


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        schedule("mon 09:00-10:00", timezone="Mars/Olympus_Mons")
    assert refused.value.key == "error.catalog.invalid_timezone"


def test_past_and_backwards_bookings_are_refused() -> None:
    rules = schedule("mon 09:00-12:00")
    now = local(MONDAY, 11)
    with pytest.raises(DomainError) as past:
        check_bookable(rules, local(MONDAY, 9), local(MONDAY, 10), now)
    with pytest.raises(DomainError) as backwards:
        check_bookable(rules, local(MONDAY, 11, 30), local(MONDAY, 11), EARLY)
    assert past.value.key == "error.availability.in_past"
    assert backwards.value.key == "error.availability.invalid_range"


def test_naive_times_are_refused() -> None:
    rules = schedule("mon 09:00-12:00")
    with pytest.raises(ValueError):
        check_bookable(rules, datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 10), EARLY)


def test_the_quarter_hour_map_marks_exactly_the_working_quarter_hours() -> None:
    rules = [WeeklyRule.parse("mon 09:15-10:00"), WeeklyRule.parse("sun 23:30-00:30")]
    slots = week_slots(rules)
    assert len(slots) == 7 * 96
    working = {i for i, c in enumerate(slots) if c == "1"}
    # The overnight rule wraps from Sunday night into Monday morning.
    assert working == {37, 38, 39, 6 * 96 + 94, 6 * 96 + 95, 0, 1}
    assert slot_index(0, 9 * 60 + 14) == 36
    assert slot_index(6, 23 * 60 + 59) == 7 * 96 - 1


def test_hours_are_set_in_quarter_hours() -> None:
    with pytest.raises(DomainError) as refused:
        WeeklyRule.parse("mon 09:10-10:00")
    assert refused.value.key == "error.availability.not_quarter_hour"
