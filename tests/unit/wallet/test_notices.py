"""What people are told about wallet events: the right person, a translated text, once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bots.i18n import LOCALES, gettext, has_text
from core.shared.messages import Event
from core.shared.money import Money
from core.wallet import events as e
from core.wallet.notices import notices_for

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CNY = Money(12_000, "CNY")

EXAMPLES: list[tuple[Event, int]] = [
    (e.PaymentReceived(payment_id=1, gateway="wechat_pay", payment_ref="p", customer_id=7,
                       amount=CNY, purpose="order", order_id=42, is_test=False, at=AT), 7),
    (e.RefundCompleted(refund_id=1, order_id=42, customer_id=7, gateway="wechat_pay", amount=CNY,
                       at=AT), 7),
    (e.RefundFailed(refund_id=1, order_id=42, customer_id=7, gateway="telegram_invoice",
                    amount=CNY, failure="no", at=AT), 7),
    (e.WithdrawalRequested(withdrawal_id=3, provider_id=9, amount=CNY, fee=Money(120, "CNY"),
                           method="manual", at=AT), 9),
    (e.WithdrawalApproved(withdrawal_id=3, provider_id=9, payout=CNY, payout_ref="BANK",
                          decided_by=None, at=AT), 9),
    (e.WithdrawalRejected(withdrawal_id=3, provider_id=9, amount=CNY, reason="name mismatch",
                          decided_by=None, at=AT), 9),
    (e.EarningsSettled(provider_id=9, amount=CNY, earnings=2, at=AT), 9),
]


@pytest.mark.parametrize(("event", "recipient"), EXAMPLES, ids=lambda v: type(v).__name__ if isinstance(v, Event) else "")
def test_each_event_tells_its_person_in_both_languages(event: Event, recipient: int) -> None:
    (notice,) = notices_for(event)
    assert notice.recipient_user_id == recipient
    assert notice.dedup_key.startswith(event.event_id)
    for locale in LOCALES:
        assert has_text(notice.key, locale)
        assert "120.00 CNY" in gettext(notice.key, locale, **notice.params)
    assert notices_for(event)[0].dedup_key == notice.dedup_key  # the same event, the same notice


def test_a_test_payment_says_so_and_an_alert_tells_nobody() -> None:
    test_payment = e.PaymentReceived(payment_id=1, gateway="sandbox", payment_ref="p",
                                     customer_id=7, amount=CNY, purpose="topup", order_id=None,
                                     is_test=True, at=AT)
    (notice,) = notices_for(test_payment)
    assert "TEST" in gettext(notice.key, "en", **notice.params)
    mismatch = e.PaymentMismatch(gateway="wechat_pay", payment_ref="p", problem="amount_mismatch",
                                 expected=CNY, received=Money(1, "CNY"), at=AT)
    assert notices_for(mismatch) == []
