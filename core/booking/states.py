"""The order lifecycle as data: states, the transitions between them, and where each verb applies.

`ALLOWED` is the whole state machine: the Order aggregate refuses any move not listed here.
`VERBS` says from which states each verb of the aggregate may be used (some verbs keep the
state, e.g. `extend` or `respond`). Tests walk every (state, verb) pair against these tables.
"""

from __future__ import annotations

from enum import StrEnum


class OrderState(StrEnum):
    DRAFT = "draft"
    AWAITING_PAYMENT = "awaiting_payment"
    PENDING_ACCEPTANCE = "pending_acceptance"
    ACCEPTED = "accepted"
    IN_SERVICE = "in_service"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    DISPUTED = "disputed"
    RESOLVED = "resolved"


S = OrderState

ALLOWED: dict[OrderState, frozenset[OrderState]] = {
    S.DRAFT: frozenset({S.AWAITING_PAYMENT, S.CANCELLED}),
    S.AWAITING_PAYMENT: frozenset({S.PENDING_ACCEPTANCE, S.EXPIRED, S.CANCELLED}),
    # in_service straight from pending_acceptance: an instant order starts on acceptance.
    # pending_acceptance -> pending_acceptance: an operator hands the order to someone else.
    S.PENDING_ACCEPTANCE: frozenset(
        {S.ACCEPTED, S.IN_SERVICE, S.REJECTED, S.EXPIRED, S.CANCELLED, S.PENDING_ACCEPTANCE}
    ),
    S.ACCEPTED: frozenset({S.IN_SERVICE, S.CANCELLED, S.PENDING_ACCEPTANCE}),
    # Only an operator cancels an order that is being served (e.g. a safety incident).
    S.IN_SERVICE: frozenset({S.DELIVERED, S.CANCELLED}),
    S.DELIVERED: frozenset({S.COMPLETED, S.DISPUTED}),
    S.COMPLETED: frozenset({S.DISPUTED}),
    S.DISPUTED: frozenset({S.RESOLVED}),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.CANCELLED: frozenset(),
    S.RESOLVED: frozenset(),
}

TERMINAL: frozenset[OrderState] = frozenset(s for s, nxt in ALLOWED.items() if not nxt) | {
    S.COMPLETED
}

# States in which an order occupies the provider's time (its slot cells stay reserved).
ACTIVE: frozenset[OrderState] = frozenset(
    {S.AWAITING_PAYMENT, S.PENDING_ACCEPTANCE, S.ACCEPTED, S.IN_SERVICE}
)

# verb -> the states it may be used in.
VERBS: dict[str, frozenset[OrderState]] = {
    "submit": frozenset({S.DRAFT}),
    "pay": frozenset({S.AWAITING_PAYMENT}),
    "accept": frozenset({S.PENDING_ACCEPTANCE}),
    "reject": frozenset({S.PENDING_ACCEPTANCE}),
    "expire": frozenset({S.AWAITING_PAYMENT, S.PENDING_ACCEPTANCE}),
    "cancel": frozenset({S.DRAFT, S.AWAITING_PAYMENT, S.PENDING_ACCEPTANCE, S.ACCEPTED}),
    "operator_cancel": frozenset(
        {S.DRAFT, S.AWAITING_PAYMENT, S.PENDING_ACCEPTANCE, S.ACCEPTED, S.IN_SERVICE}
    ),
    "propose_reschedule": frozenset({S.PENDING_ACCEPTANCE, S.ACCEPTED}),
    "answer_reschedule": frozenset({S.PENDING_ACCEPTANCE, S.ACCEPTED}),
    "reassign": frozenset({S.PENDING_ACCEPTANCE, S.ACCEPTED}),
    "raise_price": frozenset({S.PENDING_ACCEPTANCE}),
    "dispatch_wave": frozenset({S.PENDING_ACCEPTANCE}),
    "start": frozenset({S.ACCEPTED}),
    "extend": frozenset({S.ACCEPTED, S.IN_SERVICE}),
    "finish": frozenset({S.IN_SERVICE}),
    "no_show": frozenset({S.ACCEPTED}),
    "confirm": frozenset({S.DELIVERED}),
    "auto_complete": frozenset({S.DELIVERED}),
    "dispute": frozenset({S.DELIVERED, S.COMPLETED}),
    "respond": frozenset({S.DISPUTED}),
    "resolve": frozenset({S.DISPUTED}),
    "settle": frozenset({S.COMPLETED}),
    "tip": frozenset({S.DELIVERED, S.COMPLETED, S.RESOLVED}),
    "remind": frozenset({S.PENDING_ACCEPTANCE, S.ACCEPTED}),
}

# A refusal that tells the person what happened beats a generic "not allowed" (stale buttons).
STATE_REFUSALS: dict[OrderState, str] = {
    S.EXPIRED: "error.order.expired",
    S.CANCELLED: "error.order.cancelled",
    S.REJECTED: "error.order.rejected",
    S.COMPLETED: "error.order.completed",
    S.RESOLVED: "error.order.resolved",
}
