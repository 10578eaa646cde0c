"""The operators' group over HTTP: cards for applications, disputes and withdrawals arrive with
their buttons, only operators' taps count, each decision marks its card with who decided and
when, decisions that need words ask for them, and alerts reach the group."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from app.bootstrap import Runtime
from bots.telegram.standin import BotApiStandIn
from core.booking.commands import GetOrder, OpenDispute
from core.booking.states import OrderState
from core.catalog.commands import GetApplication, SubmitApplication
from core.catalog.model import OfferDraft, ProfileDraft
from core.catalog.onboarding import ApplicationStatus, Document, DocumentKind
from core.shared.clock import FixedClock
from core.shared.money import Money
from core.wallet.commands import ListWithdrawals, RequestWithdrawal
from core.wallet.events import PaymentMismatch
from tests.adapters.telegram.conftest import RunningBot, SettingsFactory
from tests.adapters.telegram_provider.conftest import (
    Cast,
    approved_provider,
    bot_options,
    buttons,
    message_with,
    register,
    served_order,
    serving,
    settle,
)
from tests.integration.catalog.support import application as application_command


async def submitted(runtime: Runtime, cast: Cast, **changes: object) -> int:
    command: SubmitApplication = application_command(
        cast.provider.user_id, cast.categories["genshin-impact"], name="Pia"
    )
    if changes:
        command = replace(command, **changes)  # type: ignore[arg-type]
    application = await runtime.bus.handle(command)
    return int(application.id)


async def status_of(runtime: Runtime, application_id: int) -> ApplicationStatus:
    application = await runtime.bus.handle(GetApplication(application_id=application_id))
    return application.status


async def test_an_operator_approves_in_the_group_and_the_card_says_who_and_when(
    tg: RunningBot, cast: Cast
) -> None:
    application_id = await submitted(tg.runtime, cast)
    olga = cast.operator.sim
    card = await message_with(olga, f"Provider application no. {application_id}", chat=cast.group)
    assert "Pia (user" in card["text"] and "Sent 2026-01-05 17:00" in card["text"]
    await (await olga.tap(card, "🔎 Details", chat=cast.group)).answer()
    await message_with(olga, "ID: kept as “tg:doc:id_photo”, not a file sent in this chat.",
                       chat=cast.group)

    tap = await olga.tap(card, "✅ Approve", chat=cast.group)
    assert (await tap.answer())["text"] == "✅ Approved by Olga · 2026-01-05 17:00"
    decided = cast.group.message(card["message_id"])
    assert decided["text"] == card["text"] + "\n\n✅ Approved by Olga · 2026-01-05 17:00"
    assert "reply_markup" not in decided
    assert await status_of(tg.runtime, application_id) is ApplicationStatus.APPROVED
    welcome = await message_with(cast.provider.sim, "Welcome aboard!")
    assert buttons(welcome) == ["Go online"]


def mentioning(messages: list[dict[str, Any]], fragment: str) -> list[dict[str, Any]]:
    return [m for m in messages if fragment in (m.get("text") or "")]


async def test_with_the_group_a_new_application_is_one_card_there_and_none_in_private(
    tg: RunningBot, cast: Cast
) -> None:
    application_id = await submitted(tg.runtime, cast)
    olga = cast.operator.sim
    await message_with(olga, f"Provider application no. {application_id}", chat=cast.group)
    await message_with(cast.provider.sim, f"We received your application no. {application_id}")
    await tg.service.relay.drain()

    fragment = f"application no. {application_id}"
    assert len(mentioning(cast.group.bot_messages(), fragment)) == 1
    assert mentioning(olga.bot_messages(), fragment) == []
    # The group's card and everything else the event causes are planned together: nothing
    # for the operator in private is waiting to go out either.
    async with tg.runtime.uow_factory() as uow:
        planned = await uow.notice_deliveries.of_user(cast.operator.user_id)
    assert "catalog.notice.application_pending" not in [d.notice.key for d in planned]


async def test_without_a_group_each_active_operator_gets_the_card_in_private_and_can_decide(
    bot_settings: SettingsFactory, runtime: Runtime, standin: BotApiStandIn, cast: Cast,
) -> None:
    oscar = await register(runtime, standin.create_user("Oscar", language_code="en"), "operator")
    settings = bot_settings(**bot_options(cast, telegram_admin_chat_id=None))
    async with serving(settings, runtime, standin):
        application_id = await submitted(runtime, cast)
        fragment = f"New provider application no. {application_id} from Pia"
        cards = {person.user_id: await message_with(person.sim, fragment)
                 for person in (cast.operator, oscar)}
        assert all(buttons(card) == ["Approve", "Reject", "Details"] for card in cards.values())
        await (await cast.operator.sim.tap(cards[cast.operator.user_id], "Approve")).answer()
        await message_with(cast.provider.sim, "Welcome aboard!")
    assert await status_of(runtime, application_id) is ApplicationStatus.APPROVED
    assert cast.group.bot_messages() == []


async def test_a_tap_by_someone_who_is_not_an_operator_changes_nothing(
    tg: RunningBot, cast: Cast
) -> None:
    application_id = await submitted(tg.runtime, cast)
    card = await message_with(cast.bystander.sim, f"application no. {application_id}", chat=cast.group)

    for label in ("✅ Approve", "❌ Reject"):
        tap = await cast.bystander.sim.tap(card, label, chat=cast.group)
        answer = await tap.answer()
        assert (answer["text"], answer["show_alert"]) == ("Only operators can decide this.", True)
    assert cast.group.message(card["message_id"]) == card
    assert await status_of(tg.runtime, application_id) is ApplicationStatus.PENDING
    assert [m["message_id"] for m in cast.group.bot_messages()] == [card["message_id"]]


async def test_rejecting_asks_the_operator_for_a_reason_and_the_applicant_reads_it(
    tg: RunningBot, cast: Cast
) -> None:
    application_id = await submitted(tg.runtime, cast)
    olga = cast.operator.sim
    card = await message_with(olga, f"application no. {application_id}", chat=cast.group)
    await olga.tap(card, "❌ Reject", chat=cast.group)
    prompt = await message_with(olga, "why is application no. 1 rejected?", chat=cast.group)
    # As the group's admin the bot sees everything said there; only the reply to its
    # question is the reason (where it is no admin, the forced reply is all it sees).
    cast.group.set_bot_status("administrator")
    await olga.send_text("One moment, checking with the team.", chat=cast.group)
    await tg.settle()
    assert await status_of(tg.runtime, application_id) is ApplicationStatus.PENDING
    await olga.send_text("The ID photo is unreadable.", chat=cast.group, reply_to=prompt)
    await message_with(olga, "Done.", chat=cast.group)
    decided = cast.group.message(card["message_id"])
    assert decided["text"].endswith(
        "❌ Rejected by Olga · 2026-01-05 17:00\nReason: The ID photo is unreadable."
    )
    assert "reply_markup" not in decided
    assert await status_of(tg.runtime, application_id) is ApplicationStatus.REJECTED
    notice = await message_with(cast.provider.sim, "was not approved")
    assert "The ID photo is unreadable." in notice["text"]


async def test_details_show_the_application_and_its_documents(tg: RunningBot, cast: Cast) -> None:
    pia = cast.provider.sim
    id_photo = (await pia.send_photo())["photo"][-1]["file_id"]
    certificate = (await pia.send_document(b"%PDF-1.4 c", "cert.pdf"))["document"]["file_id"]
    application_id = await submitted(tg.runtime, cast, documents=(
        Document(DocumentKind.ID_PHOTO, f"photo:{id_photo}"),
        Document(DocumentKind.CERTIFICATE, f"document:{certificate}"),
    ), profile=ProfileDraft(display_name="Pia", bio="Calm and patient"))
    olga = cast.operator.sim
    card = await message_with(olga, f"application no. {application_id}", chat=cast.group)
    await olga.tap(card, "🔎 Details", chat=cast.group)
    details = await message_with(olga, f"Application no. {application_id} (pending): Pia", chat=cast.group)
    assert "About: Calm and patient" in details["text"]
    assert "Hours: mon 09:00-18:00, fri 20:00-02:00" in details["text"]
    id_photo_shown = await olga.next_message(chat=cast.group)
    certificate_shown = await olga.next_message(chat=cast.group)
    assert id_photo_shown["caption"] == "ID" and "photo" in id_photo_shown
    assert certificate_shown["caption"] == "Certificate"
    assert certificate_shown["document"]["file_id"] == certificate
    # Looking decides nothing: the card keeps its buttons.
    assert buttons(cast.group.message(card["message_id"])) == ["✅ Approve", "❌ Reject", "🔎 Details"]


async def disputed_order(tg: RunningBot, cast: Cast, clock: FixedClock) -> int:
    offer_id = await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"])
    order = await served_order(tg.runtime, clock, cast.customer, cast.provider, offer_id, confirm=False)
    await tg.runtime.bus.handle(OpenDispute(
        order_id=order.id, reason="Left after twenty minutes.", actor_id=cast.customer.user_id,
    ))
    return order.id


async def test_a_dispute_card_refunds_the_customer_in_one_tap(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    order_id = await disputed_order(tg, cast, clock)
    olga = cast.operator.sim
    card = await message_with(olga, "Dispute on order", chat=cast.group)
    assert "opened by the customer" in card["text"] and "Left after twenty minutes." in card["text"]
    assert buttons(card) == ["💰 Release to provider", "↩️ Refund customer", "➗ Partial refund", "🔎 Order"]

    await olga.tap(card, "🔎 Order", chat=cast.group)
    history = await message_with(olga, "(disputed)", chat=cast.group)
    assert "Dispute: Left after twenty minutes." in history["text"]
    assert "accept: pending_acceptance → accepted" in history["text"]

    await (await olga.tap(card, "↩️ Refund customer", chat=cast.group)).answer()
    decided = cast.group.message(card["message_id"])
    assert decided["text"].endswith("↩️ Refunded to the customer (80.00 CNY) by Olga · 2026-01-05 20:00")
    order = (await tg.runtime.bus.handle(GetOrder(order_id=order_id))).order
    assert order.state is OrderState.RESOLVED
    assert order.dispute is not None and order.dispute.resolved_by == cast.operator.user_id


async def test_a_dispute_can_be_split_after_a_second_look(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    order_id = await disputed_order(tg, cast, clock)
    olga = cast.operator.sim
    card = await message_with(olga, "Dispute on order", chat=cast.group)
    await (await olga.tap(card, "➗ Partial refund", chat=cast.group)).answer()
    split = cast.group.message(card["message_id"])
    assert buttons(split) == ["Refund 25%", "Refund 50%", "Refund 75%", "« Back"]
    await (await olga.tap(card, "« Back", chat=cast.group)).answer()
    assert buttons(cast.group.message(card["message_id"]))[0] == "💰 Release to provider"

    await (await olga.tap(card, "➗ Partial refund", chat=cast.group)).answer()
    await (await olga.tap(card, "Refund 50%", chat=cast.group)).answer()
    decided = cast.group.message(card["message_id"])
    assert decided["text"].endswith("➗ 50% refunded (40.00 CNY) by Olga · 2026-01-05 20:00")
    order = (await tg.runtime.bus.handle(GetOrder(order_id=order_id))).order
    assert order.dispute is not None and order.dispute.refund == Money(4000, "CNY")


async def earnings(tg: RunningBot, cast: Cast, clock: FixedClock) -> None:
    offer_id = await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"])
    await served_order(tg.runtime, clock, cast.customer, cast.provider, offer_id)
    await settle(tg.runtime, clock)


async def test_a_withdrawal_is_approved_from_its_card(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    await earnings(tg, cast, clock)
    await tg.runtime.bus.handle(RequestWithdrawal(
        provider_id=cast.provider.user_id, amount=Money(5000, "CNY"), method="sandbox",
        actor_id=cast.provider.user_id,
    ))
    olga = cast.operator.sim
    card = await message_with(olga, "Withdrawal no. 1", chat=cast.group)
    assert "50.00 CNY (fee 0.50 CNY, payout 49.50 CNY) via sandbox" in card["text"]
    assert buttons(card) == ["✅ Approve", "❌ Reject"]
    await (await olga.tap(card, "✅ Approve", chat=cast.group)).answer()
    assert cast.group.message(card["message_id"])["text"].endswith(
        "✅ Paid out (49.50 CNY, ref. sandbox-wd1) by Olga · 2026-01-17 20:00"
    )
    await message_with(cast.provider.sim, "Withdrawal 1 paid: 49.50 CNY.")


async def test_a_manual_transfer_is_approved_with_its_reference_and_a_rejection_with_a_reason(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    await earnings(tg, cast, clock)
    for _ in range(2):
        await tg.runtime.bus.handle(RequestWithdrawal(
            provider_id=cast.provider.user_id, amount=Money(2000, "CNY"), method="manual",
            actor_id=cast.provider.user_id,
        ))
    olga = cast.operator.sim
    first = await message_with(olga, "Withdrawal no. 1", chat=cast.group)
    second = await message_with(olga, "Withdrawal no. 2", chat=cast.group)
    assert buttons(first) == ["✅ Paid by transfer…", "❌ Reject"]

    await olga.tap(first, "✅ Paid by transfer…", chat=cast.group)
    prompt = await message_with(olga, "reference of the transfer", chat=cast.group)
    await olga.send_text("ICBC-20260113-001", chat=cast.group, reply_to=prompt)
    await message_with(olga, "Done.", chat=cast.group)
    assert "ref. ICBC-20260113-001) by Olga" in cast.group.message(first["message_id"])["text"]

    await olga.tap(second, "❌ Reject", chat=cast.group)
    prompt = await message_with(olga, "why is withdrawal no. 2 rejected?", chat=cast.group)
    await olga.send_text("Bank details missing.", chat=cast.group, reply_to=prompt)
    await message_with(olga, "Done.", chat=cast.group)
    assert cast.group.message(second["message_id"])["text"].endswith("Reason: Bank details missing.")

    withdrawals = await tg.runtime.bus.handle(ListWithdrawals(provider_id=cast.provider.user_id))
    assert sorted((w.id, w.status.value, w.payout_ref) for w in withdrawals) == [
        (1, "paid", "ICBC-20260113-001"), (2, "rejected", None),
    ]
    await message_with(cast.provider.sim, "Withdrawal 2 of 20.00 CNY was rejected: Bank details missing.")


async def test_alerts_reach_the_group_without_buttons(tg: RunningBot, cast: Cast) -> None:
    async with tg.runtime.uow_factory() as uow:
        uow.emit(PaymentMismatch(
            gateway="telegram_stars", payment_ref="pay-77", problem="amount_mismatch",
            expected=Money(500, "XTR"), received=Money(50, "XTR"), at=datetime(2026, 1, 5, 9, tzinfo=UTC),
        ))
        await uow.commit()
    tg.service.relay.wake()
    alert = await message_with(cast.operator.sim, "Payment mismatch", chat=cast.group)
    assert alert["text"] == (
        "⚠️ Payment mismatch on telegram_stars (pay-77): amount_mismatch. "
        "Expected 500 XTR, received 50 XTR. Nothing was credited."
    )
    assert "reply_markup" not in alert


async def test_queue_posts_again_what_waits_for_a_decision(
    tg: RunningBot, cast: Cast, clock: FixedClock
) -> None:
    olga, bob = cast.operator.sim, cast.bystander.sim
    await olga.send_text("/queue", chat=cast.group)
    await message_with(olga, "Nothing is waiting for a decision.", chat=cast.group)

    order_id = await disputed_order(tg, cast, clock)
    application_id = await submitted(tg.runtime, cast, offers=(
        OfferDraft(category_id=cast.categories["league-of-legends"].id, unit_price=Money(7000, "CNY")),
    ))
    await message_with(olga, f"Provider application no. {application_id}", chat=cast.group)
    await olga.send_text("/queue", chat=cast.group)
    await message_with(
        olga, "Waiting for a decision: 1 application(s), 1 dispute(s), 0 withdrawal(s).",
        chat=cast.group,
    )
    again = await message_with(olga, f"Provider application no. {application_id}", chat=cast.group)
    dispute = await message_with(olga, "Dispute on order", chat=cast.group)
    assert buttons(again) == ["✅ Approve", "❌ Reject", "🔎 Details"]
    await (await olga.tap(dispute, "💰 Release to provider", chat=cast.group)).answer()
    assert cast.group.message(dispute["message_id"])["text"].endswith(
        "💰 Released to the provider by Olga · 2026-01-05 20:00"
    )
    order = (await tg.runtime.bus.handle(GetOrder(order_id=order_id))).order
    assert order.state is OrderState.RESOLVED

    await bob.send_text("/queue", chat=cast.group)
    await message_with(bob, "Only operators can decide this.", chat=cast.group)
