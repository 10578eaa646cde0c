"""The cards the operators' group gets: what the core recorded that an operator must decide or
should know, as platform-neutral Notices for the group chat.

- Decisions, with buttons: a new provider application (approve, reject, show), a dispute
  (release to the provider, refund the customer, split, show the order), a withdrawal
  (approve, or approve with the reference of a manual transfer; reject).
- Alerts, without buttons: a payment callback that did not match, a refund the gateway
  refused, a paid order nobody accepted in time (the customer got the money back but was
  not served), a provider suspended by strikes, a dispute decided by default.

`operator_cards(event)` is what the notice relay asks for the group (see
`app/notifications.GroupRoute`); the group is no person, so the notices carry recipient 0.
An event with a card here reaches operators only here: the relay drops the cards the core
would send each operator in private (`Notice.for_operators`), which only a deployment
without the group gets.
Texts live in `bots/i18n/locales/*/LC_MESSAGES/tg_provider.po`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.booking import events as booking
from core.catalog.events import ApplicationSubmitted
from core.shared.messages import Action, Event, Notice
from core.shared.money import Money
from core.wallet import events as wallet

# A group chat is not a user: its cards are addressed to this id.
GROUP_RECIPIENT = 0


@dataclass(frozen=True)
class OperatorGroup:
    """The operators' group chat, and the language and time zone its cards are written in."""

    chat_id: str
    locale: str = "zh"
    timezone: str = "Asia/Shanghai"


def _notice(key: str, dedup_key: str, actions: tuple[Action, ...] = (), **params: Any) -> Notice:
    return Notice(
        GROUP_RECIPIENT, key, {k: "—" if v is None else v for k, v in params.items()}, actions,
        dedup_key=dedup_key,
    )


def _card(event: Event, key: str, actions: tuple[Action, ...] = (), **params: Any) -> list[Notice]:
    return [_notice(key, f"{event.event_id}:group:{key}", actions, **params)]


def _act(kind: str, name: str, value: int) -> Action:
    return Action(kind, {name: value}, f"tg.op.action.{kind}")


def application_actions(application_id: int) -> tuple[Action, ...]:
    return tuple(
        _act(kind, "application_id", application_id)
        for kind in ("application.approve", "application.reject", "application.show")
    )


def dispute_actions(order_id: int) -> tuple[Action, ...]:
    return tuple(
        _act(kind, "order_id", order_id)
        for kind in ("dispute.release", "dispute.refund", "dispute.partial", "dispute.show")
    )


def withdrawal_actions(withdrawal_id: int, method: str) -> tuple[Action, ...]:
    # A manual payout is made by hand: approving it asks for the transfer's reference.
    approve = "withdrawal.approve_manual" if method == "manual" else "withdrawal.approve"
    return (
        _act(approve, "withdrawal_id", withdrawal_id),
        _act("withdrawal.reject", "withdrawal_id", withdrawal_id),
    )


# -- the decision cards (also re-posted on request: see `decisions.on_queue`) -----------------


def application_card(*, application_id: int, display_name: str, user_id: int, offers: int,
                     at: datetime, dedup_key: str) -> Notice:
    return _notice(
        "tg.op.card.application", dedup_key, application_actions(application_id),
        application_id=application_id, display_name=display_name, user_id=user_id,
        offers=offers, at=at,
    )


def dispute_card(*, order_id: int, number: str, opened_by: int, customer_id: int,
                 provider_id: int | None, reason: str, respond_by: datetime | None,
                 dedup_key: str) -> Notice:
    side = "customer" if opened_by == customer_id else "provider"
    return _notice(
        f"tg.op.card.dispute_by_{side}", dedup_key, dispute_actions(order_id),
        number=number, reason=reason, respond_by=respond_by, customer_id=customer_id,
        provider_id=provider_id,
    )


def withdrawal_card(*, withdrawal_id: int, provider_id: int, amount: Money, fee: Money,
                    method: str, at: datetime, dedup_key: str) -> Notice:
    return _notice(
        "tg.op.card.withdrawal", dedup_key, withdrawal_actions(withdrawal_id, method),
        withdrawal_id=withdrawal_id, provider_id=provider_id, amount=amount, fee=fee,
        payout=amount - fee, method=method, at=at,
    )


def _application(e: ApplicationSubmitted) -> list[Notice]:
    return [application_card(
        application_id=e.application_id, display_name=e.display_name, user_id=e.user_id,
        offers=len(e.category_ids), at=e.at, dedup_key=f"{e.event_id}:group:application",
    )]


def _dispute(e: booking.DisputeOpened) -> list[Notice]:
    return [dispute_card(
        order_id=e.order_id, number=e.order_number, opened_by=e.opened_by,
        customer_id=e.customer_id, provider_id=e.provider_id, reason=e.reason,
        respond_by=e.respond_by, dedup_key=f"{e.event_id}:group:dispute",
    )]


def _withdrawal(e: wallet.WithdrawalRequested) -> list[Notice]:
    return [withdrawal_card(
        withdrawal_id=e.withdrawal_id, provider_id=e.provider_id, amount=e.amount, fee=e.fee,
        method=e.method, at=e.at, dedup_key=f"{e.event_id}:group:withdrawal",
    )]


# -- alerts ----------------------------------------------------------------------------------


def _mismatch(e: wallet.PaymentMismatch) -> list[Notice]:
    return _card(
        e, "tg.op.alert.payment_mismatch", gateway=e.gateway, payment_ref=e.payment_ref,
        problem=e.problem, expected=e.expected, received=e.received, at=e.at,
    )


def _refund_failed(e: wallet.RefundFailed) -> list[Notice]:
    return _card(
        e, "tg.op.alert.refund_failed", amount=e.amount, order_id=e.order_id,
        customer_id=e.customer_id, gateway=e.gateway, failure=e.failure, at=e.at,
    )


def _expired(e: booking.OrderExpired) -> list[Notice]:
    if e.refund is None or not e.refund.is_positive():
        return []  # never paid: nothing went wrong for anyone
    return _card(
        e, "tg.op.alert.order_expired", number=e.order_number, refund=e.refund,
        customer_id=e.customer_id, provider_id=e.provider_id,
    )


def _suspended(e: booking.ProviderAutoSuspended) -> list[Notice]:
    return _card(
        e, "tg.op.alert.provider_suspended", provider_id=e.provider_id, strikes=e.strikes,
        reason=e.reason,
    )


def _resolved(e: booking.DisputeResolved) -> list[Notice]:
    if not e.by_default:
        return []  # an operator decided it, and the card says so
    return _card(
        e, "tg.op.alert.dispute_by_default", number=e.order_number, outcome=e.outcome,
        refund=e.refund,
    )


CARDS: dict[type[Event], Callable[..., list[Notice]]] = {
    ApplicationSubmitted: _application,
    booking.DisputeOpened: _dispute,
    wallet.WithdrawalRequested: _withdrawal,
    wallet.PaymentMismatch: _mismatch,
    wallet.RefundFailed: _refund_failed,
    booking.OrderExpired: _expired,
    booking.ProviderAutoSuspended: _suspended,
    booking.DisputeResolved: _resolved,
}


def operator_cards(event: Event) -> list[Notice]:
    """The group's cards for `event` (none for events operators need not see)."""
    build = CARDS.get(type(event))
    return build(event) if build else []
