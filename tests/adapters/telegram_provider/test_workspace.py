"""The provider's workspace over HTTP: presence, incoming orders with the time left, accept and
reject with a reason, start with a check-in, finish with a proof photo or a delivery code,
earnings and a withdrawal, a reply to a review, an open request taken from its card."""

from __future__ import annotations

from datetime import timedelta

from app.bootstrap import Runtime
from core.booking.commands import AcceptOrder, GetOrder, PayOrder, PublishOpenOrder, StartOrder
from core.booking.model import Order, Place
from core.booking.states import OrderState
from core.booking.timers import sweep_due_orders
from core.catalog.commands import GetProvider
from core.reviews.commands import ListProviderReviews, SubmitReview
from core.shared.clock import FixedClock
from core.shared.money import Money
from core.wallet.commands import ListWithdrawals
from tests.adapters.telegram.conftest import RunningBot
from tests.adapters.telegram_provider.conftest import (
    Cast,
    approved_provider,
    booked_and_paid,
    buttons,
    message_with,
    served_order,
    settle,
)


async def order_of(runtime: Runtime, order_id: int) -> Order:
    order: Order = (await runtime.bus.handle(GetOrder(order_id=order_id))).order
    return order


async def open_view(tg: RunningBot, cast: Cast, label: str) -> None:
    pia = cast.provider.sim
    await pia.send_text("/workspace")
    board = await message_with(pia, "Workspace of Pia")
    await (await pia.tap(board, label)).answer()


async def test_presence_is_switched_from_the_workspace(tg: RunningBot, cast: Cast) -> None:
    await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"], online=False)
    pia = cast.provider.sim
    await pia.send_text("/workspace")
    board = await message_with(pia, "Workspace of Pia")
    assert board["text"] == (
        "🧰 Workspace of Pia\nStatus: ⚪ offline\nRating: ★ 0.0 (0 reviews) · tier 1\n"
        "Orders waiting for your answer: 0 · open: 0"
    )
    assert buttons(board) == ["🟢 Online", "✓ ⚪ Offline", "🏖 Vacation", "📥 Orders", "💰 Earnings", "⭐ Reviews"]

    answer = await (await pia.tap(board, "🟢 Online")).answer()
    assert answer["text"] == "You are online: customers can find and book you."
    board = pia.message(board["message_id"])
    assert "Status: 🟢 online" in board["text"] and "✓ 🟢 Online" in buttons(board)
    await (await pia.tap(board, "🏖 Vacation")).answer()
    assert "Status: 🏖 on vacation" in pia.message(board["message_id"])["text"]
    details = await tg.runtime.bus.handle(GetProvider(provider_id=cast.provider.user_id))
    assert details.profile.presence.value == "vacation"

    await cast.customer.sim.send_text("/workspace")
    assert (await cast.customer.sim.next_message())["text"] == "You are not a provider yet. Send /apply to join."


