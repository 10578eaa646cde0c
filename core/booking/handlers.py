"""Command handlers of the booking area: unpack, check with the other areas, call the Order
verb, move the money through the wallet, save with an audit row per transition.

Order of work in every handler: read, compute amounts with the policy, call the aggregate's
verb (which guards and refuses before anything is written), then ask the wallet to move
money, then save. A refusal anywhere rolls the whole transaction back.

Dependencies by parameter name: `clock`, `directory` (identity and catalog, see ports),
`payments` (the wallet), `strike_rules`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.booking import commands as c
from core.booking import events as ev
from core.booking.model import Dispatch, Order, Party, Place, PriceBreakdown
from core.booking.policy import (
    BookingPolicy,
    DisputeOutcome,
    IdleDisputeRule,
    StrikeRules,
    commission_bps,
    default_policy,
    deposit_of,
    dispute_refund,
    duration_of,
    parse_overrides,
)
from core.booking.ports import (
    CategoryCard,
    Directory,
    MatchRequest,
    OrderFilter,
    Payments,
)
from core.booking.slots import cells_for
from core.booking.states import OrderState
from core.messagebus import Handler
from core.shared.audit import AuditEntry
from core.shared.clock import Clock
from core.shared.errors import DomainError, Forbidden
from core.shared.messages import Command, Event
from core.shared.money import BASIS_POINTS, Money

log = logging.getLogger(__name__)

S = OrderState
MAX_UNITS = 100
SIMILAR_PROVIDERS = 3
# Busy intervals are read this far around a requested slot (buffers are shorter than this).
BUSY_MARGIN = timedelta(days=1)


# --- helpers -------------------------------------------------------------------------------


async def _policy_for(uow: Any, directory: Directory, category_id: int) -> tuple[BookingPolicy, CategoryCard]:
    category = await directory.category(uow, category_id)
    overrides = await uow.booking_policies.overrides(category_id)
    return default_policy(category.kind).with_overrides(overrides), category


async def _save(uow: Any, order: Order) -> None:
    """Write one audit row per transition the verbs recorded, then the order itself."""
    for step in order.trail:
        await uow.audit.add(AuditEntry(
            entity="order", entity_id=str(order.id), action=step.verb, actor_id=step.actor_id,
            at=step.at, from_state=step.from_state.value, to_state=step.to_state.value,
            reason=step.reason, data=step.data,
        ))
    order.trail.clear()
    await uow.orders.save(order)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise DomainError("error.booking.time_without_zone")
    return instant.astimezone(UTC)


def _check_units(units: int, minimum: int) -> None:
    if units < max(1, minimum):
        raise DomainError("error.booking.too_few_units", minimum=max(1, minimum))
    if units > MAX_UNITS:
        raise DomainError("error.order.invalid_units", units=units)


async def _actor(uow: Any, directory: Directory, actor_id: int | None, now: datetime) -> int:
    if actor_id is None:
        raise Forbidden("error.order.actor_required")
    await directory.acting_user(uow, actor_id, now)
    return actor_id


async def _operator(uow: Any, directory: Directory, actor_id: int | None, now: datetime) -> None:
    """The admin CLI acts without a user (it runs with server access); a user must be one."""
    if actor_id is None:
        return
    person = await directory.acting_user(uow, actor_id, now)
    if not person.is_operator:
        raise Forbidden("error.order.operators_only")


async def _strike(uow: Any, directory: Directory, rules: StrikeRules, user_id: int,
                  reason: str, now: datetime, *, provider: bool) -> None:
    count = await directory.record_strike(uow, user_id, reason, now)
    if provider and count >= rules.provider_suspend_at:
        await directory.suspend_provider(uow, user_id, f"strikes:{reason}", now)
        uow.emit(ev.ProviderAutoSuspended(provider_id=user_id, strikes=count, reason=reason))
    elif not provider and count >= rules.customer_ban_at:
        await directory.ban_user(uow, user_id, f"strikes:{reason}", now)


async def refresh_provider_stats(event: Event, uow: Any, directory: Directory) -> None:
    """After an order the provider took, missed, dropped or finished: their completion rate
    and response time (read by search ranking). Runs after the order's own commit, so it
    never lengthens the race for an order."""
    provider_id = getattr(event, "provider_id", None)
    if provider_id is None:
        return
    record = await uow.orders.provider_record(provider_id)
    finished = record.completed + record.failed
    rate = record.completed / finished if finished else 1.0
    await directory.set_service_stats(uow, provider_id, rate, record.mean_response_s)


async def _release(uow: Any, payments: Payments, order: Order, refund: Money, now: datetime,
                   held: Money | None) -> None:
    """Give `refund` back; the rest of the hold goes to the provider side (fee)."""
    if held is None or not held.is_positive():
        return
    await payments.release(
        uow, order_id=order.id, refund=refund,
        provider_id=order.provider_id if refund != held else None,
        commission_bps=order.commission_bps or 0, venue_id=order.venue_id,
        venue_share_bps=order.venue_share_bps, refund_to="original", at=now,
    )


async def _similar(uow: Any, directory: Directory, order: Order) -> tuple[int, ...]:
    """Other providers the customer could book instead (for rejected/expired orders)."""
    request = MatchRequest(order.category_id, frozenset(order.tags), order.tier_min,
                           order.place, order.scheduled_start)
    candidates = [p for p in await directory.qualified(uow, request)
                  if p not in (order.provider_id, order.customer_id)]
    blocked = await directory.blocked_among(uow, order.customer_id, candidates[:20])
    return tuple(p for p in candidates if p not in blocked)[:SIMILAR_PROVIDERS]


def _distance_m(a: Place, b: Place) -> float:
    """Great-circle distance (haversine), good to a few metres at city scale."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _payment_ref(order: Order, ref: str | None) -> str | None:
    # Later holds on the same order need a distinct reference (wallet rule); a deterministic
    # one keeps a retried command idempotent.
    if ref is not None or order.payments <= 1:
        return ref
    return f"{order.number}:hold:{order.payments}"


