"""Every verb of the Order aggregate in every state: allowed where the table says, refused
(with nothing changed) everywhere else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from core.booking.model import Dispatch, Dispute, Order, Party, PriceBreakdown
from core.booking.policy import BookingPolicy, DisputeOutcome
from core.booking.states import ALLOWED, VERBS, OrderState
from core.shared.errors import DomainError
from core.shared.money import Money

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
START = NOW + timedelta(days=3)
POLICY = BookingPolicy(accept_window=timedelta(minutes=10))
CNY = Money(5000, "CNY")
ZERO = Money(0, "CNY")
CUSTOMER, PROVIDER = 1, 2


def order_in(state: OrderState, **changes: object) -> Order:
    order = Order(
        id=42, number="YB0001A", customer_id=CUSTOMER, provider_id=PROVIDER, offer_id=7,
        category_id=1, kind="online_session", pricing_unit="hour", dispatch=Dispatch.DIRECT,
        instant=False, price=PriceBreakdown(CNY, 2, ZERO, ZERO, CNY * 2), state=state,
        scheduled_start=START, scheduled_end=START + timedelta(hours=2), created_at=NOW,
        completed_at=NOW, proposed_start=START + timedelta(days=1), proposed_by=CUSTOMER,
        remind_24h_at=START - timedelta(hours=24),
        dispute=Dispute(opened_by=CUSTOMER, opener=Party.CUSTOMER, reason="late",
                        opened_at=NOW, from_state=OrderState.DELIVERED,
                        respond_by=NOW + timedelta(hours=48)),
    )
    for name, value in changes.items():
        setattr(order, name, value)
    return order


def _open(order: Order) -> Order:
    order.dispatch = Dispatch.OPEN
    return order


VerbCall = Callable[[Order], object]

CALLS: dict[str, tuple[Callable[[Order], Order], VerbCall]] = {
    "submit": (lambda o: o, lambda o: o.submit(NOW, POLICY)),
    "pay": (lambda o: o, lambda o: o.pay(CUSTOMER, CNY * 2, NOW, POLICY)),
    "accept": (lambda o: o, lambda o: o.accept(PROVIDER, NOW, commission_bps=2000,
                                               venue_id=None, venue_share_bps=0, policy=POLICY)),
    "reject": (lambda o: o, lambda o: o.reject(PROVIDER, "fully booked", NOW, None, ())),
    "expire": (lambda o: o, lambda o: o.expire(NOW, None, ())),
    "cancel": (lambda o: o, lambda o: o.cancel(CUSTOMER, Party.CUSTOMER, "plans changed", NOW,
                                               None, None)),
    "operator_cancel": (lambda o: o, lambda o: o.cancel(None, Party.OPERATOR, "safety", NOW,
                                                        None, None)),
    "propose_reschedule": (lambda o: o, lambda o: o.propose_reschedule(
        PROVIDER, START + timedelta(days=2), NOW, POLICY)),
    "answer_reschedule": (lambda o: o, lambda o: o.answer_reschedule(PROVIDER, True, NOW, POLICY)),
    "reassign": (lambda o: o, lambda o: o.reassign(3, NOW, None, POLICY, "sick")),
    "raise_price": (_open, lambda o: o.raise_price(CUSTOMER, Money(6000, "CNY"), ZERO, NOW, ())),
    "dispatch_wave": (_open, lambda o: o.dispatch_wave(1, (5, 6), NOW, None)),
    "start": (lambda o: o, lambda o: o.start(PROVIDER, START, POLICY, None)),
    "extend": (lambda o: o, lambda o: o.extend(CUSTOMER, 1, NOW, timedelta(hours=1))),
    "finish": (lambda o: o, lambda o: o.finish(PROVIDER, NOW, POLICY, None, None)),
    "no_show": (lambda o: o, lambda o: o.mark_no_show(CUSTOMER, START + timedelta(hours=1),
                                                      POLICY, None, None)),
    "confirm": (lambda o: o, lambda o: o.complete(CUSTOMER, NOW, POLICY)),
    "auto_complete": (lambda o: o, lambda o: o.complete(None, NOW, POLICY, auto=True)),
    "dispute": (lambda o: o, lambda o: o.open_dispute(CUSTOMER, "never came", NOW, POLICY)),
    "respond": (lambda o: o, lambda o: o.respond_dispute(PROVIDER, "I was there", NOW)),
    "resolve": (lambda o: o, lambda o: o.resolve_dispute(DisputeOutcome.RELEASE, ZERO, NOW, None,
                                                         None, by_default=False)),
    "settle": (lambda o: o, lambda o: o.settle(NOW, CNY, ZERO, ZERO)),
    "tip": (lambda o: o, lambda o: o.tip(CUSTOMER, Money(500, "CNY"), NOW)),
    "remind": (lambda o: o, lambda o: o.remind("remind_24h_at", NOW)),
}


def test_every_verb_has_a_call_in_this_test() -> None:
    assert set(CALLS) == set(VERBS)


@pytest.mark.parametrize("verb", sorted(VERBS))
@pytest.mark.parametrize("state", list(OrderState), ids=lambda s: s.value)
def test_a_verb_works_exactly_in_the_states_the_table_allows(state: OrderState, verb: str) -> None:
    prepare, call = CALLS[verb]
    order = prepare(order_in(state))
    if state in VERBS[verb]:
        call(order)
        assert order.state is state or order.state in ALLOWED[state]
        assert order.trail or order.events, "an allowed verb leaves a trace"
        if order.trail:
            step = order.trail[-1]
            assert (step.verb, step.from_state, step.to_state) == (
                step.verb, state, order.state)
    else:
        before = (order.state, order.version, order.provider_id, order.price)
        with pytest.raises(DomainError):
            call(order)
        assert (order.state, order.version, order.provider_id, order.price) == before
        assert order.events == [] and order.trail == []


def test_state_changes_follow_the_allowed_table_only() -> None:
    for state, targets in ALLOWED.items():
        assert state not in targets or state is OrderState.PENDING_ACCEPTANCE
    terminal = [s for s, t in ALLOWED.items() if not t]
    assert set(terminal) == {OrderState.REJECTED, OrderState.EXPIRED, OrderState.CANCELLED,
                             OrderState.RESOLVED}


def test_a_stale_accept_says_the_order_was_taken_or_already_yours() -> None:
    taken = order_in(OrderState.ACCEPTED)
    with pytest.raises(DomainError) as other:
        taken.accept(9, NOW, commission_bps=0, venue_id=None, venue_share_bps=0, policy=POLICY)
    assert other.value.key == "error.order.taken"
    with pytest.raises(DomainError) as mine:
        taken.accept(PROVIDER, NOW, commission_bps=0, venue_id=None, venue_share_bps=0,
                     policy=POLICY)
    assert mine.value.key == "error.order.already_accepted"
    with pytest.raises(DomainError) as expired:
        order_in(OrderState.EXPIRED).accept(PROVIDER, NOW, commission_bps=0, venue_id=None,
                                            venue_share_bps=0, policy=POLICY)
    assert expired.value.key == "error.order.expired"


def test_only_the_named_provider_accepts_a_direct_order() -> None:
    order = order_in(OrderState.PENDING_ACCEPTANCE)
    with pytest.raises(DomainError) as caught:
        order.accept(9, NOW, commission_bps=0, venue_id=None, venue_share_bps=0, policy=POLICY)
    assert caught.value.key == "error.order.not_yours"


def test_an_instant_order_is_in_service_from_acceptance() -> None:
    order = order_in(OrderState.PENDING_ACCEPTANCE, instant=True, scheduled_start=None,
                     scheduled_end=None)
    order.accept(PROVIDER, NOW, commission_bps=2000, venue_id=None, venue_share_bps=0,
                 duration=timedelta(hours=2), policy=POLICY)
    assert order.state is OrderState.IN_SERVICE
    assert (order.started_at, order.scheduled_end) == (NOW, NOW + timedelta(hours=2))


def test_accepting_a_scheduled_order_sets_both_reminders() -> None:
    order = order_in(OrderState.PENDING_ACCEPTANCE, remind_24h_at=None)
    order.accept(PROVIDER, NOW, commission_bps=2000, venue_id=None, venue_share_bps=0,
                 policy=POLICY)
    assert order.remind_24h_at == START - timedelta(hours=24)
    assert order.remind_1h_at == START - timedelta(hours=1)
    assert order.due_at == order.remind_24h_at


def test_rejecting_needs_a_reason() -> None:
    order = order_in(OrderState.PENDING_ACCEPTANCE)
    with pytest.raises(DomainError) as caught:
        order.reject(PROVIDER, "   ", NOW, None, ())
    assert caught.value.key == "error.order.reason_required"
    assert order.state is OrderState.PENDING_ACCEPTANCE


def test_reschedules_need_the_other_side_and_stop_at_the_maximum() -> None:
    order = order_in(OrderState.ACCEPTED, proposed_start=None, proposed_by=None)
    for n in range(POLICY.max_reschedules):
        order.propose_reschedule(CUSTOMER, START + timedelta(days=n + 1), NOW, POLICY)
        with pytest.raises(DomainError) as own:
            order.answer_reschedule(CUSTOMER, True, NOW, POLICY)
        assert own.value.key == "error.reschedule.needs_other_side"
        assert order.answer_reschedule(PROVIDER, True, NOW, POLICY) is not None
    assert order.reschedule_count == POLICY.max_reschedules
    assert order.scheduled_end - order.scheduled_start == timedelta(hours=2)
    with pytest.raises(DomainError) as limit:
        order.propose_reschedule(CUSTOMER, START + timedelta(days=9), NOW, POLICY)
    assert limit.value.key == "error.reschedule.limit"


def test_a_declined_reschedule_keeps_the_time() -> None:
    order = order_in(OrderState.ACCEPTED)
    assert order.answer_reschedule(PROVIDER, False, NOW, POLICY) is None
    assert order.scheduled_start == START and order.reschedule_count == 0


def test_errands_finish_only_with_the_customers_delivery_code() -> None:
    order = order_in(OrderState.IN_SERVICE, kind="errand", delivery_code="123456")
    with pytest.raises(DomainError) as missing:
        order.finish(PROVIDER, NOW, POLICY, None, None)
    assert missing.value.key == "error.order.delivery_code_required"
    with pytest.raises(DomainError) as wrong:
        order.finish(PROVIDER, NOW, POLICY, None, "654321")
    assert wrong.value.key == "error.order.delivery_code_wrong"
    order.finish(PROVIDER, NOW, POLICY, "photo:abc", " 123456 ")
    assert order.state is OrderState.DELIVERED
    assert order.auto_complete_at == NOW + POLICY.auto_complete_after


def test_on_site_work_starts_with_a_check_in() -> None:
    order = order_in(OrderState.ACCEPTED, kind="on_site")
    with pytest.raises(DomainError) as caught:
        order.start(PROVIDER, START, POLICY, None)
    assert caught.value.key == "error.order.checkin_required"
    with pytest.raises(DomainError) as early:
        order.start(PROVIDER, START - timedelta(hours=2), POLICY, "photo:door")
    assert early.value.key == "error.order.too_early_to_start"


def test_no_show_only_after_the_grace_period() -> None:
    order = order_in(OrderState.ACCEPTED)
    with pytest.raises(DomainError) as caught:
        order.mark_no_show(CUSTOMER, START + timedelta(minutes=5), POLICY, None, None)
    assert caught.value.key == "error.order.no_show_too_early"
    assert order.mark_no_show(PROVIDER, START + timedelta(minutes=20), POLICY, None, None) \
        is Party.CUSTOMER
    assert order.close_reason == "customer_no_show"


def test_a_completed_order_can_be_disputed_only_within_the_window() -> None:
    order = order_in(OrderState.COMPLETED, completed_at=NOW - POLICY.dispute_window
                     - timedelta(minutes=1))
    with pytest.raises(DomainError) as caught:
        order.open_dispute(CUSTOMER, "broken", NOW, POLICY)
    assert caught.value.key == "error.dispute.window_closed"
    fresh = order_in(OrderState.COMPLETED, settle_at=NOW + timedelta(hours=1))
    fresh.open_dispute(PROVIDER, "customer took the item", NOW, POLICY)
    assert fresh.state is OrderState.DISPUTED and fresh.settle_at is None
    assert fresh.dispute_respond_by == NOW + POLICY.dispute_response_window


def test_the_side_that_opened_a_dispute_cannot_answer_it() -> None:
    order = order_in(OrderState.DISPUTED)
    with pytest.raises(DomainError) as caught:
        order.respond_dispute(CUSTOMER, "me again", NOW)
    assert caught.value.key == "error.dispute.not_other_side"


def test_strangers_cannot_use_a_partys_verbs() -> None:
    order = order_in(OrderState.ACCEPTED)
    for call in (lambda: order.cancel(99, Party.CUSTOMER, "x", NOW, None, None),
                 lambda: order.extend(99, 1, NOW, timedelta(hours=1)),
                 lambda: order.start(99, START, POLICY, None),
                 lambda: order.propose_reschedule(99, START + timedelta(days=1), NOW, POLICY)):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.key == "error.order.not_yours"
    assert order.state is OrderState.ACCEPTED and order.trail == []


def test_extension_adds_units_money_and_time() -> None:
    order = order_in(OrderState.IN_SERVICE)
    extra = order.extend(CUSTOMER, 2, NOW, timedelta(hours=2))
    assert extra == Money(10000, "CNY")
    assert order.price.units == 4 and order.price.total == Money(20000, "CNY")
    assert order.scheduled_end == START + timedelta(hours=4)
    with pytest.raises(DomainError):
        order.extend(CUSTOMER, 0, NOW, timedelta(0))


def test_due_at_is_the_earliest_timer() -> None:
    order = order_in(OrderState.ACCEPTED, remind_24h_at=None)
    assert order.due_at is None
    order.remind_1h_at = START - timedelta(hours=1)
    order.accept_deadline = NOW + timedelta(minutes=5)
    assert order.due_at == NOW + timedelta(minutes=5)
