"""The customer flows' pure pieces: the calendar's arithmetic in two time zones, its
keyboards, invoice payloads, payment methods per currency, budgets and filters as typed or
tapped, and a text in both languages for every key the flows use."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.filters.callback_data import MAX_CALLBACK_LENGTH, CallbackData

from bots.i18n import LOCALES, has_text
from bots.telegram.calendar import bookable_starts, month_keyboard, open_request_starts
from bots.telegram.handlers.customer.browse import apply_filter
from bots.telegram.handlers.customer.callbacks import (
    BrowseCallback,
    CalendarCallback,
    FilterCallback,
    PayCallback,
    ProviderCallback,
    day_number,
    packed,
)
from bots.telegram.handlers.customer.details import parse_budget
from bots.telegram.payments import InvoicePayload, PaymentOptions
from core.booking.states import OrderState
from core.catalog.availability import AvailabilityPlan, Schedule, WeeklyRule
from core.catalog.model import Presence, PricingUnit
from core.shared.money import Money
from core.wallet.ledger import Reason

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def schedule(*rules: str, buffer: int = 15) -> Schedule:
    return Schedule.of(1, "Asia/Shanghai", AvailabilityPlan(
        rules=tuple(WeeklyRule.parse(r) for r in rules), buffer_minutes=buffer))


def local_times(starts: list[datetime], zone: ZoneInfo) -> list[str]:
    return [f"{s.astimezone(zone):%H:%M}" for s in starts]


def test_starts_are_grouped_by_the_customers_own_days() -> None:
    # Monday 09:00-12:00 in Shanghai is Sunday 17:00-20:00 in Los Angeles.
    by_day = bookable_starts(schedule("mon 09:00-12:00"), [], NOW, timedelta(hours=1),
                             LOS_ANGELES, date(2026, 1, 11), date(2026, 1, 12))
    assert list(by_day) == [date(2026, 1, 11)]
    assert local_times(by_day[date(2026, 1, 11)], LOS_ANGELES) == ["17:00", "18:00", "19:00"]


def test_a_long_booking_needs_every_hour_free_and_keeps_clear_of_booked_time() -> None:
    day = date(2026, 1, 12)
    booked = [(datetime(2026, 1, 12, 4, 0, tzinfo=UTC), datetime(2026, 1, 12, 5, 0, tzinfo=UTC))]
    by_day = bookable_starts(schedule("mon 09:00-18:00"), booked, NOW, timedelta(hours=2),
                             SHANGHAI, day, day)
    # 12:00-13:00 is booked, with 15 minutes kept free on each side.
    assert local_times(by_day[day], SHANGHAI) == ["09:00", "14:00", "15:00", "16:00"]


def test_half_hour_rounds_are_offered_on_the_half_hour() -> None:
    day = date(2026, 1, 12)
    by_day = bookable_starts(schedule("mon 09:00-10:30"), [], NOW, timedelta(minutes=30),
                             SHANGHAI, day, day)
    assert local_times(by_day[day], SHANGHAI) == ["09:00", "09:30", "10:00"]


def test_nothing_is_offered_inside_the_minimum_notice() -> None:
    # 17:00 in Shanghai now; the provider works until 18:00 but wants an hour's notice.
    today = date(2026, 1, 5)
    assert bookable_starts(schedule("mon 09:00-18:00"), [], NOW, timedelta(hours=1), SHANGHAI,
                           today, today) == {}


def test_open_requests_start_on_whole_hours_at_least_half_an_hour_ahead() -> None:
    starts = open_request_starts(NOW, SHANGHAI, date(2026, 1, 5))
    assert local_times(starts, SHANGHAI)[:2] == ["18:00", "19:00"]
    assert local_times(starts, SHANGHAI)[-1] == "23:00"


def test_the_month_shows_numbers_for_open_days_and_every_button_fits_telegram() -> None:
    def data(d: date) -> str:
        return CalendarCallback(mode="b", ref=2**63 - 1, owner=2**63 - 1, units=100,
                                action="d", day=day_number(d)).pack()

    keyboard = month_keyboard(2026, 1, {date(2026, 1, 12), date(2026, 1, 19)}, "en",
                              day_data=data, previous_data=None, next_data=data(date(2026, 2, 1)))
    cells = [b for row in keyboard.inline_keyboard for b in row]
    assert [b.text for b in keyboard.inline_keyboard[0]] == ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
    assert [b.text for b in cells if b.text.isdigit()] == ["12", "19"]
    assert sum(b.text == "·" for b in cells) == 29
    assert all(len((b.callback_data or "").encode()) <= MAX_CALLBACK_LENGTH for b in cells)
    slot = CalendarCallback(mode="r", ref=2**63 - 1, owner=2**63 - 1, units=100, action="s",
                            minute=int(datetime(2099, 12, 31, tzinfo=UTC).timestamp() // 60))
    assert len(slot.pack().encode()) <= MAX_CALLBACK_LENGTH
    top_up = PayCallback(purpose="t", ref=2**63 - 1, amount=10**8, method="sandbox",
                         currency="XTR")
    assert len(top_up.pack().encode()) <= MAX_CALLBACK_LENGTH


def test_invoice_payloads_round_trip_and_anything_else_is_not_ours() -> None:
    payload = InvoicePayload("o", 42, "9f1c2a")
    assert payload.pack() == "o42:9f1c2a"
    assert InvoicePayload.parse("o42:9f1c2a") == payload
    for foreign in ("", "order:42", "z42:abc", "o42:", "o:abc", "o42:a b", "t1:" + "x" * 101):
        assert InvoicePayload.parse(foreign) is None


def test_methods_offered_follow_the_currency_and_the_deployment() -> None:
    demo = PaymentOptions(stars=True, card_token=None, sandbox=True)
    assert demo.methods_for("XTR") == ["stars", "sandbox", "wallet"]
    assert demo.methods_for("CNY") == ["sandbox", "wallet"]
    production = PaymentOptions(stars=True, card_token="123:LIVE:x", sandbox=False)
    assert production.methods_for("CNY") == ["card", "wallet"]
    assert production.methods_for("USD") == ["card", "wallet"]
    assert production.methods_for("XTR") == ["stars", "wallet"]


@pytest.mark.parametrize(("typed", "budget"), [
    ("80", Money(8000, "CNY")), ("80.5 CNY", Money(8050, "CNY")), ("¥ 120", Money(12000, "CNY")),
    ("500 xtr", Money(500, "XTR")), ("$12", Money(1200, "USD")),
    ("eighty", None), ("0", None), ("-5", None), ("1.234", None), ("5 XTR CNY", None),
    ("0.5 XTR", None), ("80 90", None),
])
def test_budgets_are_read_exactly_or_refused(typed: str, budget: Money | None) -> None:
    assert parse_budget(typed) == budget


def test_a_forged_filter_value_changes_nothing() -> None:
    before = {"online": True}
    assert apply_filter(before, "price", "CNY-abc-") == before
    assert apply_filter(before, "price", "BTC-0-100") == before
    assert apply_filter(before, "rating", "6.0") == before
    assert apply_filter(before, "price", "CNY-0-5000") == {"online": True,
                                                           "price": [0, 5000, "CNY"]}
    assert apply_filter(before, "clear", "") == {}


def used_keys() -> set[str]:
    """Every literal text key of the customer flows, and every key family they format."""
    root = Path(__file__).resolve().parents[3] / "bots" / "telegram"
    sources = [*root.joinpath("handlers", "customer").glob("*.py"), root / "calendar.py"]
    keys: set[str] = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        keys |= {"tgc." + k for k in re.findall(r"\bt\(\s*\"([a-z0-9_.]+)\"", text)}
        keys |= set(re.findall(r"\"((?:tgc|error\.tgc)\.[a-z0-9_.]+[a-z0-9_])\"", text))
    families = {
        "tgc.state.": [s.value for s in OrderState],
        "tgc.unit.": [u.value for u in PricingUnit],
        "tgc.presence.": [p.value for p in Presence],
        "tgc.wallet.reason.": [r.value for r in Reason],
        "tgc.weekday.": [str(d) for d in range(7)],
        "tgc.weekday.short.": [str(d) for d in range(7)],
        "tgc.pay.method.": ["stars", "card", "sandbox", "wallet"],
        "tgc.pay.describe.": list("oxrtw"),
        "tgc.pay.invoice.title.": list("oxrtw"),
        "tgc.wallet.top_up.": ["stars", "card", "sandbox"],
        "tgc.details.summary.": ["book", "request"],
        "tgc.dispute.": ["dispute_prompt", "respond_prompt"],
        "tgc.order.action.": ["show", "pay", "cancel", "cancel_yes", "keep", "reschedule",
                              "confirm", "dispute", "review", "tip", "extend", "raise",
                              "refresh", "again", "agree", "decline"],
        "tg.command.": ["browse", "search", "orders", "request", "favourites", "wallet"],
    }
    keys |= {prefix + name for prefix, names in families.items() for name in names}
    return {k for k in keys if not k.endswith(".")}


@pytest.mark.parametrize("locale", LOCALES)
def test_every_text_of_the_customer_flows_exists_in_both_languages(locale: str) -> None:
    keys = used_keys()
    assert len(keys) > 200
    assert sorted(k for k in keys if not has_text(k, locale)) == []


@pytest.mark.parametrize("made", [
    BrowseCallback(category_id=0),
    BrowseCallback(category_id=12, page=3),
    FilterCallback(category_id=4, name="menu"),
    FilterCallback(category_id=4, name="price", value="CNY-0-5000"),
    ProviderCallback(provider_id=9_007_199_254_740_993, action="card"),
    CalendarCallback(mode="b", ref=71, owner=1_234_567_890, units=2, action="d", day=20260112),
    CalendarCallback(mode="r", ref=5, owner=9, units=1, action="s", minute=29_455_140),
])
def test_buttons_packed_by_hand_say_what_the_callback_data_would(made: CallbackData) -> None:
    by_hand = packed(type(made), **made.model_dump())
    assert by_hand == made.pack()
    assert type(made).unpack(by_hand) == made


def test_packing_by_hand_refuses_what_the_callback_data_refuses() -> None:
    with pytest.raises(ValueError):  # the separator inside a value
        packed(FilterCallback, category_id=1, name="price", value="a:b")
    with pytest.raises(ValueError):  # past Telegram's 64 bytes
        packed(FilterCallback, category_id=1, name="tags", value="x" * 64)
    with pytest.raises(TypeError):
        packed(ProviderCallback, provider_id=1)  # no action
    with pytest.raises(TypeError):
        packed(ProviderCallback, provider_id="1", action="card")