# --- placing orders ------------------------------------------------------------------------


async def book_order(cmd: c.BookOrder, uow: Any, clock: Clock, directory: Directory) -> Order:
    now = clock.now()
    customer_id = await _actor(uow, directory, cmd.actor_id, now)
    offer = await directory.offer(uow, cmd.offer_id)
    if not offer.active:
        raise DomainError("error.booking.offer_inactive", offer_id=offer.id)
    if offer.provider_id == customer_id:
        raise DomainError("error.booking.self_booking")
    provider = await directory.bookable_provider(uow, offer.provider_id)
    if await directory.is_blocked(uow, customer_id, provider.id):
        raise DomainError("error.booking.blocked")
    policy, category = await _policy_for(uow, directory, offer.category_id)
    if not category.active:
        raise DomainError("error.booking.category_inactive", category_id=category.id)
    _check_units(cmd.units, max(offer.min_units, category.min_units))
    duration = duration_of(category.pricing_unit, cmd.units)
    start = end = None
    if cmd.start is None:
        if provider.presence != "online":
            raise DomainError("error.booking.provider_not_online")
    else:
        start = _utc(cmd.start)
        end = start + duration
        busy = await uow.orders.busy_intervals(provider.id, start - BUSY_MARGIN, end + BUSY_MARGIN)
        await _check_slot(uow, directory, provider.id, start, end, now, busy)
    _check_place(category.kind, cmd.address, cmd.place)
    zero = Money.zero(offer.unit_price.currency)
    total = offer.unit_price * cmd.units
    order = Order(
        customer_id=customer_id, provider_id=provider.id, offer_id=offer.id,
        category_id=category.id, kind=str(category.kind), pricing_unit=str(category.pricing_unit),
        dispatch=Dispatch.DIRECT, instant=start is None,
        price=PriceBreakdown(offer.unit_price, cmd.units, zero, zero, deposit_of(total, policy)),
        scheduled_start=start, scheduled_end=end, address=cmd.address, place=cmd.place,
        notes=cmd.notes.strip(), created_at=now,
    )
    await uow.orders.add(order)
    order.submit(now, policy)
    await _save(uow, order)  # the order's row is written here, whole, in one statement
    if start is not None and end is not None:
        await uow.slots.reserve(provider.id, order.id, cells_for(start, end))
    return order


def _check_place(kind: str, address: str | None, place: Place | None) -> None:
    if str(kind) in ("on_site", "errand") and not (address and address.strip()) and place is None:
        raise DomainError("error.booking.address_required")


