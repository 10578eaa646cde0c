"""What people are told about their orders, as platform-neutral Notices.

`notices_for(event)` maps each booking event to the notices it causes: who is told, the
text key (`notice.order.*`, `notice.dispute.*` in `bots/i18n/locales/*/LC_MESSAGES/booking.po`),
the parameters (Money and aware datetimes, which each channel formats for its reader) and
the actions the reader can take next (`order.accept`, `order.confirm`, ...; each carries one
id so it fits any channel's button). Dedup keys derive from the event id and the recipient,
so a redelivered event never produces a second message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.booking import events as ev
from core.shared.messages import Action, Event, Notice


def _act(kind: str, order_id: int) -> Action:
    return Action(kind, {"order_id": order_id})


def _notice(event: Event, recipient: int | None, key: str, params: dict[str, Any],
            *actions: Action) -> list[Notice]:
    if recipient is None:
        return []
    return [Notice(recipient, key, params, tuple(actions),
                   dedup_key=f"{event.event_id}:{recipient}:{key}")]


def _alternatives(ids: Sequence[int]) -> tuple[Action, ...]:
    return tuple(Action("order.book_provider", {"provider_id": pid}) for pid in ids)


def _placed(e: ev.OrderPlaced) -> list[Notice]:
    return _notice(e, e.customer_id, "notice.order.placed",
                   {"number": e.order_number, "total": e.total, "start": e.scheduled_start,
                    "pay_by": e.payment_deadline},
                   _act("order.pay", e.order_id), _act("order.cancel", e.order_id))


def _paid(e: ev.OrderPaid) -> list[Notice]:
    params = {"number": e.order_number, "total": e.total, "start": e.scheduled_start,
              "deadline": e.accept_deadline}
    if e.dispatch == "open":
        return _notice(e, e.customer_id, "notice.order.published", params,
                       _act("order.raise_price", e.order_id), _act("order.cancel", e.order_id))
    request_key = "notice.order.request_instant" if e.instant else "notice.order.request"
    return [
        *_notice(e, e.provider_id, request_key, params,
                 _act("order.accept", e.order_id), _act("order.reject", e.order_id)),
        *_notice(e, e.customer_id, "notice.order.paid", params,
                 _act("order.cancel", e.order_id)),
    ]


def _offered(e: ev.OrderOffered) -> list[Notice]:
    params = {"number": e.order_number, "unit_price": e.unit_price, "units": e.units,
              "total": e.total, "start": e.scheduled_start, "deadline": e.accept_deadline}
    key = "notice.order.offer" if e.scheduled_start else "notice.order.offer_instant"
    return [n for pid in e.provider_ids
            for n in _notice(e, pid, key, params, _act("order.accept", e.order_id))]


def _accepted(e: ev.OrderAccepted) -> list[Notice]:
    params = {"number": e.order_number, "start": e.scheduled_start}
    if e.started:
        return [
            *_notice(e, e.customer_id, "notice.order.accepted_started", params,
                     _act("order.extend", e.order_id)),
            *_notice(e, e.provider_id, "notice.order.serving", params,
                     _act("order.finish", e.order_id)),
        ]
    return [
        *_notice(e, e.customer_id, "notice.order.accepted", params,
                 _act("order.reschedule", e.order_id), _act("order.cancel", e.order_id)),
        *_notice(e, e.provider_id, "notice.order.confirmed", params,
                 _act("order.start", e.order_id)),
    ]


def _taken(e: ev.OpenOrderTaken) -> list[Notice]:
    return [n for pid in e.other_provider_ids
            for n in _notice(e, pid, "notice.order.taken", {"number": e.order_number})]


def _rejected(e: ev.OrderRejected) -> list[Notice]:
    return _notice(e, e.customer_id, "notice.order.rejected",
                   {"number": e.order_number, "reason": e.reason, "refund": e.refund},
                   *_alternatives(e.alternatives))


def _expired(e: ev.OrderExpired) -> list[Notice]:
    notices = _notice(e, e.customer_id, "notice.order.expired",
                      {"number": e.order_number, "refund": e.refund},
                      *_alternatives(e.alternatives))
    notices += _notice(e, e.provider_id, "notice.order.expired_provider",
                       {"number": e.order_number})
    for pid in e.other_provider_ids:
        notices += _notice(e, pid, "notice.order.closed", {"number": e.order_number})
    return notices


def _cancelled(e: ev.OrderCancelled) -> list[Notice]:
    params = {"number": e.order_number, "by": e.by, "reason": e.reason, "fee": e.fee,
              "refund": e.refund}
    notices = _notice(e, e.customer_id, f"notice.order.cancelled_by_{e.by}", params)
    notices += _notice(e, e.provider_id, f"notice.order.cancelled_by_{e.by}", params)
    for pid in e.other_provider_ids:
        if pid != e.provider_id:
            notices += _notice(e, pid, "notice.order.closed", {"number": e.order_number})
    return notices


def _no_show(e: ev.OrderNoShow) -> list[Notice]:
    params = {"number": e.order_number, "fee": e.fee, "refund": e.refund}
    key = f"notice.order.no_show_{e.absent}"
    return [*_notice(e, e.customer_id, key, params), *_notice(e, e.provider_id, key, params)]


def _proposed(e: ev.RescheduleProposed) -> list[Notice]:
    other = e.provider_id if e.proposed_by == e.customer_id else e.customer_id
    return _notice(e, other, "notice.order.reschedule_proposed",
                   {"number": e.order_number, "old_start": e.old_start, "new_start": e.new_start},
                   _act("order.reschedule_agree", e.order_id),
                   _act("order.reschedule_decline", e.order_id))


def _answered(e: ev.RescheduleAnswered) -> list[Notice]:
    proposer = e.provider_id if e.answered_by == e.customer_id else e.customer_id
    key = "notice.order.reschedule_agreed" if e.agreed else "notice.order.reschedule_declined"
    return _notice(e, proposer, key, {"number": e.order_number, "new_start": e.new_start,
                                      "old_start": e.old_start})


def _reassigned(e: ev.OrderReassigned) -> list[Notice]:
    params = {"number": e.order_number, "start": e.scheduled_start, "deadline": e.accept_deadline}
    return [
        *_notice(e, e.provider_id, "notice.order.request_reassigned", params,
                 _act("order.accept", e.order_id), _act("order.reject", e.order_id)),
        *_notice(e, e.previous_provider_id, "notice.order.reassigned_away",
                 {"number": e.order_number}),
        *_notice(e, e.customer_id, "notice.order.reassigned", params),
    ]


def _raised(e: ev.OpenOrderPriceRaised) -> list[Notice]:
    params = {"number": e.order_number, "unit_price": e.unit_price, "bonus": e.bonus,
              "total": e.total}
    return [n for pid in e.provider_ids
            for n in _notice(e, pid, "notice.order.price_raised", params,
                             _act("order.accept", e.order_id))]


def _started(e: ev.OrderStarted) -> list[Notice]:
    return _notice(e, e.customer_id, "notice.order.started",
                   {"number": e.order_number, "at": e.started_at},
                   _act("order.extend", e.order_id))


def _extended(e: ev.OrderExtended) -> list[Notice]:
    return _notice(e, e.provider_id, "notice.order.extended",
                   {"number": e.order_number, "units": e.extra_units, "amount": e.extra_amount,
                    "end": e.scheduled_end})


def _delivered(e: ev.OrderDelivered) -> list[Notice]:
    return _notice(e, e.customer_id, "notice.order.delivered",
                   {"number": e.order_number, "auto_complete_at": e.auto_complete_at},
                   _act("order.confirm", e.order_id), _act("order.dispute", e.order_id))


def _completed(e: ev.OrderCompleted) -> list[Notice]:
    return _notice(e, e.provider_id, "notice.order.completed", {"number": e.order_number})


def _settled(e: ev.OrderSettled) -> list[Notice]:
    return _notice(e, e.provider_id, "notice.order.settled",
                   {"number": e.order_number, "amount": e.provider_amount})


def _reminder(e: ev.OrderReminder) -> list[Notice]:
    params = {"number": e.order_number, "start": e.scheduled_start, "hours": max(1, e.minutes_before // 60)}
    return [*_notice(e, e.customer_id, "notice.order.reminder", params),
            *_notice(e, e.provider_id, "notice.order.reminder", params)]


def _tipped(e: ev.OrderTipped) -> list[Notice]:
    return _notice(e, e.provider_id, "notice.order.tipped",
                   {"number": e.order_number, "amount": e.amount})


def _dispute_opened(e: ev.DisputeOpened) -> list[Notice]:
    other = e.provider_id if e.opened_by == e.customer_id else e.customer_id
    params = {"number": e.order_number, "reason": e.reason, "respond_by": e.respond_by}
    return [*_notice(e, other, "notice.dispute.opened", params,
                     _act("order.dispute_respond", e.order_id)),
            *_notice(e, e.opened_by, "notice.dispute.opened_ack", params)]


def _dispute_answered(e: ev.DisputeAnswered) -> list[Notice]:
    opener = e.provider_id if e.answered_by == e.customer_id else e.customer_id
    return _notice(e, opener, "notice.dispute.answered",
                   {"number": e.order_number, "response": e.response})


def _dispute_resolved(e: ev.DisputeResolved) -> list[Notice]:
    key = f"notice.dispute.resolved_{e.outcome}"
    params = {"number": e.order_number, "refund": e.refund}
    return [*_notice(e, e.customer_id, key, params), *_notice(e, e.provider_id, key, params)]


BUILDERS: dict[type[Event], Callable[..., list[Notice]]] = {
    ev.OrderPlaced: _placed,
    ev.OrderPaid: _paid,
    ev.OrderOffered: _offered,
    ev.OrderAccepted: _accepted,
    ev.OpenOrderTaken: _taken,
    ev.OrderRejected: _rejected,
    ev.OrderExpired: _expired,
    ev.OrderCancelled: _cancelled,
    ev.OrderNoShow: _no_show,
    ev.RescheduleProposed: _proposed,
    ev.RescheduleAnswered: _answered,
    ev.OrderReassigned: _reassigned,
    ev.OpenOrderPriceRaised: _raised,
    ev.OrderStarted: _started,
    ev.OrderExtended: _extended,
    ev.OrderDelivered: _delivered,
    ev.OrderCompleted: _completed,
    ev.OrderSettled: _settled,
    ev.OrderReminder: _reminder,
    ev.OrderTipped: _tipped,
    ev.DisputeOpened: _dispute_opened,
    ev.DisputeAnswered: _dispute_answered,
    ev.DisputeResolved: _dispute_resolved,
}


def notices_for(event: Event) -> list[Notice]:
    """The notices `event` causes (none for events this area does not speak about)."""
    builder = BUILDERS.get(type(event))
    return builder(event) if builder else []
