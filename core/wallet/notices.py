"""What people are told about wallet events, as platform-neutral Notices.

`notices_for(event)` is consulted by the outbox dispatcher (core/notices.py); the texts
live under `notice.wallet.*` in `bots/i18n/locales/*/LC_MESSAGES/wallet.po`. Dedup keys
derive from the event id, so a redelivered event is never told twice. A `PaymentMismatch`
is for operators (it is an alert, read from the outbox and the audit log), not for a user.
"""

from __future__ import annotations

from collections.abc import Callable

from core.shared.messages import Action, Event, Notice
from core.wallet import events


def _received(e: events.PaymentReceived) -> list[Notice]:
    key = "notice.wallet.test_payment_received" if e.is_test else "notice.wallet.payment_received"
    return [Notice(e.customer_id, key, {"amount": e.amount.format(), "order_id": e.order_id or ""},
                   dedup_key=f"{e.event_id}:received")]


def _refunded(e: events.RefundCompleted) -> list[Notice]:
    return [Notice(e.customer_id, "notice.wallet.refund_completed",
                   {"amount": e.amount.format(), "order_id": e.order_id or ""},
                   dedup_key=f"{e.event_id}:refunded")]


def _refund_failed(e: events.RefundFailed) -> list[Notice]:
    return [Notice(e.customer_id, "notice.wallet.refund_failed",
                   {"amount": e.amount.format(), "order_id": e.order_id or ""},
                   actions=(Action("wallet.statement", {}, "wallet.action.statement"),),
                   dedup_key=f"{e.event_id}:refund_failed")]


def _withdrawal_requested(e: events.WithdrawalRequested) -> list[Notice]:
    return [Notice(e.provider_id, "notice.wallet.withdrawal_requested",
                   {"amount": e.amount.format(), "fee": e.fee.format(), "id": e.withdrawal_id},
                   dedup_key=f"{e.event_id}:requested")]


def _withdrawal_paid(e: events.WithdrawalApproved) -> list[Notice]:
    return [Notice(e.provider_id, "notice.wallet.withdrawal_paid",
                   {"amount": e.payout.format(), "id": e.withdrawal_id},
                   dedup_key=f"{e.event_id}:paid")]


def _withdrawal_rejected(e: events.WithdrawalRejected) -> list[Notice]:
    return [Notice(e.provider_id, "notice.wallet.withdrawal_rejected",
                   {"amount": e.amount.format(), "id": e.withdrawal_id, "reason": e.reason},
                   dedup_key=f"{e.event_id}:rejected")]


def _settled(e: events.EarningsSettled) -> list[Notice]:
    return [Notice(e.provider_id, "notice.wallet.earnings_settled", {"amount": e.amount.format()},
                   actions=(Action("wallet.withdraw", {}, "wallet.action.withdraw"),),
                   dedup_key=f"{e.event_id}:settled")]


BUILDERS: dict[type[Event], Callable[..., list[Notice]]] = {
    events.PaymentReceived: _received,
    events.RefundCompleted: _refunded,
    events.RefundFailed: _refund_failed,
    events.WithdrawalRequested: _withdrawal_requested,
    events.WithdrawalApproved: _withdrawal_paid,
    events.WithdrawalRejected: _withdrawal_rejected,
    events.EarningsSettled: _settled,
}


def notices_for(event: Event) -> list[Notice]:
    builder = BUILDERS.get(type(event))
    return builder(event) if builder else []