async def publish_open_order(cmd: c.PublishOpenOrder, uow: Any, clock: Clock,
                             directory: Directory) -> Order:
    now = clock.now()
    customer_id = await _actor(uow, directory, cmd.actor_id, now)
    policy, category = await _policy_for(uow, directory, cmd.category_id)
    if not category.active:
        raise DomainError("error.booking.category_inactive", category_id=category.id)
    _check_units(cmd.units, category.min_units)
    if not cmd.unit_price.is_positive():
        raise DomainError("error.booking.budget_required")
    if not 1 <= cmd.tier_min <= 5:
        raise DomainError("error.booking.invalid_tier", tier=cmd.tier_min)
    start = end = None
    if cmd.start is not None:
        start = _utc(cmd.start)
        if start <= now:
            raise DomainError("error.booking.in_the_past")
        end = start + duration_of(category.pricing_unit, cmd.units)
    _check_place(category.kind, cmd.address, cmd.place)
    zero = Money.zero(cmd.unit_price.currency)
    total = cmd.unit_price * cmd.units
    order = Order(
        customer_id=customer_id, provider_id=None, offer_id=None, category_id=category.id,
        kind=str(category.kind), pricing_unit=str(category.pricing_unit),
        dispatch=Dispatch.OPEN, instant=start is None,
        price=PriceBreakdown(cmd.unit_price, cmd.units, zero, zero, deposit_of(total, policy)),
        scheduled_start=start, scheduled_end=end, address=cmd.address, place=cmd.place,
        notes=cmd.notes.strip(), tags=tuple(sorted(cmd.tags)), tier_min=cmd.tier_min,
        created_at=now,
    )
    await uow.orders.add(order)
    order.submit(now, policy)
    await _save(uow, order)
    return order


async def pay_order(cmd: c.PayOrder, uow: Any, clock: Clock, directory: Directory,
                    payments: Payments) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    if (order.state is S.AWAITING_PAYMENT and order.payment_deadline is not None
            and now >= order.payment_deadline):
        raise DomainError("error.order.payment_window_closed", number=order.number)
    policy, _ = await _policy_for(uow, directory, order.category_id)
    amount = order.price.deposit
    order.pay(actor, amount, now, policy)
    await payments.pay(uow, order_id=order.id, customer_id=order.customer_id, amount=amount,
                       method=cmd.method, payment_ref=cmd.payment_ref, at=now)
    if order.dispatch is Dispatch.OPEN:
        await _dispatch_wave(uow, directory, order, now, policy)
    await _save(uow, order)
    return order


async def _dispatch_wave(uow: Any, directory: Directory, order: Order, now: datetime,
                         policy: BookingPolicy) -> None:
    """Offer the order to the next wave: favourites, then the top nearby, then everyone.

    A wave with nobody new in it is skipped at once, so the customer never waits for an
    empty wave.
    """
    request = MatchRequest(order.category_id, frozenset(order.tags), order.tier_min,
                           order.place, order.scheduled_start)
    qualified = [p for p in await directory.qualified(uow, request) if p != order.customer_id]
    already = set(await uow.dispatch.offered(order.id))
    blocked = await directory.blocked_among(uow, order.customer_id,
                                            [p for p in qualified if p not in already])
    eligible = [p for p in qualified if p not in already and p not in blocked]
    wave, chosen = order.wave, []
    while wave < 3 and not chosen:
        wave += 1
        if wave == 1:
            favourites = await directory.favourites(uow, order.customer_id)
            chosen = [p for p in eligible if p in favourites]
        elif wave == 2:
            chosen = eligible[: policy.top_wave_size]
        else:
            chosen = eligible
    new = await uow.dispatch.offer(order.id, chosen, wave, now) if chosen else ()
    order.dispatch_wave(wave, new, now, now + policy.wave_interval if wave < 3 else None)


# --- accepting -----------------------------------------------------------------------------


async def accept_order(cmd: c.AcceptOrder, uow: Any, clock: Clock, directory: Directory) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    # Racers for one open order queue on its row and then read the winner's state ("taken")
    # instead of all doing the work and losing at the versioned save; the version check
    # still guards the save.
    order = await uow.orders.get(cmd.order_id, for_update=True)
    order.ensure_acceptable(actor)
    if order.accept_deadline is not None and now >= order.accept_deadline:
        raise DomainError("error.order.expired", number=order.number)
    if order.dispatch is Dispatch.OPEN and not await uow.dispatch.was_offered(order.id, actor):
        raise Forbidden("error.order.not_offered", number=order.number)
    provider = await directory.bookable_provider(uow, actor)
    if await directory.is_blocked(uow, order.customer_id, actor):
        raise DomainError("error.booking.blocked")
    policy, category = await _policy_for(uow, directory, order.category_id)
    venue_share = 0
    if provider.venue_id is not None:
        venue_share = await directory.venue_share_bps(uow, provider.venue_id)
    others: tuple[int, ...] = ()
    if order.dispatch is Dispatch.OPEN:
        others = tuple(p for p in await uow.dispatch.offered(order.id) if p != actor)
        if order.scheduled_start is not None and order.scheduled_end is not None:
            # The winner's own calendar must be free: their slot cells are taken now.
            await uow.slots.reserve(actor, order.id,
                                    cells_for(order.scheduled_start, order.scheduled_end))
    order.accept(actor, now, commission_bps=commission_bps(category.commission_bps, provider.tier),
                 venue_id=provider.venue_id, venue_share_bps=venue_share,
                 duration=duration_of(category.pricing_unit, order.price.units), policy=policy)
    if order.dispatch is Dispatch.OPEN:
        order.record(ev.OpenOrderTaken(
            order_id=order.id, order_number=order.number, customer_id=order.customer_id,
            provider_id=actor, other_provider_ids=others,
        ))
    await _save(uow, order)
    return order


