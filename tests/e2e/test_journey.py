"""The whole journey, told by what each person sees in Telegram.

Pia applies to be a game companion; Olga, an operator, approves her in the operators'
group. Carl finds Pia by browsing, books a slot through the calendar and pays in Telegram
Stars. Pia accepts; Carl and Pia talk through the relay; Pia starts and finishes with a
proof photo; Carl confirms, reviews and tips. After the dispute window and the settlement
period have passed (the sweeper runs), Pia withdraws her earnings and Olga approves the
payout in the group. Runs on SQLite and on PostgreSQL, with Redis.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from bots.telegram.handlers import FEATURES
from core.booking.commands import ListOrders
from core.booking.states import OrderState
from core.shared.money import Money
from core.wallet.commands import GetStatement, ListWithdrawals
from tests.adapters.telegram_provider.conftest import register
from tests.e2e.conftest import World, labels, press, sees, text_of

PRICE_STARS = 1500  # a Stars withdrawal needs at least 1000 Stars of earnings
TIP_STARS = 100


def relay_is_wired() -> bool:
    return any(make.__module__.endswith("handlers.relay") for make in FEATURES)


async def test_from_application_to_payout(world: World) -> None:
    standin, olga, group, clock = world.standin, world.operator.sim, world.group, world.clock
    pia = standin.create_user("Pia", language_code="en")
    carl = standin.create_user("Carl", language_code="en")

    # -- Pia applies -------------------------------------------------------------------------
    await pia.send_text("/apply")
    await sees(pia, "What name should customers see?")
    await pia.send_text("Pia")
    await sees(pia, "Tell customers about yourself")
    await pia.send_text("Genshin Impact, Asia server, patient with beginners.")
    await sees(pia, "Send up to 9 photos")
    await pia.send_photo()
    await press(pia, await sees(pia, "Photo 1 of at most 9 saved"), "Done")
    await sees(pia, "Record a short voice introduction")
    await pia.send_voice()
    categories = await sees(pia, "Pick a category")
    await press(pia, categories, "Game companions")
    await press(pia, pia.message(categories["message_id"]), "Genshin Impact")
    await sees(pia, "Your price per hour")
    await pia.send_text(f"{PRICE_STARS} stars")
    await press(pia, await sees(pia, "Add another service"), "Continue")
    await press(pia, await sees(pia, "When can customers book you?"), "Every day 10:00-22:00")
    await sees(pia, "Send a photo of your ID")
    await pia.send_photo()
    summary = await sees(pia, "Your application:")
    assert f" • Genshin Impact: {PRICE_STARS} XTR per hour" in summary["text"]
    await press(pia, summary, "Send application")
    await sees(pia, "✅ Sent as application no. 1.")
    await sees(pia, "We received your application no. 1")

    # -- Olga approves in the group -----------------------------------------------------------
    card = await sees(group, "Provider application no. 1", "Pia (user")
    assert labels(card) == ["✅ Approve", "❌ Reject", "🔎 Details"]
    await press(olga, card, "Approve", chat=group)
    approved = group.message(card["message_id"])
    assert approved["text"].endswith("✅ Approved by Olga · 2026-01-05 17:00")
    assert labels(approved) == []
    welcome = await sees(pia, "Welcome aboard!")
    answer = await press(pia, welcome, "Go online")
    assert answer["text"] == "You are online: customers can find and book you."

    # -- Carl finds Pia and books a slot ------------------------------------------------------
    await carl.send_text("/browse")
    await press(carl, await sees(carl, "Pick a category"), "Game companions")
    await press(carl, await sees(carl, "Game companions: pick one"), "Genshin Impact")
    listing = await sees(carl, "Genshin Impact · page 1")
    assert any(label.startswith("🟢 Pia") for label in labels(listing))
    await press(carl, listing, "Pia")
    profile = await sees(carl, "Services:")
    assert "Pia" in text_of(profile) and "photo" in profile  # her profile photo is shown
    await press(carl, profile, "Book")
    await press(carl, await sees(carl, "How many?"), "1 ")
    await press(carl, await sees(carl, "Pick a day"), "6")
    await press(carl, await sees(carl, "pick a start time"), "10:00")
    await press(carl, await sees(carl, "Anything the provider should know?"), "Skip")
    booking = await sees(carl, "Please check your booking:")
    assert "Provider: Pia" in booking["text"]
    await press(carl, booking, "Confirm")

    # -- and pays in Telegram Stars ----------------------------------------------------------
    menu = await sees(carl, "How would you like to pay?")
    await press(carl, menu, f"Pay {PRICE_STARS} Telegram Stars")
    invoice = await sees(carl, "", where=lambda m: "invoice" in m)
    assert (invoice["invoice"]["currency"], invoice["invoice"]["total_amount"]) == ("XTR", PRICE_STARS)
    paid = await carl.pay(invoice)
    assert paid.ok
    await sees(carl, f"is paid ({PRICE_STARS} XTR)")
    customer_id = (await register(world.runtime, carl)).user_id
    [order] = await world.runtime.bus.handle(ListOrders(customer_id=customer_id))
    number = order.number

    # -- Pia accepts --------------------------------------------------------------------------
    request = await sees(pia, f"New order {number} for 2026-01-06 10:00: {PRICE_STARS} XTR")
    answer = await press(pia, request, "Accept")
    assert answer["text"] == f"✅ You accepted order {number}."
    await sees(carl, f"Order {number} is accepted.")

    # -- they talk through the relay ----------------------------------------------------------
    if relay_is_wired():
        await carl.send_text("Hi Pia, see you tomorrow at ten!")
        copy = await sees(pia, "Hi Pia, see you tomorrow at ten!")
        assert "forward_origin" not in copy
        await pia.send_text("See you! My number is 13812345678")
        masked = await sees(carl, "See you! My number is")
        assert "13812345678" not in masked["text"]
    else:
        warnings.warn("the relay step was skipped: the relay's Telegram transport is not in the "
                      "bot's router tree", stacklevel=1)

    # -- Pia serves the order -----------------------------------------------------------------
    clock.set(order.scheduled_start)  # tomorrow 10:00 in Shanghai
    await pia.send_text("/workspace")
    await press(pia, await sees(pia, "Workspace of Pia"), "Orders")
    order_card = await sees(pia, f"📋 Order {number} · Genshin Impact")
    assert "Accepted: tap Start when you begin" in order_card["text"]
    await press(pia, order_card, "Start")
    finish = await sees(pia, f"Tap Finish when order {number} is done.")
    await sees(carl, f"Order {number} has started.")
    clock.advance(timedelta(hours=1))
    await press(pia, finish, "Finished")
    await sees(pia, "Send a photo of the finished work")
    await pia.send_photo()
    await sees(pia, f"🏁 Order {number} is done; the customer is asked to confirm.")

    # -- Carl confirms, reviews and tips ------------------------------------------------------
    delivered = await sees(carl, f"Order {number} is done. Please confirm")
    await press(carl, delivered, "Confirm")
    stars = await sees(carl, f"Order {number} is complete. How was it?")
    await press(carl, stars, "★★★★★")
    await sees(carl, "★★★★★ — add a few words")
    await carl.send_text("Carried me through the Abyss, very patient.")
    await sees(carl, "Thank you for your review ★★★★★!")
    await sees(pia, "You received a 5-star review")

    await carl.send_text("/orders")
    await press(carl, await sees(carl, "Your orders"), number)
    await press(carl, await sees(carl, f"Order {number}", "completed"), "Tip")
    await press(carl, await sees(carl, "How much would you like to tip"), f"{TIP_STARS} XTR")
    await press(carl, await sees(carl, f"Tip {TIP_STARS} XTR for order"), "Telegram Stars")
    tip_invoice = await sees(carl, "", where=lambda m: "invoice" in m and m["invoice"]["total_amount"] == TIP_STARS)
    assert (await carl.pay(tip_invoice)).ok
    await sees(carl, f"Your tip of {TIP_STARS} XTR for order {number}")
    await sees(pia, f"You received a tip of {TIP_STARS} XTR for order {number}.")

    # -- time passes: the order settles, then the earnings become available --------------------
    clock.advance(timedelta(days=3, hours=1))
    await world.sweep()
    provider_share = Money(PRICE_STARS * 8 // 10, "XTR")  # 20 % commission on games
    await sees(pia, f"Order {number} is settled: {provider_share.format()} is in your earnings.")
    clock.advance(timedelta(days=7, hours=1))
    await world.sweep()
    settled = await sees(pia, "", where=lambda m: "Withdraw" in labels(m))

    # -- Pia withdraws ------------------------------------------------------------------------
    await press(pia, settled, "Withdraw")
    earnings = await sees(pia, "💰 Your earnings")
    total = provider_share + Money(TIP_STARS, "XTR")
    assert f"XTR: available {total.format()}" in earnings["text"]
    await press(pia, earnings, "Withdraw XTR")
    await press(pia, await sees(pia, "How much do you want to withdraw?"), f"All: {total.format()}")
    requested = await sees(pia, "Withdrawal no. 1 requested:")
    assert f"{total.format()} (fee" in requested["text"]

    # -- Olga pays it out ---------------------------------------------------------------------
    payout_card = await sees(group, "Withdrawal no. 1 by provider user")
    assert f"{total.format()} (fee" in payout_card["text"] and "via sandbox" in payout_card["text"]
    await press(olga, payout_card, "Approve", chat=group)
    assert "✅ Paid out (" in group.message(payout_card["message_id"])["text"]
    assert "by Olga" in group.message(payout_card["message_id"])["text"]
    await sees(pia, "Withdrawal 1 paid:")

    # -- and the books agree ------------------------------------------------------------------
    [order] = await world.runtime.bus.handle(ListOrders(customer_id=customer_id))
    assert order.state is OrderState.COMPLETED and order.settled_at is not None
    withdrawals = await world.runtime.bus.handle(ListWithdrawals(provider_id=order.provider_id))
    assert [(w.status.value, w.amount) for w in withdrawals] == [("paid", total)]
    statement = await world.runtime.bus.handle(GetStatement(user_id=order.provider_id, currency="XTR"))
    [balance] = statement.balances
    assert (balance.earnings_available, balance.withdrawing) == (Money(0, "XTR"), Money(0, "XTR"))
