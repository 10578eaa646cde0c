"""Who is told what about their order chats."""

from __future__ import annotations

from datetime import UTC, datetime

from bots.i18n import gettext, has_text
from core.relay import events as ev
from core.relay.notices import notices_for

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_both_sides_hear_that_an_operator_joined() -> None:
    notices = notices_for(ev.OperatorJoined(conversation_id=1, order_id=42,
                                            order_number="YB0001A", operator_id=9,
                                            customer_id=1, provider_id=2, joined_at=NOW))
    assert [(n.recipient_user_id, n.key) for n in notices] == [
        (1, "notice.relay.operator_joined"), (2, "notice.relay.operator_joined"),
        (9, "notice.relay.you_joined")]
    assert "YB0001A" in gettext(notices[0].key, "zh", **notices[0].params)


def test_a_reassignment_tells_the_customer_to_wait_and_the_old_provider_goodbye() -> None:
    notices = notices_for(ev.ConversationClosed(
        conversation_id=1, order_id=42, order_number="YB0001A", customer_id=1, provider_id=2,
        operator_ids=(), reason="reassigned", closed_at=NOW))
    assert [(n.recipient_user_id, n.key) for n in notices] == [
        (1, "notice.relay.paused"), (2, "notice.relay.left")]


def test_a_struck_leak_is_told_by_the_strike_notice_only() -> None:
    base = dict(conversation_id=1, order_id=42, order_number="YB0001A", sender_id=1,
                relayed_message_id=5, kinds=("phone",), count=1, at=NOW)
    assert notices_for(ev.ContactLeakMasked(**base, struck=1, strikes=1)) == []  # type: ignore[arg-type]
    [warning] = notices_for(ev.ContactLeakMasked(**base, struck=0, strikes=None))  # type: ignore[arg-type]
    assert (warning.recipient_user_id, warning.key) == (1, "notice.relay.leak_warning")


def test_the_sos_sender_is_told_it_went_out_and_operators_in_the_chat_are_alerted() -> None:
    notices = notices_for(ev.SosRaised(
        conversation_id=1, order_id=42, order_number="YB0001A", service_kind="on_site",
        raised_by=1, raised_by_role="customer", customer_id=1, provider_id=2, operator_ids=(9,),
        latitude=31.23, longitude=121.47, location_at=NOW, location_source="shared",
        raised_at=NOW))
    assert [(n.recipient_user_id, n.key) for n in notices] == [
        (1, "notice.relay.sos_sent"), (9, "notice.relay.sos_alert")]


def test_every_relay_notice_has_words_in_both_languages() -> None:
    keys = [
        "notice.relay.opened", "notice.relay.reopened", "notice.relay.reopened_for_dispute",
        "notice.relay.paused", "notice.relay.left", "notice.relay.closed",
        "notice.relay.operator_joined", "notice.relay.you_joined", "notice.relay.leak_warning",
        "notice.relay.sos_sent", "notice.relay.sos_sent_no_location", "notice.relay.sos_alert",
        "notice.relay.undelivered", "notice.relay.undelivered_blocked",
        "notice.relay.undelivered_window", "relay.hidden", "relay.header",
        *(f"relay.kind.{k}" for k in ("text", "photo", "voice", "sticker", "contact")),
        *(f"relay.leak.{k}" for k in ("phone", "wechat", "qq", "email", "handle", "telegram", "url")),
    ]
    for locale in ("zh", "en"):
        assert [k for k in keys if not has_text(k, locale)] == []
    assert gettext("relay.hidden", "zh") == "[已隐藏]"
    assert gettext("relay.hidden", "en") == "[hidden]"
