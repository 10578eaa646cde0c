"""Booking policies: every deadline, fee and limit of an order, in one place.

Defaults are per service kind (`DEFAULTS`); a category may override any field (stored by
the booking area as a JSON object, see `BookingPolicy.with_overrides`). The policy computes
every amount (cancellation fees, no-show fees, dispute refunds, commission); the wallet only
moves what the policy computed.

Commission rule: the category's `commission_bps`, lowered by `TIER_DISCOUNT_BPS` (1 %) for
each provider tier above 1, never below 0. Tier 1 pays the category rate; a tier-5 provider
pays it less 4 %. A billiard-hall share is taken from what the provider gets (see wallet).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.shared.errors import DomainError
from core.shared.money import BASIS_POINTS, Money

TIER_DISCOUNT_BPS = 100

# How long one priced unit occupies the provider (pricing unit -> minutes). Errands priced
# per km reserve one flat window whatever the distance.
MINUTES_PER_UNIT: dict[str, int] = {"hour": 60, "round": 30, "session": 60}
FLAT_WINDOW_MINUTES: dict[str, int] = {"base_per_km": 60}


class DisputeOutcome(StrEnum):
    RELEASE = "release"  # the provider is paid in full
    REFUND = "refund"  # the customer gets everything back
    PARTIAL = "partial"  # part back to the customer, the rest paid out


class IdleDisputeRule(StrEnum):
    """What happens when the other side does not answer a dispute in time."""

    FAVOUR_OPENER = "favour_opener"  # the side that opened it gets what it asked for
    RELEASE = "release"
    REFUND = "refund"


@dataclass(frozen=True)
class FeeTier:
    """Cancelling with at least `min_notice` before the start costs `fee_bps` of the price."""

    min_notice: timedelta
    fee_bps: int


DEFAULT_FEE_TIERS: tuple[FeeTier, ...] = (
    FeeTier(timedelta(hours=24), 0),
    FeeTier(timedelta(hours=2), 3_000),
    FeeTier(timedelta(0), BASIS_POINTS),
)


@dataclass(frozen=True)
class BookingPolicy:
    accept_window: timedelta
    payment_window: timedelta = timedelta(minutes=15)
    fee_tiers: tuple[FeeTier, ...] = DEFAULT_FEE_TIERS
    max_reschedules: int = 2
    auto_complete_after: timedelta = timedelta(hours=24)
    dispute_window: timedelta = timedelta(hours=72)
    dispute_response_window: timedelta = timedelta(hours=48)
    idle_dispute_outcome: IdleDisputeRule = IdleDisputeRule.FAVOUR_OPENER
    wave_interval: timedelta = timedelta(minutes=3)
    # Second wave: how many of the best-ranked nearby qualified providers are offered it.
    top_wave_size: int = 20
    # A no-show may be declared this long after the scheduled start.
    no_show_grace: timedelta = timedelta(minutes=15)
    customer_no_show_fee_bps: int = BASIS_POINTS
    # The provider may mark the start this long before the scheduled start.
    early_start: timedelta = timedelta(minutes=30)
    checkin_radius_m: int = 500
    # The part of the price held at payment; the whole price unless a category says less.
    deposit_bps: int = BASIS_POINTS
    # Reminders to both sides before a scheduled start (a zero duration turns one off).
    early_reminder: timedelta = timedelta(hours=24)
    late_reminder: timedelta = timedelta(hours=1)

    def cancellation_fee_bps(self, start: datetime | None, now: datetime) -> int:
        """The fee tier for cancelling now; an order without a start time costs nothing."""
        if start is None:
            return 0
        notice = start - now
        for tier in sorted(self.fee_tiers, key=lambda t: t.min_notice, reverse=True):
            if notice >= tier.min_notice:
                return tier.fee_bps
        return max((t.fee_bps for t in self.fee_tiers), default=0)

    def cancellation_fee(self, held: Money, start: datetime | None, now: datetime) -> Money:
        return held.share_bps(self.cancellation_fee_bps(start, now))

    def with_overrides(self, overrides: dict[str, Any]) -> BookingPolicy:
        """A copy with some fields replaced by a category's stored overrides."""
        if not overrides:
            return self
        return dataclasses.replace(self, **parse_overrides(overrides))


def deposit_of(total: Money, policy: BookingPolicy) -> Money:
    return total.share_bps(policy.deposit_bps)