async def reject_order(cmd: c.RejectOrder, uow: Any, clock: Clock, directory: Directory,
                       payments: Payments) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    held = await payments.held(uow, order.id)
    alternatives = await _similar(uow, directory, order)
    order.reject(actor, cmd.reason, now, held, alternatives)
    if held is not None:
        await _release(uow, payments, order, held, now, held)
    await uow.slots.release(order.id)
    await _save(uow, order)
    return order


# --- cancelling, rescheduling, reassigning -------------------------------------------------


async def cancel_order(cmd: c.CancelOrder, uow: Any, clock: Clock, directory: Directory,
                       payments: Payments, strike_rules: StrikeRules) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    party = order.party_of(actor)
    if party is None:
        raise Forbidden("error.order.not_yours", number=order.number)
    policy, _ = await _policy_for(uow, directory, order.category_id)
    held = await payments.held(uow, order.id)
    zero = Money.zero(order.price.currency)
    fee = zero
    if party is Party.CUSTOMER and order.state is S.ACCEPTED and held is not None:
        fee = policy.cancellation_fee(held, order.scheduled_start, now)
    refund = (held - fee) if held is not None else None
    others = await uow.dispatch.offered(order.id) if order.dispatch is Dispatch.OPEN else ()
    order.cancel(actor, party, cmd.reason.strip(), now, fee if held else None, refund, others)
    await _release(uow, payments, order, refund or zero, now, held)
    await uow.slots.release(order.id)
    await _save(uow, order)
    if party is Party.PROVIDER:
        await _strike(uow, directory, strike_rules, actor, "provider_cancel", now, provider=True)
    elif fee.is_positive():
        await _strike(uow, directory, strike_rules, actor, "late_cancel", now, provider=False)
    return order


async def operator_cancel_order(cmd: c.OperatorCancelOrder, uow: Any, clock: Clock,
                                directory: Directory, payments: Payments) -> Order:
    now = clock.now()
    await _operator(uow, directory, cmd.actor_id, now)
    if not 0 <= cmd.fee_bps <= BASIS_POINTS:
        raise DomainError("error.money.invalid_basis_points", basis_points=cmd.fee_bps)
    if not cmd.reason.strip():
        raise DomainError("error.order.reason_required")
    order = await uow.orders.get(cmd.order_id)
    held = await payments.held(uow, order.id)
    fee = held.share_bps(cmd.fee_bps) if held is not None else None
    if fee is not None and fee.is_positive() and order.provider_id is None:
        raise DomainError("error.order.fee_needs_provider", number=order.number)
    refund = (held - fee) if held is not None and fee is not None else None
    others = await uow.dispatch.offered(order.id) if order.dispatch is Dispatch.OPEN else ()
    order.cancel(cmd.actor_id, Party.OPERATOR, cmd.reason.strip(), now, fee, refund, others)
    if held is not None and refund is not None:
        await _release(uow, payments, order, refund, now, held)
    await uow.slots.release(order.id)
    await _save(uow, order)
    return order


