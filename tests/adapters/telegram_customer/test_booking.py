"""Booking: offer -> units -> a day and a start time from the calendar (in the customer's time
zone) -> notes and address -> confirm; the order the core holds is what the chat showed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import bootstrap
from bots.telegram.standin import SimUser
from core.booking.commands import BookOrder
from core.booking.ports import OrderFilter
from core.booking.states import OrderState
from core.catalog.model import GeoPoint
from core.identity.commands import RegisterFromChannel
from storage.db import create_engine
from storage.repositories.booking import BUSY_SECONDS, BusyCache, use_busy_cache
from tests.adapters.telegram_customer.conftest import Shop, find, labels, press, say
from tests.fakes import ManualClock
from tests.integration.statements import statements_on

# The clock starts Monday 2026-01-05 09:00 UTC, 17:00 in Shanghai (the customer's zone).
# Providers work Mondays 09:00-18:00 Shanghai time, so the first free morning is the 12th.
MONDAY_12_10_SHANGHAI = datetime(2026, 1, 12, 2, 0, tzinfo=UTC)
PEOPLE_SQUARE = GeoPoint(31.2304, 121.4737)


async def open_calendar(shop: Shop, ann: SimUser, provider_id: int, *, units: str) -> dict:
    await say(shop, ann, f"/start p_{provider_id}")
    card = await find(ann, "Services:")
    await press(ann, card, "Book")
    choose = await find(ann, "How many?")
    await press(ann, choose, units)
    return await find(ann, "Pick a day")


async def test_a_slot_is_booked_through_the_calendar_in_the_customers_time_zone(
    shop: Shop,
) -> None:
    provider_id, offer_id = await shop.provider("Xiaoyu", price=6000)
    ann = shop.customer()
    month = await open_calendar(shop, ann, provider_id, units="2 hour(s)")
    assert "Asia/Shanghai" in month["text"]
    days = [label for label in labels(month) if label.isdigit()]
    assert days == ["12", "19", "26"]  # Mondays after today's hours have passed

    await press(ann, month, "12")
    day = await find(ann, "2026-01-12: pick a start time")
    # Two-hour bookings must end by 18:00: the last start is 16:00.
    assert [label for label in labels(day) if ":" in label] == [
        "09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]
    await press(ann, day, "10:00")
    notes = await find(ann, "Anything the provider should know?")
    await say(shop, ann, "Please bring a headset")
    summary = await find(ann, "Please check your booking:")
    assert "Provider: Xiaoyu" in summary["text"]
    assert "League of Legends × 2 hour(s)" in summary["text"]
    assert "01-12 (Mon) 10:00 (Asia/Shanghai)" in summary["text"]
    assert "Total: 120.00 CNY (60.00 CNY each)" in summary["text"]
    assert "Notes: Please bring a headset" in summary["text"]
    answer = await press(ann, summary, "Confirm")
    assert answer["text"].startswith("Order YB")

    menu = await find(ann, "How would you like to pay?")
    assert "120.00 CNY to pay by 01-05 (Mon) 17:15" in menu["text"]
    assert any("Test payment" in label for label in labels(menu))
    assert any("From my wallet (balance 0.00 CNY)" in label for label in labels(menu))
    assert notes["message_id"]  # the prompt was its own message
    customer_id = await shop.user_id(ann)
    async with shop.runtime.uow_factory() as uow:
        [order] = await uow.orders.list(OrderFilter(customer_id=customer_id))
    assert (order.offer_id, order.price.units, order.state) == (offer_id, 2,
                                                                 OrderState.AWAITING_PAYMENT)
    assert order.scheduled_start == MONDAY_12_10_SHANGHAI
    assert order.notes == "Please bring a headset"


async def test_a_taken_slot_disappears_and_a_stale_slot_button_is_refused(shop: Shop) -> None:
    provider_id, _ = await shop.provider("Xiaoyu")
    ann, bob = shop.customer("Ann"), shop.customer("Bob")
    ann_month = await open_calendar(shop, ann, provider_id, units="1 hour(s)")
    await press(ann, ann_month, "12")
    ann_day = await find(ann, "2026-01-12: pick a start time")

    bob_month = await open_calendar(shop, bob, provider_id, units="1 hour(s)")
    await press(bob, bob_month, "12")
    bob_day = await find(bob, "2026-01-12: pick a start time")
    await press(bob, bob_day, "10:00")
    skip = await find(bob, "Anything the provider should know?")
    await press(bob, skip, "Skip")
    await press(bob, await find(bob, "Please check your booking:"), "Confirm")
    await find(bob, "How would you like to pay?")

    # Ann's day view is older than Bob's booking: the core refuses the slot, clearly.
    await press(ann, ann_day, "10:00")
    await press(ann, await find(ann, "Anything the provider should know?"), "Skip")
    refused = await press(ann, await find(ann, "Please check your booking:"), "Confirm")
    assert refused["show_alert"] is True
    assert "no longer" in refused["text"].lower() or "taken" in refused["text"].lower()
    # Opened again, the calendar no longer offers 10:00 (nor the buffer around it).
    month = await open_calendar(shop, ann, provider_id, units="1 hour(s)")
    await press(ann, month, "12")
    fresh = await find(ann, "2026-01-12: pick a start time")
    assert "10:00" not in labels(fresh)
    assert "09:00" not in labels(fresh) and "11:00" not in labels(fresh)
    assert "12:00" in labels(fresh)
    assert ann_month["message_id"] != month["message_id"]


async def test_an_on_site_booking_asks_where_and_takes_a_shared_location(shop: Shop) -> None:
    provider_id, _ = await shop.provider("Auntie Wang", "home-cleaning", price=5000,
                                         location=PEOPLE_SQUARE, radius_km=10)
    ann = shop.customer()
    month = await open_calendar(shop, ann, provider_id, units="2 hour(s)")
    await press(ann, month, "12")
    await press(ann, await find(ann, "pick a start time"), "09:00")
    await find(ann, "Where should the provider come?")
    await ann.send_location(31.2304, 121.4737)
    await shop.settle()
    await find(ann, "Address noted.")
    await press(ann, await find(ann, "Anything the provider should know?"), "Skip")
    summary = await find(ann, "Please check your booking:")
    assert "Location: 31.23040, 121.47370" in summary["text"]
    await press(ann, summary, "Confirm")
    await find(ann, "How would you like to pay?")
    customer_id = await shop.user_id(ann)
    async with shop.runtime.uow_factory() as uow:
        [order] = await uow.orders.list(OrderFilter(customer_id=customer_id))
    assert order.place is not None and (order.place.lat, order.place.lon) == (31.2304, 121.4737)


def busy_time_reads(seen: list[str]) -> int:
    return sum(1 for s in seen if s.lstrip().startswith("SELECT orders.scheduled_start"))


async def test_a_day_of_the_month_just_shown_is_offered_without_reading_again(
    shop: Shop, engine: AsyncEngine
) -> None:
    provider_id, _ = await shop.provider("Xiaoyu")
    ann = shop.customer()
    with statements_on(engine) as seen:
        month = await open_calendar(shop, ann, provider_id, units="1 hour(s)")
        await press(ann, month, "12")
        day = await find(ann, "2026-01-12: pick a start time")
    assert "10:00" in labels(day)
    # The provider's busy times are read for the month; its day comes from that read.
    assert busy_time_reads(seen) == 1


async def test_a_slot_another_worker_just_sold_is_refused_clearly_and_then_disappears(
    shop: Shop, engine: AsyncEngine, database_url: str
) -> None:
    """Another worker's booking is not known here for a few seconds: a slot it just sold
    may still be offered, and taking it is refused as any taken slot is."""
    ticking = ManualClock()
    use_busy_cache(engine, BusyCache(clock=ticking))
    provider_id, offer_id = await shop.provider("Xiaoyu")
    ann = shop.customer("Ann")
    month = await open_calendar(shop, ann, provider_id, units="1 hour(s)")

    elsewhere = bootstrap(shop.runtime.settings, clock=shop.clock,
                          engine=create_engine(database_url))
    try:
        bob = await elsewhere.bus.handle(RegisterFromChannel(
            platform="telegram", external_id="77001", chat_id="77001", display_name="Bob",
            language_code="en"))
        await elsewhere.bus.handle(BookOrder(actor_id=bob.id, offer_id=offer_id, units=1,
                                             start=MONDAY_12_10_SHANGHAI))
    finally:
        await elsewhere.engine.dispose()

    await press(ann, month, "12")
    await press(ann, await find(ann, "2026-01-12: pick a start time"), "10:00")
    await press(ann, await find(ann, "Anything the provider should know?"), "Skip")
    refused = await press(ann, await find(ann, "Please check your booking:"), "Confirm")
    assert refused["show_alert"] is True
    assert "no longer" in refused["text"].lower() or "taken" in refused["text"].lower()

    ticking.now += BUSY_SECONDS
    month = await open_calendar(shop, ann, provider_id, units="1 hour(s)")
    await press(ann, month, "12")
    fresh = await find(ann, "2026-01-12: pick a start time")
    assert "10:00" not in labels(fresh) and "12:00" in labels(fresh)
