"""My orders: the card of each order with what its state allows. Cancelling shows the fee
first; confirming leads to a review; tips are paid like orders; old buttons are answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bots.i18n import gettext, render_error
from bots.telegram.handlers.customer.callbacks import OrderCallback
from bots.telegram.standin import SimUser
from core.booking import commands as c
from core.booking.ports import OrderFilter
from core.booking.states import OrderState
from core.reviews.commands import ListProviderReviews
from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet import api
from tests.adapters.telegram_customer.conftest import (
    Shop,
    book_first_free_hour,
    find,
    labels,
    press,
    say,
)

START = datetime(2026, 1, 12, 2, 0, tzinfo=UTC)  # Monday the 12th, 10:00 in Shanghai


async def paid_order(shop: Shop, ann: SimUser, provider_id: int) -> Any:
    menu = await book_first_free_hour(shop, ann, provider_id)
    await press(ann, menu, "Test payment")
    await find(ann, "is paid")
    customer_id = await shop.user_id(ann)
    async with shop.runtime.uow_factory() as uow:
        [order] = await uow.orders.list(OrderFilter(customer_id=customer_id))
    return order


async def open_card(shop: Shop, ann: SimUser, state_text: str) -> dict[str, Any]:
    await say(shop, ann, "/orders")
    await press(ann, await find(ann, "Your orders"), "YB")
    return await find(ann, "Order YB", state_text)


async def state_of(shop: Shop, order_id: int) -> tuple[OrderState, Money | None]:
    async with shop.runtime.uow_factory() as uow:
        order = await uow.orders.get(order_id)
        return order.state, await api.order_held(uow, order_id)


async def test_cancelling_shows_the_fee_first_and_again_when_it_changed(shop: Shop) -> None:
    provider_id, _ = await shop.provider("Xiaoyu", price=6000)
    ann = shop.customer()
    order = await paid_order(shop, ann, provider_id)
    await shop.runtime.bus.handle(c.AcceptOrder(actor_id=provider_id, order_id=order.id))
    shop.clock.set(START - timedelta(hours=3))  # within 24 h of the start: 30 %

    card = await open_card(shop, ann, "· accepted")
    assert labels(card)[:2] == ["🕒 Change the time", "✖ Cancel the order"]
    await press(ann, card, "Cancel the order")
    quote = await find(ann, "costs a fee of 18.00 CNY (30% of what you paid)",
                       "42.00 CNY comes back to you")
    assert await state_of(shop, order.id) == (OrderState.ACCEPTED, Money(6000, "CNY"))

    shop.clock.set(START - timedelta(minutes=30))  # now the whole price
    await press(ann, quote, "Yes, cancel it")
    changed = await find(ann, "The fee changed since you looked")
    assert "costs a fee of 60.00 CNY (100% of what you paid)" in changed["text"]
    assert await state_of(shop, order.id) == (OrderState.ACCEPTED, Money(6000, "CNY"))

    await press(ann, changed, "Yes, cancel it")
    await find(ann, f"Order {order.number} is cancelled. Fee: 60.00 CNY. Back to you: 0.00 CNY.")
    assert await state_of(shop, order.id) == (OrderState.CANCELLED, None)


async def test_confirming_from_the_notice_then_rating_reviewing_and_tipping(shop: Shop) -> None:
    provider_id, _ = await shop.provider("Xiaoyu", price=6000)
    ann = shop.customer()
    order = await paid_order(shop, ann, provider_id)
    bus = shop.runtime.bus
    await bus.handle(c.AcceptOrder(actor_id=provider_id, order_id=order.id))
    shop.clock.set(START)
    await bus.handle(c.StartOrder(actor_id=provider_id, order_id=order.id))
    await bus.handle(c.FinishOrder(actor_id=provider_id, order_id=order.id))

    delivered = await find(ann, f"Order {order.number} is done. Please confirm")
    await press(ann, delivered, "Confirm")
    stars = await find(ann, f"Order {order.number} is complete. How was it?")
    assert labels(stars) == ["★", "★★", "★★★", "★★★★", "★★★★★"]
    await press(ann, stars, "★★★★★")
    await find(ann, "★★★★★ — add a few words")
    await say(shop, ann, "Carried me to gold, very patient")
    await find(ann, "Thank you for your review ★★★★★!")
    page = await bus.handle(ListProviderReviews(provider_id=provider_id))
    assert [(r.rating, r.text) for r in page.reviews] == [
        (5, "Carried me to gold, very patient")]

    card = await open_card(shop, ann, "· completed")
    await press(ann, card, "Tip")
    amounts = await find(ann, "How much would you like to tip")
    await press(ann, amounts, "10.00 CNY")
    methods = await find(ann, "Tip 10.00 CNY for order")
    await press(ann, methods, "Test payment")
    await find(ann, "Your tip of 10.00 CNY for order")
    xiaoyu = shop.people[provider_id]
    await find(xiaoyu, gettext("notice.order.tipped", "zh", amount="10.00 CNY",
                               number=order.number))


async def test_a_problem_is_reported_in_words(shop: Shop) -> None:
    provider_id, _ = await shop.provider("Xiaoyu", price=6000)
    ann = shop.customer()
    order = await paid_order(shop, ann, provider_id)
    bus = shop.runtime.bus
    await bus.handle(c.AcceptOrder(actor_id=provider_id, order_id=order.id))
    shop.clock.set(START)
    await bus.handle(c.StartOrder(actor_id=provider_id, order_id=order.id))
    await bus.handle(c.FinishOrder(actor_id=provider_id, order_id=order.id))
    card = await open_card(shop, ann, "delivered, please confirm")
    assert labels(card)[:3] == ["✅ Confirm it is done", "⚠ Report a problem", "🎁 Tip"]
    await press(ann, card, "Report a problem")
    await find(ann, "What went wrong with order")
    await say(shop, ann, "They left after twenty minutes")
    await find(ann, f"Order {order.number}: your report is in.")
    async with shop.runtime.uow_factory() as uow:
        disputed = await uow.orders.get(order.id)
    assert disputed.state is OrderState.DISPUTED
    assert disputed.dispute is not None
    assert disputed.dispute.reason == "They left after twenty minutes"


async def test_old_and_foreign_buttons_get_a_clear_answer_and_change_nothing(shop: Shop) -> None:
    provider_id, _ = await shop.provider("Xiaoyu", price=6000)
    ann, bob = shop.customer("Ann"), shop.customer("Bob")
    menu = await book_first_free_hour(shop, ann, provider_id)
    customer_id = await shop.user_id(ann)
    async with shop.runtime.uow_factory() as uow:
        [order] = await uow.orders.list(OrderFilter(customer_id=customer_id))
    await shop.runtime.bus.handle(c.CancelOrder(actor_id=customer_id, order_id=order.id))

    # The payment menu from before the cancellation.
    stale = await press(ann, menu, "Test payment")
    assert stale["show_alert"] is True
    assert stale["text"] == render_error(DomainError("error.order.cancelled",
                                                     number=order.number), "en")
    assert await state_of(shop, order.id) == (OrderState.CANCELLED, None)

    # Somebody else's order gets the same answer as an order that does not exist: a forged
    # button learns nothing about it, not even its number.
    await say(shop, bob, "/start")
    for target in (order.id, 987654):
        answer = await forged_tap(shop, bob, target, "show")
        assert answer["show_alert"] is True
        assert answer["text"] == f"There is no order {target}."
        assert order.number not in answer["text"]


async def forged_tap(shop: Shop, person: SimUser, order_id: int, action: str) -> dict[str, Any]:
    """Tap a button made up for `order_id` (as a forged callback would be); the answer."""
    forged = await shop.bot.service.bot.send_message(
        person.chat_id, "an old card",
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text="Tap", callback_data=OrderCallback(order_id=order_id, action=action).pack(),
        )]]),
    )
    return await (await person.tap(forged.message_id, "Tap")).answer()


async def test_a_forged_button_for_someone_elses_live_order_finds_nothing_and_does_nothing(
    shop: Shop,
) -> None:
    provider_id, _ = await shop.provider("Xiaoyu", price=6000)
    ann, bob = shop.customer("Ann"), shop.customer("Bob")
    order = await paid_order(shop, ann, provider_id)
    before = await state_of(shop, order.id)
    await say(shop, bob, "/start")

    for action in ("show", "cancel", "cancel_yes", "confirm", "tip"):
        answer = await forged_tap(shop, bob, order.id, action)
        assert (answer["text"], answer["show_alert"]) == (f"There is no order {order.id}.", True)
    assert await state_of(shop, order.id) == before == (OrderState.PENDING_ACCEPTANCE, order.price.deposit)
    assert not [m for m in bob.bot_messages() if order.number in (m.get("text") or "")]


async def test_a_new_time_is_proposed_from_the_calendar_and_answered_from_a_notice(
    shop: Shop,
) -> None:
    provider_id, _ = await shop.provider("Xiaoyu", price=6000)
    ann = shop.customer()
    order = await paid_order(shop, ann, provider_id)
    bus = shop.runtime.bus
    await bus.handle(c.AcceptOrder(actor_id=provider_id, order_id=order.id))

    card = await open_card(shop, ann, "· accepted")
    await press(ann, card, "Change the time")
    month = await find(ann, f"Order {order.number} starts 01-12 (Mon) 10:00", "Pick a day")
    await press(ann, month, "19")
    await press(ann, await find(ann, "2026-01-19: pick a start time"), "15:00")
    await find(ann, f"New time 01-19 (Mon) 15:00 proposed for order {order.number}")
    await bus.handle(c.AnswerReschedule(actor_id=provider_id, order_id=order.id, agree=True))
    async with shop.runtime.uow_factory() as uow:
        moved = await uow.orders.get(order.id)
    assert moved.scheduled_start == datetime(2026, 1, 19, 7, 0, tzinfo=UTC)

    # Now the provider asks to move it; the customer agrees from the notice's button.
    await bus.handle(c.ProposeReschedule(actor_id=provider_id, order_id=order.id,
                                         new_start=datetime(2026, 1, 26, 3, 0, tzinfo=UTC)))
    notice = await find(ann, "", where=lambda m: "Agree" in labels(m))
    await press(ann, notice, "Agree")
    agreed = await find(ann, f"Order {order.number} · accepted")
    assert "01-26 (Mon) 11:00" in agreed["text"]
    async with shop.runtime.uow_factory() as uow:
        moved = await uow.orders.get(order.id)
    assert moved.scheduled_start == datetime(2026, 1, 26, 3, 0, tzinfo=UTC)


async def test_cancel_leaves_a_typed_step_and_drops_the_draft(shop: Shop) -> None:
    provider_id, _ = await shop.provider("Xiaoyu")
    ann = shop.customer()
    await say(shop, ann, f"/start p_{provider_id}")
    await press(ann, await find(ann, "Services:"), "Book")
    await press(ann, await find(ann, "How many?"), "1 hour(s)")
    await press(ann, await find(ann, "Pick a day"), "12")
    await press(ann, await find(ann, "pick a start time"), "10:00")
    prompt = await find(ann, "Anything the provider should know?")
    await say(shop, ann, "/cancel")
    await find(ann, "Cancelled. Nothing was booked or changed.")
    await say(shop, ann, "hello?")  # no longer taken as notes
    assert not any("Please check your booking" in (m.get("text") or "")
                   for m in ann.bot_messages())
    refused = await press(ann, prompt, "Skip")
    assert refused["text"] == render_error(DomainError("error.tgc.draft_expired"), "en")