def commission_bps(category_bps: int, tier: int) -> int:
    """The category's commission lowered by 1 % per provider tier above 1 (never negative)."""
    return max(0, category_bps - TIER_DISCOUNT_BPS * max(0, tier - 1))


def duration_of(pricing_unit: str, units: int) -> timedelta:
    if pricing_unit in FLAT_WINDOW_MINUTES:
        return timedelta(minutes=FLAT_WINDOW_MINUTES[pricing_unit])
    return timedelta(minutes=MINUTES_PER_UNIT.get(pricing_unit, 60) * units)


def dispute_refund(
    held: Money,
    outcome: DisputeOutcome,
    *,
    refund_bps: int | None = None,
    refund_amount: Money | None = None,
) -> Money:
    """How much goes back to the customer for a dispute outcome."""
    if outcome is DisputeOutcome.RELEASE:
        return Money.zero(held.currency)
    if outcome is DisputeOutcome.REFUND:
        return held
    if (refund_bps is None) == (refund_amount is None):
        raise DomainError("error.dispute.partial_needs_one_amount")
    if refund_bps is not None:
        if not 0 < refund_bps < BASIS_POINTS:
            raise DomainError("error.dispute.invalid_percentage", basis_points=refund_bps)
        return held.share_bps(refund_bps)
    assert refund_amount is not None
    if refund_amount.currency != held.currency:
        raise DomainError(
            "error.money.currency_mismatch", left=held.currency, right=refund_amount.currency
        )
    if not 0 < refund_amount.amount < held.amount:
        raise DomainError("error.dispute.invalid_amount", amount=refund_amount, held=held)
    return refund_amount


# --- defaults per service kind -------------------------------------------------------------

DEFAULTS: dict[str, BookingPolicy] = {
    # Instant game sessions: the provider is expected to answer within minutes.
    "online_session": BookingPolicy(accept_window=timedelta(minutes=10)),
    "errand": BookingPolicy(accept_window=timedelta(minutes=10), wave_interval=timedelta(minutes=2)),
    # Scheduled visits to a home: the provider may need time to plan the trip.
    "on_site": BookingPolicy(accept_window=timedelta(hours=2), wave_interval=timedelta(minutes=10)),
    "venue_lesson": BookingPolicy(accept_window=timedelta(hours=1), wave_interval=timedelta(minutes=5)),
}
FALLBACK = BookingPolicy(accept_window=timedelta(minutes=30))


def default_policy(kind: str) -> BookingPolicy:
    return DEFAULTS.get(str(kind), FALLBACK)


# --- overrides: a JSON object of plain values ----------------------------------------------

_DURATIONS = {
    "accept_window", "payment_window", "auto_complete_after", "dispute_window",
    "dispute_response_window", "wave_interval", "no_show_grace", "early_start",
    "early_reminder", "late_reminder",
}
_INTS = {"max_reschedules", "top_wave_size", "checkin_radius_m"}
_BPS = {"customer_no_show_fee_bps", "deposit_bps"}
OVERRIDABLE = frozenset(
    _DURATIONS | _INTS | _BPS | {"fee_tiers", "idle_dispute_outcome"}
)


def parse_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate stored overrides: durations in minutes, fee tiers as [[hours, bps], ...]."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in OVERRIDABLE:
            raise DomainError("error.policy.unknown_field", field=name)
        try:
            values[name] = _parse_field(name, value)
        except (TypeError, ValueError) as exc:
            raise DomainError("error.policy.invalid_value", field=name, value=str(value)) from exc
    return values


def _parse_field(name: str, value: Any) -> Any:
    if name in _DURATIONS:
        minutes = _non_negative_int(value)
        return timedelta(minutes=minutes)
    if name in _INTS:
        return _non_negative_int(value)
    if name in _BPS:
        bps = _non_negative_int(value)
        if bps > BASIS_POINTS:
            raise ValueError(name)
        return bps
    if name == "fee_tiers":
        tiers = []
        for hours, bps in value:
            bps = _non_negative_int(bps)
            if bps > BASIS_POINTS:
                raise ValueError(name)
            tiers.append(FeeTier(timedelta(hours=_non_negative_int(hours)), bps))
        if not tiers:
            raise ValueError(name)
        return tuple(tiers)
    if name == "idle_dispute_outcome":
        return IdleDisputeRule(value)
    raise ValueError(name)


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(value)
    return value


@dataclass(frozen=True)
class StrikeRules:
    """Strike counts that stop someone automatically (configured in settings)."""

    provider_suspend_at: int = 3
    customer_ban_at: int = 5