async def reassign_order(cmd: c.ReassignOrder, uow: Any, clock: Clock,
                         directory: Directory) -> Order:
    now = clock.now()
    await _operator(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    await directory.bookable_provider(uow, cmd.provider_id)
    if await directory.is_blocked(uow, order.customer_id, cmd.provider_id):
        raise DomainError("error.booking.blocked")
    policy, _ = await _policy_for(uow, directory, order.category_id)
    order.reassign(cmd.provider_id, now, cmd.actor_id, policy, cmd.reason.strip() or "reassigned")
    await uow.slots.release(order.id)
    if order.scheduled_start is not None and order.scheduled_end is not None:
        await uow.slots.reserve(cmd.provider_id, order.id,
                                cells_for(order.scheduled_start, order.scheduled_end))
    await _save(uow, order)
    return order


async def propose_reschedule(cmd: c.ProposeReschedule, uow: Any, clock: Clock,
                             directory: Directory) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    policy, _ = await _policy_for(uow, directory, order.category_id)
    new_start = _utc(cmd.new_start)
    order.propose_reschedule(actor, new_start, now, policy)
    await _check_new_time(uow, directory, order, new_start, now)
    await _save(uow, order)
    return order


async def _check_slot(uow: Any, directory: Directory, provider_id: int, start: datetime,
                      end: datetime, now: datetime, busy: list[tuple[datetime, datetime]]) -> None:
    try:
        await directory.check_slot(uow, provider_id, start, end, now, busy)
    except DomainError as error:
        # Someone else's booking holds that time: to the customer, the slot is gone.
        if error.key == "error.availability.busy":
            raise DomainError("error.booking.slot_gone") from error
        raise


async def _check_new_time(uow: Any, directory: Directory, order: Order, start: datetime,
                          now: datetime) -> None:
    assert order.provider_id is not None and order.duration is not None
    end = start + order.duration
    busy = await uow.orders.busy_intervals(order.provider_id, start - BUSY_MARGIN,
                                           end + BUSY_MARGIN, exclude_order_id=order.id)
    await _check_slot(uow, directory, order.provider_id, start, end, now, busy)


async def answer_reschedule(cmd: c.AnswerReschedule, uow: Any, clock: Clock,
                            directory: Directory) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    policy, _ = await _policy_for(uow, directory, order.category_id)
    window = order.answer_reschedule(actor, cmd.agree, now, policy)
    if window is not None:
        await _check_new_time(uow, directory, order, window[0], now)
        await uow.slots.release(order.id)
        assert order.provider_id is not None
        await uow.slots.reserve(order.provider_id, order.id, cells_for(*window))
    await _save(uow, order)
    return order


async def raise_open_order_price(cmd: c.RaiseOpenOrderPrice, uow: Any, clock: Clock,
                                 directory: Directory, payments: Payments) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    currency = order.price.currency
    unit_price = cmd.unit_price or order.price.unit_price
    bonus = cmd.bonus or Money.zero(currency)
    offered = await uow.dispatch.offered(order.id)
    extra = order.raise_price(actor, unit_price, bonus, now, offered)
    await payments.pay(uow, order_id=order.id, customer_id=order.customer_id, amount=extra,
                       method=cmd.method, payment_ref=_payment_ref(order, cmd.payment_ref), at=now)
    await _save(uow, order)
    return order


# --- serving -------------------------------------------------------------------------------


async def start_order(cmd: c.StartOrder, uow: Any, clock: Clock, directory: Directory) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    policy, _ = await _policy_for(uow, directory, order.category_id)
    checkin = None
    if cmd.location is not None:
        if order.kind == "on_site" and order.place is not None:
            distance = _distance_m(cmd.location, order.place)
            if distance > policy.checkin_radius_m:
                raise DomainError("error.order.checkin_too_far", metres=int(distance),
                                  limit=policy.checkin_radius_m)
        checkin = f"location:{cmd.location.lat:.6f},{cmd.location.lon:.6f}"
    elif cmd.photo:
        checkin = f"photo:{cmd.photo}"
    order.start(actor, now, policy, checkin)
    await _save(uow, order)
    return order


async def extend_order(cmd: c.ExtendOrder, uow: Any, clock: Clock, directory: Directory,
                       payments: Payments) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    if cmd.extra_units > MAX_UNITS:
        raise DomainError("error.order.invalid_units", units=cmd.extra_units)
    old_end = order.scheduled_end
    extra_time = duration_of(order.pricing_unit, cmd.extra_units) if order.pricing_unit != "base_per_km" else timedelta(0)
    extra = order.extend(actor, cmd.extra_units, now, extra_time)
    if old_end is not None and order.scheduled_end is not None and order.scheduled_end > old_end:
        assert order.provider_id is not None
        mine = set(await uow.slots.of_order(order.id))
        cells = [cell for cell in cells_for(old_end, order.scheduled_end) if cell not in mine]
        if cells:
            await uow.slots.reserve(order.provider_id, order.id, cells)
    await payments.pay(uow, order_id=order.id, customer_id=order.customer_id, amount=extra,
                       method=cmd.method, payment_ref=_payment_ref(order, cmd.payment_ref), at=now)
    await _save(uow, order)
    return order


async def finish_order(cmd: c.FinishOrder, uow: Any, clock: Clock, directory: Directory) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    policy, _ = await _policy_for(uow, directory, order.category_id)
    order.finish(actor, now, policy, cmd.proof, cmd.delivery_code)
    await _save(uow, order)
    return order


async def confirm_order(cmd: c.ConfirmOrder, uow: Any, clock: Clock, directory: Directory) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    policy, _ = await _policy_for(uow, directory, order.category_id)
    order.complete(actor, now, policy)
    await _save(uow, order)
    return order


async def mark_no_show(cmd: c.MarkNoShow, uow: Any, clock: Clock, directory: Directory,
                       payments: Payments, strike_rules: StrikeRules) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    policy, _ = await _policy_for(uow, directory, order.category_id)
    held = await payments.held(uow, order.id)
    reporter = order.party_of(actor)
    fee = refund = None
    if held is not None:
        fee = (held.share_bps(policy.customer_no_show_fee_bps) if reporter is Party.PROVIDER
               else Money.zero(held.currency))
        refund = held - fee
    absent = order.mark_no_show(actor, now, policy, fee, refund)
    if held is not None and refund is not None:
        await _release(uow, payments, order, refund, now, held)
    await uow.slots.release(order.id)
    await _save(uow, order)
    absent_id = order.provider_id if absent is Party.PROVIDER else order.customer_id
    assert absent_id is not None
    await _strike(uow, directory, strike_rules, absent_id, f"{absent.value}_no_show", now,
                  provider=absent is Party.PROVIDER)
    return order


async def tip_order(cmd: c.TipOrder, uow: Any, clock: Clock, directory: Directory,
                    payments: Payments) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    order.tip(actor, cmd.amount, now)
    assert order.provider_id is not None
    await payments.tip(uow, order_id=order.id, customer_id=order.customer_id,
                       provider_id=order.provider_id, amount=cmd.amount, method=cmd.method,
                       payment_ref=cmd.payment_ref, at=now)
    await _save(uow, order)
    return order


# --- disputes ------------------------------------------------------------------------------


async def open_dispute(cmd: c.OpenDispute, uow: Any, clock: Clock, directory: Directory) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    policy, _ = await _policy_for(uow, directory, order.category_id)
    order.open_dispute(actor, cmd.reason, now, policy)
    await _save(uow, order)  # gives the dispute its id
    order.record_dispute_opened()
    return order


async def respond_to_dispute(cmd: c.RespondToDispute, uow: Any, clock: Clock,
                             directory: Directory) -> Order:
    now = clock.now()
    actor = await _actor(uow, directory, cmd.actor_id, now)
    order = await uow.orders.get(cmd.order_id)
    order.respond_dispute(actor, cmd.response, now)
    await _save(uow, order)
    return order


async def resolve_dispute(cmd: c.ResolveDispute, uow: Any, clock: Clock, directory: Directory,
                          payments: Payments) -> Order:
    now = clock.now()
    await _operator(uow, directory, cmd.actor_id, now)
    try:
        outcome = DisputeOutcome(cmd.outcome)
    except ValueError as exc:
        raise DomainError("error.dispute.unknown_outcome", outcome=cmd.outcome) from exc
    order = await uow.orders.get(cmd.order_id)
    if order.state is not S.DISPUTED:
        order.ensure_verb("resolve")
    await _resolve(uow, payments, order, outcome, now, cmd.actor_id, cmd.note,
                   refund_bps=cmd.refund_bps, refund_amount=cmd.refund_amount, by_default=False)
    await _save(uow, order)
    return order


async def _resolve(uow: Any, payments: Payments, order: Order, outcome: DisputeOutcome,
                   now: datetime, actor_id: int | None, note: str | None, *,
                   refund_bps: int | None = None, refund_amount: Money | None = None,
                   by_default: bool) -> None:
    held = await payments.held(uow, order.id) or Money.zero(order.price.currency)
    refund = dispute_refund(held, outcome, refund_bps=refund_bps, refund_amount=refund_amount)
    order.resolve_dispute(outcome, refund, now, actor_id, note, by_default=by_default)
    if not held.is_positive():
        return
    if refund.is_positive():
        await _release(uow, payments, order, refund, now, held)
    else:
        assert order.provider_id is not None
        await payments.capture(uow, order_id=order.id, provider_id=order.provider_id,
                               commission_bps=order.commission_bps or 0, venue_id=order.venue_id,
                               venue_share_bps=order.venue_share_bps, at=now)


# --- policies ------------------------------------------------------------------------------


async def set_category_policy(cmd: c.SetCategoryPolicy, uow: Any, clock: Clock,
                              directory: Directory) -> BookingPolicy:
    now = clock.now()
    await _operator(uow, directory, cmd.actor_id, now)
    category = await directory.category(uow, cmd.category_id)
    overrides = dict(cmd.overrides)
    parse_overrides(overrides)  # refuse bad input before anything is stored
    await uow.booking_policies.set_overrides(category.id, overrides, now)
    await uow.audit.add(AuditEntry(entity="booking_policy", entity_id=str(category.id),
                                   action="set", actor_id=cmd.actor_id, at=now,
                                   data={"overrides": overrides}))
    return default_policy(category.kind).with_overrides(overrides)


async def get_category_policy(cmd: c.GetCategoryPolicy, uow: Any,
                              directory: Directory) -> BookingPolicy:
    policy, _ = await _policy_for(uow, directory, cmd.category_id)
    return policy


# --- timers --------------------------------------------------------------------------------


async def fire_order_timers(cmd: c.FireOrderTimers, uow: Any, directory: Directory,
                            payments: Payments, strike_rules: StrikeRules) -> list[str]:
    """Apply each due timer of one order exactly once; returns the timers fired.

    The order row is locked (skipped if another sweeper holds it) and every fired timer is
    cleared in the same transaction as its effect, so a second sweeper, or a re-run after a
    crash, finds nothing left to do.
    """
    now = cmd.now
    order = await uow.orders.lock_due(cmd.order_id, now)
    if order is None:
        return []
    policy, _ = await _policy_for(uow, directory, order.category_id)
    fired: list[str] = []

    def due(name: str) -> bool:
        when = getattr(order, name)
        return when is not None and when <= now

    if due("payment_deadline") and order.state is S.AWAITING_PAYMENT:
        order.expire(now, None, ())
        await uow.slots.release(order.id)
        fired.append("payment_deadline")
    elif due("accept_deadline") and order.state is S.PENDING_ACCEPTANCE:
        held = await payments.held(uow, order.id)
        alternatives = await _similar(uow, directory, order)
        others = await uow.dispatch.offered(order.id) if order.dispatch is Dispatch.OPEN else ()
        missed_by = order.provider_id if order.dispatch is Dispatch.DIRECT else None
        order.expire(now, held, alternatives, others)
        await _release(uow, payments, order, held or Money.zero(order.price.currency), now, held)
        await uow.slots.release(order.id)
        fired.append("accept_deadline")
        if missed_by is not None:
            await _strike(uow, directory, strike_rules, missed_by, "accept_expired", now,
                          provider=True)
    else:
        if due("next_wave_at") and order.state is S.PENDING_ACCEPTANCE:
            await _dispatch_wave(uow, directory, order, now, policy)
            fired.append("next_wave_at")
        for timer in ("remind_24h_at", "remind_1h_at"):
            if due(timer) and order.state in (S.PENDING_ACCEPTANCE, S.ACCEPTED):
                order.remind(timer, now)
                fired.append(timer)
        if due("auto_complete_at") and order.state is S.DELIVERED:
            order.complete(None, now, policy, auto=True)
            fired.append("auto_complete_at")
        if (due("dispute_respond_by") and order.state is S.DISPUTED and order.dispute
                and order.dispute.response is None):
            await _resolve(uow, payments, order, _idle_outcome(order, policy), now, None,
                           "idle", by_default=True)
            fired.append("dispute_respond_by")
        if due("settle_at") and order.state is S.COMPLETED and order.settled_at is None:
            await _settle(uow, payments, order, now)
            fired.append("settle_at")
    # A timer that no longer fits the state is dropped, so it cannot come due forever.
    for name in Order.TIMERS:
        if due(name):
            setattr(order, name, None)
    await _save(uow, order)
    return fired


def _idle_outcome(order: Order, policy: BookingPolicy) -> DisputeOutcome:
    rule = policy.idle_dispute_outcome
    if rule is IdleDisputeRule.RELEASE:
        return DisputeOutcome.RELEASE
    if rule is IdleDisputeRule.REFUND:
        return DisputeOutcome.REFUND
    assert order.dispute is not None
    return DisputeOutcome.REFUND if order.dispute.opener is Party.CUSTOMER else DisputeOutcome.RELEASE


async def _settle(uow: Any, payments: Payments, order: Order, now: datetime) -> None:
    assert order.provider_id is not None
    held = await payments.held(uow, order.id)
    zero = Money.zero(order.price.currency)
    if held is None or not held.is_positive():
        order.settle(now, zero, zero, zero)
        return
    split = await payments.capture(uow, order_id=order.id, provider_id=order.provider_id,
                                   commission_bps=order.commission_bps or 0,
                                   venue_id=order.venue_id,
                                   venue_share_bps=order.venue_share_bps, at=now)
    order.settle(now, split.provider, split.platform, split.venue)


# --- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderDetails:
    order: Order
    history: list[AuditEntry]


async def due_orders(cmd: c.DueOrders, uow: Any) -> list[int]:
    return list(await uow.orders.due_ids(cmd.now, cmd.limit))


async def _reader(uow: Any, directory: Directory, actor_id: int | None, parties: tuple[
        int | None, ...], clock: Clock, number: str) -> None:
    """Who asks (when the edge says) must be one of the parties or an operator."""
    if actor_id is None or actor_id in parties:
        return
    if not (await directory.acting_user(uow, actor_id, clock.now())).is_operator:
        raise Forbidden("error.order.not_yours", number=number)


async def get_order(cmd: c.GetOrder, uow: Any, clock: Clock, directory: Directory) -> OrderDetails:
    if cmd.order_id is not None:
        order = await uow.orders.get(cmd.order_id)
    elif cmd.number:
        order = await uow.orders.get_by_number(cmd.number.strip().upper())
    else:
        raise DomainError("error.order.not_found", order="")
    await _reader(uow, directory, cmd.actor_id, (order.customer_id, order.provider_id), clock,
                  order.number)
    history = await uow.audit.for_entity("order", str(order.id))
    return OrderDetails(order, history)


async def list_orders(cmd: c.ListOrders, uow: Any, clock: Clock, directory: Directory) -> list[Order]:
    if not 1 <= cmd.limit <= 500 or cmd.offset < 0:
        raise DomainError("error.order.invalid_page", limit=cmd.limit, offset=cmd.offset)
    # A person lists their own orders (as customer or provider); operators list any.
    await _reader(uow, directory, cmd.actor_id, (cmd.customer_id, cmd.provider_id), clock, "")
    return list(await uow.orders.list(OrderFilter(
        state=cmd.state, customer_id=cmd.customer_id, provider_id=cmd.provider_id,
        disputed=cmd.disputed, limit=cmd.limit, offset=cmd.offset,
    )))


async def list_busy_intervals(cmd: c.ListBusyIntervals, uow: Any) -> list[tuple[datetime, datetime]]:
    return list(await uow.orders.busy_intervals(
        cmd.provider_id, cmd.start, cmd.end, exclude_order_id=cmd.exclude_order_id,
    ))


COMMAND_HANDLERS: dict[type[Command], Handler] = {
    c.BookOrder: book_order,
    c.PublishOpenOrder: publish_open_order,
    c.PayOrder: pay_order,
    c.AcceptOrder: accept_order,
    c.RejectOrder: reject_order,
    c.CancelOrder: cancel_order,
    c.OperatorCancelOrder: operator_cancel_order,
    c.ReassignOrder: reassign_order,
    c.ProposeReschedule: propose_reschedule,
    c.AnswerReschedule: answer_reschedule,
    c.RaiseOpenOrderPrice: raise_open_order_price,
    c.StartOrder: start_order,
    c.ExtendOrder: extend_order,
    c.FinishOrder: finish_order,
    c.ConfirmOrder: confirm_order,
    c.MarkNoShow: mark_no_show,
    c.TipOrder: tip_order,
    c.OpenDispute: open_dispute,
    c.RespondToDispute: respond_to_dispute,
    c.ResolveDispute: resolve_dispute,
    c.SetCategoryPolicy: set_category_policy,
    c.GetCategoryPolicy: get_category_policy,
    c.FireOrderTimers: fire_order_timers,
    c.DueOrders: due_orders,
    c.GetOrder: get_order,
    c.ListOrders: list_orders,
    c.ListBusyIntervals: list_busy_intervals,
}

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {
    ev.OrderAccepted: [refresh_provider_stats],
    ev.OrderCompleted: [refresh_provider_stats],
    ev.OrderExpired: [refresh_provider_stats],
    ev.OrderCancelled: [refresh_provider_stats],
    ev.OrderNoShow: [refresh_provider_stats],
}
