"""The Order aggregate: one booking from request to settlement, and its dispute.

Every verb is a method that checks the verb is allowed in the current state (`VERBS`),
checks who may use it, moves the state (only along `ALLOWED`), records an event and appends
a `Transition` the handler turns into an audit row. Money amounts are computed by the
policy and passed in; the order only remembers them.

Timers are plain fields (`accept_deadline`, `next_wave_at`, `remind_24h_at`, ...). A verb
that makes a timer pointless clears it, and `due_at` is the earliest one still set, which
storage indexes so the sweeper finds due orders with one range scan.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.booking import events as ev
from core.booking.policy import BookingPolicy, DisputeOutcome
from core.booking.states import ALLOWED, STATE_REFUSALS, VERBS, OrderState
from core.shared.aggregate import Aggregate
from core.shared.errors import DomainError, Forbidden
from core.shared.money import Money

S = OrderState

# Crockford's base32: no I, L, O, U, so a number read aloud over the phone survives.
_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def order_number(order_id: int) -> str:
    """`YB` + the id in Crockford base32, at least five digits: 42 -> "YB0001A"."""
    if order_id <= 0:
        raise ValueError("order numbers are made from saved ids")
    digits = []
    value = order_id
    while value:
        value, rest = divmod(value, 32)
        digits.append(_BASE32[rest])
    return "YB" + "".join(reversed(digits)).rjust(5, "0")


def new_delivery_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


class Dispatch(StrEnum):
    DIRECT = "direct"  # the customer picked the provider
    OPEN = "open"  # published to qualified providers in waves; first accept wins


class Party(StrEnum):
    CUSTOMER = "customer"
    PROVIDER = "provider"
    OPERATOR = "operator"
    SYSTEM = "system"


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float


@dataclass(frozen=True)
class PriceBreakdown:
    """What the customer pays, in minor units: unit price x units - discount + bonus."""

    unit_price: Money
    units: int
    discount: Money
    bonus: Money  # added by the customer to an open order between dispatch waves
    deposit: Money  # the part held at payment (the whole total unless the policy says less)

    @property
    def subtotal(self) -> Money:
        return self.unit_price * self.units

    @property
    def total(self) -> Money:
        return self.subtotal - self.discount + self.bonus

    @property
    def currency(self) -> str:
        return self.unit_price.currency


@dataclass(frozen=True)
class Transition:
    """One audited step: who did what, when, from which state to which, and why."""

    verb: str
    actor_id: int | None
    at: datetime
    from_state: OrderState
    to_state: OrderState
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Dispute:
    id: int = 0
    opened_by: int
    opener: Party
    reason: str
    opened_at: datetime
    from_state: OrderState
    respond_by: datetime
    response: str | None = None
    responded_by: int | None = None
    responded_at: datetime | None = None
    outcome: DisputeOutcome | None = None
    refund: Money | None = None
    resolved_by: int | None = None
    resolved_at: datetime | None = None
    by_default: bool = False
    note: str | None = None

    @property
    def is_open(self) -> bool:
        return self.outcome is None


@dataclass(kw_only=True)
class Order(Aggregate):
    id: int = 0
    number: str = ""
    customer_id: int
    provider_id: int | None
    offer_id: int | None
    category_id: int
    kind: str  # the category's service kind: online_session, on_site, errand, venue_lesson
    pricing_unit: str
    dispatch: Dispatch
    instant: bool
    price: PriceBreakdown
    state: OrderState = S.DRAFT
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    address: str | None = None
    place: Place | None = None
    notes: str = ""
    tags: tuple[str, ...] = ()
    tier_min: int = 1
    created_at: datetime
    paid_at: datetime | None = None
    accepted_at: datetime | None = None
    started_at: datetime | None = None
    delivered_at: datetime | None = None
    completed_at: datetime | None = None
    closed_at: datetime | None = None
    settled_at: datetime | None = None
    # Timers (every deadline is a column; see due_at).
    payment_deadline: datetime | None = None
    accept_deadline: datetime | None = None
    next_wave_at: datetime | None = None
    remind_24h_at: datetime | None = None
    remind_1h_at: datetime | None = None
    auto_complete_at: datetime | None = None
    dispute_respond_by: datetime | None = None
    settle_at: datetime | None = None
    # Dispatch, money snapshot at acceptance, and outcomes.
    wave: int = 0
    payments: int = 0  # holds made for this order (payment, extensions, raises)
    commission_bps: int | None = None
    venue_id: int | None = None
    venue_share_bps: int = 0
    cancelled_by: Party | None = None
    close_reason: str | None = None
    fee: Money | None = None
    refund: Money | None = None
    reschedule_count: int = 0
    proposed_start: datetime | None = None
    proposed_by: int | None = None
    checkin: str | None = None  # "location:<lat>,<lon>" or "photo:<file ref>"
    proof: str | None = None
    delivery_code: str | None = None
    dispute: Dispute | None = None
    trail: list[Transition] = field(default_factory=list, repr=False, compare=False)

    # --- reading -------------------------------------------------------------------------

    TIMERS = (
        "payment_deadline", "accept_deadline", "next_wave_at", "remind_24h_at",
        "remind_1h_at", "auto_complete_at", "dispute_respond_by", "settle_at",
    )

    @property
    def due_at(self) -> datetime | None:
        times = [t for t in (getattr(self, name) for name in self.TIMERS) if t is not None]
        return min(times) if times else None

    @property
    def duration(self) -> timedelta | None:
        if self.scheduled_start is None or self.scheduled_end is None:
            return None
        return self.scheduled_end - self.scheduled_start

    def party_of(self, user_id: int | None) -> Party | None:
        if user_id is not None and user_id == self.customer_id:
            return Party.CUSTOMER
        if user_id is not None and user_id == self.provider_id:
            return Party.PROVIDER
        return None

    def other_party_id(self, user_id: int) -> int | None:
        return self.provider_id if user_id == self.customer_id else self.customer_id

    # --- guards --------------------------------------------------------------------------

    def _guard(self, verb: str) -> None:
        if self.state not in VERBS[verb]:
            key = STATE_REFUSALS.get(self.state, "error.order.not_allowed")
            raise DomainError(key, verb=verb, state=self.state.value, number=self.number)

    def ensure_verb(self, verb: str) -> None:
        """Refuse with a message that names the state when `verb` does not apply now."""
        self._guard(verb)

    def ensure_acceptable(self, provider_id: int) -> None:
        if self.state in (S.ACCEPTED, S.IN_SERVICE, S.DELIVERED, S.COMPLETED, S.DISPUTED,
                          S.RESOLVED) and self.provider_id is not None:
            # A double tap or a stale card: say who has it rather than "not allowed".
            if provider_id == self.provider_id:
                raise DomainError("error.order.already_accepted", number=self.number)
            raise DomainError("error.order.taken", number=self.number)
        self._guard("accept")
        if self.dispatch is Dispatch.DIRECT:
            self._provider_only(provider_id)
        elif provider_id == self.customer_id:
            raise DomainError("error.booking.self_booking")

    def _customer_only(self, actor_id: int | None) -> None:
        if actor_id != self.customer_id:
            raise Forbidden("error.order.not_yours", number=self.number)

    def _provider_only(self, actor_id: int | None) -> None:
        if self.provider_id is None or actor_id != self.provider_id:
            raise Forbidden("error.order.not_yours", number=self.number)

    def _party(self, actor_id: int | None) -> Party:
        party = self.party_of(actor_id)
        if party is None:
            raise Forbidden("error.order.not_yours", number=self.number)
        return party

    def _move(
        self,
        verb: str,
        to: OrderState,
        actor_id: int | None,
        at: datetime,
        reason: str | None = None,
        **data: Any,
    ) -> None:
        if to not in ALLOWED[self.state] and to is not self.state:
            raise DomainError("error.order.not_allowed", verb=verb, state=self.state.value,
                              number=self.number)
        self.trail.append(Transition(verb, actor_id, at, self.state, to, reason, dict(data)))
        self.state = to

    def _base(self) -> dict[str, Any]:
        return {
            "order_id": self.id,
            "order_number": self.number,
            "customer_id": self.customer_id,
            "provider_id": self.provider_id,
        }

    def _clear_timers(self, *names: str) -> None:
        for name in names or self.TIMERS:
            setattr(self, name, None)

    # --- creating and paying -------------------------------------------------------------

    def submit(self, at: datetime, policy: BookingPolicy) -> None:
        """Draft -> awaiting payment: the request is complete and priced."""
        self._guard("submit")
        if not self.id:
            raise ValueError("save the draft before submitting it (it needs its number)")
        self.payment_deadline = at + policy.payment_window
        if self.kind == "errand":
            self.delivery_code = self.delivery_code or new_delivery_code()
        self._move("submit", S.AWAITING_PAYMENT, self.customer_id, at)
        self.record(ev.OrderPlaced(
            **self._base(), category_id=self.category_id, dispatch=self.dispatch.value,
            instant=self.instant, total=self.price.total, scheduled_start=self.scheduled_start,
            payment_deadline=self.payment_deadline,
        ))

    def pay(self, actor_id: int | None, amount: Money, at: datetime, policy: BookingPolicy) -> None:
        self._guard("pay")
        self._customer_only(actor_id)
        self.paid_at = at
        self.payments += 1
        self.payment_deadline = None
        deadline = at + policy.accept_window
        if self.scheduled_start is not None and self.dispatch is Dispatch.DIRECT:
            # Nobody may accept a booking after it should have begun.
            deadline = min(deadline, self.scheduled_start)
        self.accept_deadline = deadline
        if self.dispatch is Dispatch.OPEN:
            self.next_wave_at = at  # the first wave goes out now
        self._move("pay", S.PENDING_ACCEPTANCE, actor_id, at, amount=amount.amount)
        self.record(ev.OrderPaid(
            **self._base(), dispatch=self.dispatch.value, amount=amount, total=self.price.total,
            instant=self.instant, scheduled_start=self.scheduled_start,
            accept_deadline=self.accept_deadline,
        ))

    # --- matching ------------------------------------------------------------------------

    def dispatch_wave(
        self, wave: int, provider_ids: tuple[int, ...], at: datetime, next_wave_at: datetime | None
    ) -> None:
        self._guard("dispatch_wave")
        if self.dispatch is not Dispatch.OPEN:
            raise DomainError("error.order.not_open", number=self.number)
        self.wave = wave
        self.next_wave_at = next_wave_at
        if provider_ids:
            self.record(ev.OrderOffered(
                **self._base(), provider_ids=provider_ids, wave=wave,
                category_id=self.category_id, unit_price=self.price.unit_price,
                units=self.price.units, total=self.price.total,
                scheduled_start=self.scheduled_start, accept_deadline=self.accept_deadline,
            ))

    def raise_price(
        self, actor_id: int | None, unit_price: Money, bonus: Money, at: datetime,
        offered: tuple[int, ...],
    ) -> Money:
        """The customer offers more between waves; returns the extra amount to hold."""
        self._guard("raise_price")
        self._customer_only(actor_id)
        if self.dispatch is not Dispatch.OPEN:
            raise DomainError("error.order.not_open", number=self.number)
        if unit_price < self.price.unit_price or bonus.amount < 0:
            raise DomainError("error.order.price_cannot_drop", number=self.number)
        new = PriceBreakdown(unit_price, self.price.units, self.price.discount,
                             self.price.bonus + bonus, self.price.deposit)
        extra = new.total - self.price.total
        if not extra.is_positive():
            raise DomainError("error.order.price_unchanged", number=self.number)
        self.price = PriceBreakdown(new.unit_price, new.units, new.discount, new.bonus,
                                    self.price.deposit + extra)
        self.payments += 1
        self._move("raise_price", self.state, actor_id, at, extra=extra.amount)
        self.record(ev.OpenOrderPriceRaised(
            **self._base(), unit_price=unit_price, bonus=self.price.bonus,
            total=self.price.total, provider_ids=offered,
        ))
        return extra

    def accept(
        self,
        provider_id: int,
        at: datetime,
        *,
        commission_bps: int,
        venue_id: int | None,
        venue_share_bps: int,
        duration: timedelta | None = None,
        policy: BookingPolicy,
    ) -> None:
        self.ensure_acceptable(provider_id)
        self.provider_id = provider_id
        self.accepted_at = at
        self.commission_bps = commission_bps
        self.venue_id = venue_id
        self.venue_share_bps = venue_share_bps
        self._clear_timers("accept_deadline", "next_wave_at")
        if self.instant:
            self.started_at = at
            self.scheduled_start = at
            if duration is not None:
                self.scheduled_end = at + duration
            self._move("accept", S.IN_SERVICE, provider_id, at)
        else:
            self._set_reminders(at, policy)
            self._move("accept", S.ACCEPTED, provider_id, at)
        self.record(ev.OrderAccepted(
            **self._base(), dispatch=self.dispatch.value, scheduled_start=self.scheduled_start,
            started=self.instant, service_kind=self.kind,
        ))

    def _set_reminders(self, now: datetime, policy: BookingPolicy) -> None:
        self.remind_24h_at = self.remind_1h_at = None
        if self.scheduled_start is None:
            return
        for name, offset in (("remind_24h_at", policy.early_reminder),
                             ("remind_1h_at", policy.late_reminder)):
            when = self.scheduled_start - offset
            if offset and when > now:
                setattr(self, name, when)

    def reject(self, actor_id: int, reason: str, at: datetime, refund: Money | None,
               alternatives: tuple[int, ...]) -> None:
        self._guard("reject")
        if self.dispatch is not Dispatch.DIRECT:
            raise DomainError("error.order.not_direct", number=self.number)
        self._provider_only(actor_id)
        reason = reason.strip()
        if not reason:
            raise DomainError("error.order.reason_required")
        self._close(S.REJECTED, "reject", actor_id, at, reason, refund=refund)
        self.record(ev.OrderRejected(**self._base(), reason=reason, refund=refund,
                                     alternatives=alternatives))

    def _close(self, to: OrderState, verb: str, actor_id: int | None, at: datetime,
               reason: str | None, *, fee: Money | None = None, refund: Money | None = None,
               **data: Any) -> None:
        self._clear_timers()
        self.closed_at = at
        self.close_reason = reason
        self.fee = fee
        self.refund = refund
        self.proposed_start = self.proposed_by = None
        self._move(verb, to, actor_id, at, reason,
                   fee=fee.amount if fee else 0, refund=refund.amount if refund else 0, **data)

    def expire(self, at: datetime, refund: Money | None, alternatives: tuple[int, ...],
               others: tuple[int, ...] = ()) -> None:
        self._guard("expire")
        why = "payment_timeout" if self.state is S.AWAITING_PAYMENT else "accept_timeout"
        self._close(S.EXPIRED, "expire", None, at, why, refund=refund)
        self.record(ev.OrderExpired(**self._base(), refund=refund, alternatives=alternatives,
                                    other_provider_ids=others))

    def cancel(self, actor_id: int | None, by: Party, reason: str, at: datetime,
               fee: Money | None, refund: Money | None, others: tuple[int, ...] = ()) -> None:
        if by is Party.OPERATOR:
            self._guard("operator_cancel")
        else:
            self._guard("cancel")
            if self.party_of(actor_id) is not by:
                raise Forbidden("error.order.not_yours", number=self.number)
            if by is Party.PROVIDER and self.state is not S.ACCEPTED:
                # Before accepting, a provider rejects (with a reason) rather than cancels.
                raise DomainError("error.order.reject_instead", number=self.number)
        self.cancelled_by = by
        self._close(S.CANCELLED, "cancel", actor_id, at, reason or by.value, fee=fee,
                    refund=refund, by=by.value)
        self.record(ev.OrderCancelled(**self._base(), by=by.value, reason=reason or "",
                                      fee=fee, refund=refund, other_provider_ids=others))

    # --- rescheduling and reassignment ---------------------------------------------------

    def propose_reschedule(self, actor_id: int, new_start: datetime, at: datetime,
                           policy: BookingPolicy) -> None:
        self._guard("propose_reschedule")
        self._party(actor_id)
        if self.scheduled_start is None:
            raise DomainError("error.reschedule.instant_order", number=self.number)
        if self.reschedule_count >= policy.max_reschedules:
            raise DomainError("error.reschedule.limit", limit=policy.max_reschedules)
        if new_start == self.scheduled_start:
            raise DomainError("error.reschedule.same_time")
        self.proposed_start = new_start
        self.proposed_by = actor_id
        self._move("propose_reschedule", self.state, actor_id, at,
                   new_start=new_start.isoformat())
        self.record(ev.RescheduleProposed(**self._base(), proposed_by=actor_id,
                                          old_start=self.scheduled_start, new_start=new_start))

    def answer_reschedule(self, actor_id: int, agree: bool, at: datetime,
                          policy: BookingPolicy) -> tuple[datetime, datetime] | None:
        """The other side answers; on agreement returns the new (start, end) to reserve."""
        self._guard("answer_reschedule")
        self._party(actor_id)
        if self.proposed_start is None or self.proposed_by is None:
            raise DomainError("error.reschedule.nothing_proposed", number=self.number)
        if actor_id == self.proposed_by:
            raise DomainError("error.reschedule.needs_other_side", number=self.number)
        new_start, old_start = self.proposed_start, self.scheduled_start
        self.proposed_start = self.proposed_by = None
        window: tuple[datetime, datetime] | None = None
        if agree:
            duration = self.duration or timedelta(0)
            self.scheduled_start, self.scheduled_end = new_start, new_start + duration
            self.reschedule_count += 1
            if self.state is S.ACCEPTED:
                self._set_reminders(at, policy)
            elif self.accept_deadline is not None and self.accept_deadline > new_start:
                self.accept_deadline = new_start
            window = (self.scheduled_start, self.scheduled_end)
        self._move("answer_reschedule", self.state, actor_id, at,
                   "agreed" if agree else "declined", new_start=new_start.isoformat())
        self.record(ev.RescheduleAnswered(**self._base(), answered_by=actor_id, agreed=agree,
                                          old_start=old_start, new_start=new_start))
        return window

    def reassign(self, new_provider_id: int, at: datetime, actor_id: int | None,
                 policy: BookingPolicy, reason: str) -> None:
        """An operator hands the order to another provider, who must accept it in time."""
        self._guard("reassign")
        if new_provider_id == self.customer_id:
            raise DomainError("error.booking.self_booking")
        if new_provider_id == self.provider_id:
            raise DomainError("error.order.same_provider", number=self.number)
        previous = self.provider_id
        self.provider_id = new_provider_id
        self.dispatch = Dispatch.DIRECT
        self.accepted_at = None
        self._clear_timers("remind_24h_at", "remind_1h_at", "next_wave_at")
        deadline = at + policy.accept_window
        if self.scheduled_start is not None:
            deadline = min(deadline, max(at, self.scheduled_start))
        self.accept_deadline = deadline
        self._move("reassign", S.PENDING_ACCEPTANCE, actor_id, at, reason,
                   previous_provider_id=previous, provider_id=new_provider_id)
        self.record(ev.OrderReassigned(**self._base(), previous_provider_id=previous,
                                       accept_deadline=deadline,
                                       scheduled_start=self.scheduled_start))

    # --- serving -------------------------------------------------------------------------

    def start(self, actor_id: int, at: datetime, policy: BookingPolicy,
              checkin: str | None) -> None:
        self._guard("start")
        self._provider_only(actor_id)
        if self.scheduled_start is not None and at < self.scheduled_start - policy.early_start:
            raise DomainError("error.order.too_early_to_start", start=self.scheduled_start)
        if self.kind == "on_site" and not checkin:
            raise DomainError("error.order.checkin_required", number=self.number)
        self.started_at = at
        self.checkin = checkin
        self._clear_timers("remind_24h_at", "remind_1h_at")
        self._move("start", S.IN_SERVICE, actor_id, at, checkin=checkin or "")
        self.record(ev.OrderStarted(**self._base(), started_at=at,
                                    checkin=checkin.split(":", 1)[0] if checkin else None))

    def extend(self, actor_id: int, extra_units: int, at: datetime,
               extra_time: timedelta) -> Money:
        """Add units (加时/加钟); returns the extra amount to hold."""
        self._guard("extend")
        self._customer_only(actor_id)
        if extra_units <= 0:
            raise DomainError("error.order.invalid_units", units=extra_units)
        extra = self.price.unit_price * extra_units
        self.price = PriceBreakdown(self.price.unit_price, self.price.units + extra_units,
                                    self.price.discount, self.price.bonus,
                                    self.price.deposit + extra)
        if self.scheduled_end is not None:
            self.scheduled_end += extra_time
        self.payments += 1
        self._move("extend", self.state, actor_id, at, extra_units=extra_units,
                   extra=extra.amount)
        self.record(ev.OrderExtended(**self._base(), extra_units=extra_units,
                                     extra_amount=extra, total=self.price.total,
                                     scheduled_end=self.scheduled_end))
        return extra

    def finish(self, actor_id: int, at: datetime, policy: BookingPolicy, proof: str | None,
               delivery_code: str | None) -> None:
        self._guard("finish")
        self._provider_only(actor_id)
        if self.delivery_code is not None:
            if not delivery_code:
                raise DomainError("error.order.delivery_code_required", number=self.number)
            if delivery_code.strip() != self.delivery_code:
                raise DomainError("error.order.delivery_code_wrong", number=self.number)
        self.delivered_at = at
        self.proof = proof
        self.auto_complete_at = at + policy.auto_complete_after
        self._move("finish", S.DELIVERED, actor_id, at, proof=bool(proof))
        self.record(ev.OrderDelivered(**self._base(), delivered_at=at,
                                      auto_complete_at=self.auto_complete_at,
                                      has_proof=bool(proof)))

    def mark_no_show(self, actor_id: int, at: datetime, policy: BookingPolicy,
                     fee: Money | None, refund: Money | None) -> Party:
        """Either side says the other did not come; returns the absent party."""
        self._guard("no_show")
        reporter = self._party(actor_id)
        if self.scheduled_start is None or at < self.scheduled_start + policy.no_show_grace:
            raise DomainError("error.order.no_show_too_early",
                              after=(self.scheduled_start or at) + policy.no_show_grace)
        absent = Party.PROVIDER if reporter is Party.CUSTOMER else Party.CUSTOMER
        self.cancelled_by = reporter
        self._close(S.CANCELLED, "no_show", actor_id, at, f"{absent.value}_no_show",
                    fee=fee, refund=refund)
        self.record(ev.OrderNoShow(**self._base(), absent=absent.value, fee=fee, refund=refund))
        return absent

    def complete(self, actor_id: int | None, at: datetime, policy: BookingPolicy,
                 *, auto: bool = False) -> None:
        self._guard("auto_complete" if auto else "confirm")
        if not auto:
            self._customer_only(actor_id)
        self.completed_at = at
        self._clear_timers("auto_complete_at")
        # The money stays held until nobody can dispute any more.
        self.settle_at = at + policy.dispute_window
        self._move("auto_complete" if auto else "confirm", S.COMPLETED, actor_id, at)
        assert self.provider_id is not None
        self.record(ev.OrderCompleted(
            order_id=self.id, order_number=self.number, customer_id=self.customer_id,
            provider_id=self.provider_id, category_id=self.category_id, completed_at=at,
        ))

    def settle(self, at: datetime, provider: Money, platform: Money, venue: Money) -> None:
        self._guard("settle")
        if self.settled_at is not None:
            raise DomainError("error.order.already_settled", number=self.number)
        self.settled_at = at
        self._clear_timers("settle_at")
        self._move("settle", self.state, None, at, provider=provider.amount,
                   platform=platform.amount, venue=venue.amount)
        self.record(ev.OrderSettled(**self._base(), provider_amount=provider,
                                    platform_amount=platform, venue_amount=venue))

    def remind(self, timer: str, at: datetime) -> None:
        self._guard("remind")
        when = getattr(self, timer)
        setattr(self, timer, None)
        assert self.scheduled_start is not None and when is not None
        minutes = int((self.scheduled_start - when).total_seconds() // 60)
        self.record(ev.OrderReminder(**self._base(), scheduled_start=self.scheduled_start,
                                     minutes_before=minutes))

    def tip(self, actor_id: int, amount: Money, at: datetime) -> None:
        self._guard("tip")
        self._customer_only(actor_id)
        if not amount.is_positive():
            raise DomainError("error.order.invalid_tip")
        self._move("tip", self.state, actor_id, at, amount=amount.amount)
        self.record(ev.OrderTipped(**self._base(), amount=amount))

    # --- disputes ------------------------------------------------------------------------

    def open_dispute(self, actor_id: int, reason: str, at: datetime,
                     policy: BookingPolicy) -> Dispute:
        self._guard("dispute")
        opener = self._party(actor_id)
        reason = reason.strip()
        if not reason:
            raise DomainError("error.order.reason_required")
        if self.state is S.COMPLETED:
            if self.settled_at is not None or (
                self.completed_at is not None and at > self.completed_at + policy.dispute_window
            ):
                raise DomainError("error.dispute.window_closed", number=self.number)
        self.dispute = Dispute(
            opened_by=actor_id, opener=opener, reason=reason, opened_at=at,
            from_state=self.state, respond_by=at + policy.dispute_response_window,
        )
        self._clear_timers("auto_complete_at", "settle_at")
        self.dispute_respond_by = self.dispute.respond_by
        self._move("dispute", S.DISPUTED, actor_id, at, reason)
        return self.dispute

    def record_dispute_opened(self) -> None:
        """Called once storage gave the dispute its id."""
        assert self.dispute is not None
        self.record(ev.DisputeOpened(**self._base(), dispute_id=self.dispute.id,
                                     opened_by=self.dispute.opened_by,
                                     reason=self.dispute.reason,
                                     respond_by=self.dispute.respond_by))

    def respond_dispute(self, actor_id: int, response: str, at: datetime) -> None:
        self._guard("respond")
        self._party(actor_id)
        dispute = self.dispute
        assert dispute is not None
        if actor_id == dispute.opened_by:
            raise DomainError("error.dispute.not_other_side")
        if dispute.response is not None:
            raise DomainError("error.dispute.already_answered")
        response = response.strip()
        if not response:
            raise DomainError("error.order.reason_required")
        dispute.response, dispute.responded_by, dispute.responded_at = response, actor_id, at
        # Both sides have spoken: an operator decides, no default outcome any more.
        self.dispute_respond_by = None
        self._move("respond", self.state, actor_id, at, response)
        self.record(ev.DisputeAnswered(**self._base(), dispute_id=dispute.id,
                                       answered_by=actor_id, response=response))

    def resolve_dispute(self, outcome: DisputeOutcome, refund: Money, at: datetime,
                        actor_id: int | None, note: str | None, *, by_default: bool) -> None:
        self._guard("resolve")
        dispute = self.dispute
        assert dispute is not None
        dispute.outcome, dispute.refund = outcome, refund
        dispute.resolved_by, dispute.resolved_at = actor_id, at
        dispute.by_default, dispute.note = by_default, note
        self.settled_at = at
        self._close(S.RESOLVED, "resolve", actor_id, at, note or outcome.value, refund=refund,
                    outcome=outcome.value, by_default=by_default)
        self.record(ev.DisputeResolved(**self._base(), dispute_id=dispute.id,
                                       outcome=outcome.value, refund=refund,
                                       by_default=by_default))
