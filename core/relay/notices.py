"""What people are told about their order chats, as platform-neutral Notices.

Texts live under `notice.relay.*` in `bots/i18n/locales/*/LC_MESSAGES/relay.po`; actions are
`relay.select` (make this order's chat the current one), `relay.sos` (in-person orders) and
`relay.transcript` (operators). Dedup keys derive from the event id and the recipient, so a
redelivered event never produces a second message.

An SOS alert goes to the operator group straight from the `SosRaised` event (the bots watch
for it); here the sender is told it went out, and operators already in the chat are told too.
A leak that earned a strike is told by identity's strike notice; one that was only a warning
is told here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.relay import events as ev
from core.relay import pending
from core.relay.model import IN_PERSON_KINDS
from core.shared.messages import Action, Event, Notice


def _act(kind: str, order_id: int) -> Action:
    return Action(kind, {"order_id": order_id})


def _notice(event: Event, recipient: int | None, key: str, params: dict[str, Any],
            *actions: Action) -> list[Notice]:
    if not recipient:
        return []
    return [Notice(recipient, key, params, tuple(actions),
                   dedup_key=f"{event.event_id}:{recipient}:{key}")]


def _opened(e: ev.ConversationOpened) -> list[Notice]:
    params = {"number": e.order_number}
    key = "notice.relay.reopened_for_dispute" if e.reason == "dispute" else (
        "notice.relay.reopened" if e.reopened else "notice.relay.opened")
    select = _act("relay.select", e.order_id)
    return [*_notice(e, e.customer_id, key, params, select),
            *_notice(e, e.provider_id, key, params, select)]


def _closed(e: ev.ConversationClosed) -> list[Notice]:
    params = {"number": e.order_number}
    if e.reason == "reassigned":
        return [*_notice(e, e.customer_id, "notice.relay.paused", params),
                *_notice(e, e.provider_id, "notice.relay.left", params)]
    everyone = (e.customer_id, e.provider_id, *e.operator_ids)
    return [n for user in everyone for n in _notice(e, user, "notice.relay.closed", params)]


def _joined(e: ev.OperatorJoined) -> list[Notice]:
    params = {"number": e.order_number}
    return [*_notice(e, e.customer_id, "notice.relay.operator_joined", params),
            *_notice(e, e.provider_id, "notice.relay.operator_joined", params),
            *_notice(e, e.operator_id, "notice.relay.you_joined", params,
                     _act("relay.transcript", e.order_id))]


def _leak(e: ev.ContactLeakMasked) -> list[Notice]:
    if e.struck:
        return []  # identity's strike notice tells them, with the count
    return _notice(e, e.sender_id, "notice.relay.leak_warning",
                   {"number": e.order_number, "kinds": ", ".join(e.kinds)})


def _sos(e: ev.SosRaised) -> list[Notice]:
    params: dict[str, Any] = {
        "number": e.order_number, "role": e.raised_by_role, "raised_by": e.raised_by,
        "customer_id": e.customer_id, "provider_id": e.provider_id,
        "latitude": e.latitude, "longitude": e.longitude, "location_at": e.location_at,
        "raised_at": e.raised_at,
    }
    key = "notice.relay.sos_sent" if e.latitude is not None else "notice.relay.sos_sent_no_location"
    notices = _notice(e, e.raised_by, key, params)
    for operator in e.operator_ids:
        notices += _notice(e, operator, "notice.relay.sos_alert", params,
                           _act("relay.transcript", e.order_id))
    return notices


def _undelivered(e: ev.RelayUndelivered) -> list[Notice]:
    if e.failure in pending.WINDOW_FAILURES:
        return []  # the message waits for the window; `core.relay.pending` tells the sender
    key = {
        "blocked": "notice.relay.undelivered_blocked",
    }.get(e.failure, "notice.relay.undelivered")
    return _notice(e, e.sender_id, key, {"number": e.order_number})


BUILDERS: dict[type[Event], Callable[..., list[Notice]]] = {
    ev.ConversationOpened: _opened,
    ev.ConversationClosed: _closed,
    ev.OperatorJoined: _joined,
    ev.ContactLeakMasked: _leak,
    ev.SosRaised: _sos,
    ev.RelayUndelivered: _undelivered,
    **pending.NOTICE_BUILDERS,
}


def notices_for(event: Event) -> list[Notice]:
    builder = BUILDERS.get(type(event))
    return builder(event) if builder else []


def sos_available(service_kind: str | None) -> bool:
    """Whether chats of this kind of order offer the SOS button."""
    return service_kind is None or service_kind in IN_PERSON_KINDS