async def test_an_incoming_order_shows_the_time_left_and_is_accepted_from_its_card(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    offer_id = await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"])
    order = await booked_and_paid(tg.runtime, cast.customer, offer_id, clock)
    pia = cast.provider.sim
    request = await message_with(pia, f"New order {order.number}")
    assert buttons(request) == ["Accept", "Decline"]

    clock.advance(timedelta(minutes=4))
    await open_view(tg, cast, "📥 Orders")
    await message_with(pia, "Your open orders: 1")
    card = await message_with(pia, f"📋 Order {order.number}")
    assert card["text"] == (
        f"📋 Order {order.number} · Genshin Impact\nWhen: 2026-01-05 20:00 · 1 × hour\n"
        "Total: 80.00 CNY\nWaiting for your answer · ⏳ 6 min left"
    )
    answer = await (await pia.tap(card, "Accept")).answer()
    assert answer["text"] == f"✅ You accepted order {order.number}."
    accepted = pia.message(card["message_id"])
    assert accepted["text"].endswith(f"\n\n✅ You accepted order {order.number}.")
    assert "reply_markup" not in accepted
    assert (await order_of(tg.runtime, order.id)).state is OrderState.ACCEPTED
    await message_with(cast.customer.sim, f"Order {order.number} is accepted.")

    # The notice's button is stale now: tapping it says why instead of spinning.
    again = await (await pia.tap(request, "Accept")).answer()
    assert (again["text"], again["show_alert"]) == (f"You have already accepted order {order.number}.", True)


async def test_an_order_is_rejected_with_a_reason_picked_or_typed(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    offer_id = await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"])
    first = await booked_and_paid(tg.runtime, cast.customer, offer_id, clock, start_in=timedelta(hours=3))
    second = await booked_and_paid(tg.runtime, cast.customer, offer_id, clock, start_in=timedelta(hours=6))
    pia = cast.provider.sim
    card = await message_with(pia, f"New order {first.number}")
    other = await message_with(pia, f"New order {second.number}")

    await (await pia.tap(card, "Decline")).answer()
    assert buttons(pia.message(card["message_id"])) == [
        "I am busy at that time", "It is too far for me", "I cannot do this service now",
        "Another reason…", "« Back",
    ]
    await (await pia.tap(card, "I am busy at that time")).answer()
    assert pia.message(card["message_id"])["text"].endswith(
        f"❌ You rejected order {first.number}; the customer gets their money back."
    )
    declined = await message_with(cast.customer.sim, f"Order {first.number} was declined")
    assert "I am busy at that time" in declined["text"]

    await (await pia.tap(other, "Decline")).answer()
    await (await pia.tap(other, "Another reason…")).answer()
    await message_with(pia, "Type the reason the customer will see.")
    await pia.send_text("My headset broke, sorry!")
    await message_with(pia, f"You rejected order {second.number}")
    assert "reply_markup" not in pia.message(other["message_id"])
    rejected = await order_of(tg.runtime, second.id)
    assert (rejected.state, rejected.close_reason) == (OrderState.REJECTED, "My headset broke, sorry!")


async def test_work_at_the_customers_place_starts_with_a_check_in_and_ends_with_a_photo(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    offer_id = await approved_provider(tg.runtime, cast.provider, cast.categories["home-cleaning"],
                                       price=Money(6000, "CNY"))
    order = await booked_and_paid(
        tg.runtime, cast.customer, offer_id, clock, units=2, address="People's Square 1",
        place=Place(31.2305, 121.4738),
    )
    await tg.runtime.bus.handle(AcceptOrder(order_id=order.id, actor_id=cast.provider.user_id))
    pia = cast.provider.sim
    confirmed = await message_with(pia, f"Order {order.number} is yours")
    clock.advance(timedelta(hours=3))

    await (await pia.tap(confirmed, "Start")).answer()
    await message_with(pia, f"Check in for order {order.number}")
    keyboard = tg.standin.bot.chats[pia.id].reply_keyboard
    assert keyboard is not None and keyboard["keyboard"][0][0]["request_location"] is True
    await pia.send_text("I am here")
    await message_with(pia, "Please share your location or send a photo to check in, or /cancel.")
    await pia.send_location(31.2306, 121.4739)
    await message_with(pia, f"▶️ Order {order.number} has started.")
    finish_hint = await message_with(pia, f"Tap Finish when order {order.number} is done.")
    started = await order_of(tg.runtime, order.id)
    assert started.state is OrderState.IN_SERVICE and (started.checkin or "").startswith("location:31.2306")
    await message_with(cast.customer.sim, f"Order {order.number} has started.")

    clock.advance(timedelta(hours=2))
    await (await pia.tap(finish_hint, "Finished")).answer()
    await message_with(pia, "Send a photo of the finished work")
    await pia.send_photo()
    await message_with(pia, f"🏁 Order {order.number} is done")
    done = await order_of(tg.runtime, order.id)
    assert done.state is OrderState.DELIVERED and done.proof
    await message_with(cast.customer.sim, f"Order {order.number} is done. Please confirm")


async def test_an_errand_is_finished_with_the_customers_delivery_code(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    offer_id = await approved_provider(tg.runtime, cast.provider, cast.categories["errand-queue"],
                                       price=Money(3000, "CNY"))
    order = await booked_and_paid(tg.runtime, cast.customer, offer_id, clock,
                                  address="Hospital gate", place=Place(31.23, 121.47))
    await tg.runtime.bus.handle(AcceptOrder(order_id=order.id, actor_id=cast.provider.user_id))
    clock.advance(timedelta(hours=3))
    await tg.runtime.bus.handle(StartOrder(order_id=order.id, actor_id=cast.provider.user_id))
    code = (await order_of(tg.runtime, order.id)).delivery_code
    assert code is not None

    pia = cast.provider.sim
    await open_view(tg, cast, "📥 Orders")
    card = await message_with(pia, f"📋 Order {order.number}")
    assert "In service" in card["text"] and "Address: Hospital gate" in card["text"]
    await (await pia.tap(card, "Finished")).answer()
    await message_with(pia, "Type the delivery code")
    wrong = "000000" if code != "000000" else "111111"
    await pia.send_text(wrong)
    await message_with(pia, f"That delivery code is not right for order {order.number}.")
    assert (await order_of(tg.runtime, order.id)).state is OrderState.IN_SERVICE
    await pia.send_text(code)
    await message_with(pia, f"🏁 Order {order.number} is done")
    assert pia.message(card["message_id"])["text"].endswith("the customer is asked to confirm.")
    assert (await order_of(tg.runtime, order.id)).state is OrderState.DELIVERED


async def test_earnings_are_shown_and_withdrawn_and_the_operators_get_the_card(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    offer_id = await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"])
    await served_order(tg.runtime, clock, cast.customer, cast.provider, offer_id)
    await settle(tg.runtime, clock)
    pia = cast.provider.sim
    await open_view(tg, cast, "💰 Earnings")
    earnings = await message_with(pia, "💰 Your earnings")
    assert "CNY: available 64.00 CNY · settling 0.00 CNY · being withdrawn 0.00 CNY" in earnings["text"]
    await (await pia.tap(earnings, "Withdraw CNY")).answer()
    ask = await message_with(pia, "How much do you want to withdraw? Available: 64.00 CNY.")
    assert buttons(ask) == ["All: 64.00 CNY"]

    await pia.send_text("5")
    methods = await message_with(pia, "How should 5.00 CNY be paid out?")
    assert buttons(methods) == ["Bank transfer (by an operator)", "Sandbox (test payout)"]
    refused = await (await pia.tap(methods, "Sandbox (test payout)")).answer()
    assert refused["text"] == "The smallest withdrawal is 10.00 CNY (asked 5.00 CNY)."

    await pia.send_text("20")
    methods = await message_with(pia, "How should 20.00 CNY be paid out?")
    await (await pia.tap(methods, "Sandbox (test payout)")).answer()
    await message_with(pia, "Withdrawal no. 1 requested: 20.00 CNY (fee 0.20 CNY, you receive 19.80 CNY).")
    card = await message_with(cast.operator.sim, "Withdrawal no. 1", chat=cast.group)
    assert "20.00 CNY (fee 0.20 CNY, payout 19.80 CNY) via sandbox" in card["text"]

    await open_view(tg, cast, "💰 Earnings")
    again = await message_with(pia, "💰 Your earnings")
    assert "available 44.00 CNY · settling 0.00 CNY · being withdrawn 20.00 CNY" in again["text"]
    assert " • no. 1: 20.00 CNY, waiting for an operator" in again["text"]
    withdrawals = await tg.runtime.bus.handle(ListWithdrawals(provider_id=cast.provider.user_id))
    assert [(w.amount, w.method) for w in withdrawals] == [(Money(2000, "CNY"), "sandbox")]


async def test_a_review_is_answered_from_its_notice(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    offer_id = await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"])
    order = await served_order(tg.runtime, clock, cast.customer, cast.provider, offer_id)
    await tg.runtime.bus.handle(SubmitReview(
        order_id=order.id, reviewer_id=cast.customer.user_id, rating=4, text="Good, a bit late.",
        actor_id=cast.customer.user_id,
    ))
    pia = cast.provider.sim
    notice = await message_with(pia, "You received a 4-star review")
    await (await pia.tap(notice, "Reply")).answer()
    await message_with(pia, "Type your reply")
    await pia.send_text("Sorry for the wait, next time I will be on time!")
    await message_with(pia, "↪ Reply posted.")
    page = await tg.runtime.bus.handle(ListProviderReviews(provider_id=cast.provider.user_id))
    assert page.reviews[0].reply_text == "Sorry for the wait, next time I will be on time!"

    await open_view(tg, cast, "⭐ Reviews")
    await message_with(pia, "Your latest reviews (1 in all)")
    shown = await message_with(pia, "★★★★☆ from Carl: Good, a bit late.")
    assert shown["text"].endswith("↪ Your reply: Sorry for the wait, next time I will be on time!")
    assert "reply_markup" not in shown


async def test_an_open_request_is_taken_from_its_offer_and_a_late_tap_is_told_why(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"])
    request = await tg.runtime.bus.handle(PublishOpenOrder(
        category_id=cast.categories["genshin-impact"].id, units=2, unit_price=Money(9000, "CNY"),
        start=clock.now() + timedelta(hours=4), actor_id=cast.customer.user_id,
    ))
    await tg.runtime.bus.handle(PayOrder(order_id=request.id, method="sandbox",
                                         payment_ref="open-1", actor_id=cast.customer.user_id))
    pia = cast.provider.sim
    offer = await message_with(pia, f"Open order {request.number}")
    assert buttons(offer) == ["Accept"]
    await (await pia.tap(offer, "Accept")).answer()
    assert (await order_of(tg.runtime, request.id)).provider_id == cast.provider.user_id

    late = await booked_and_paid(tg.runtime, cast.customer,
                                 (await tg.runtime.bus.handle(GetProvider(provider_id=cast.provider.user_id))).offers[0].id,
                                 clock, start_in=timedelta(hours=8))
    card = await message_with(pia, f"New order {late.number}")
    clock.advance(timedelta(minutes=11))
    await sweep_due_orders(tg.runtime.bus, clock.now())
    answer = await (await pia.tap(card, "Accept")).answer()
    assert (answer["text"], answer["show_alert"]) == (f"Order {late.number} has expired.", True)
    assert (await order_of(tg.runtime, late.id)).state is OrderState.EXPIRED

