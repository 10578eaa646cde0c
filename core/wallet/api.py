"""The wallet's face: the money moves other areas ask for, inside their own transaction.

Every function is async, takes the caller's unit of work first (so the money moves in the
same transaction as the order changes), is idempotent through deterministic journal keys
(`order:42:capture`, `order:42:hold:<payment_ref>`) and raises `DomainError` on refusal,
having moved nothing.

Splitting an order's money (`split_amount`): the platform's commission is taken from the
gross in basis points; a billiard hall's share is then taken from what is left (the
provider's part), so the platform's commission never depends on a hall's deal and the
provider's part can never go negative; the provider gets the remainder. Rounding is half
up on each share and the provider takes the remainder, so the legs always sum to the gross.

Coupons: `pay_order(coupon=...)` holds the coupon's value from the marketing account next to
the customer's money. When an order is cancelled, the released amount goes back to the
marketing account first and only then to the customer, so a coupon never turns into cash.

The journal is the record of every money move (who, what, when, which order); the booking
area audits the decision that caused it.

Deposits: the booking area decides when to take a deposit and when the rest; each is a
`pay_order` call with its own `payment_ref`, and they add up in the order's escrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet.accounts import AccountKind, AccountRef
from core.wallet.gateways import WALLET, check_method
from core.wallet.journal import LedgerSession
from core.wallet.ledger import Leg, Reason, Transfer, fingerprint
from core.wallet.model import Earning, Payment, PaymentStatus, Refund

REFUND_TARGETS = frozenset({"original", "wallet"})


@dataclass(frozen=True)
class Split:
    provider: Money
    platform: Money
    venue: Money

    @property
    def total(self) -> Money:
        return self.provider + self.platform + self.venue

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.provider.currency,
            "provider": self.provider.amount,
            "platform": self.platform.amount,
            "venue": self.venue.amount,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Split:
        currency = data["currency"]
        return cls(
            Money(data["provider"], currency),
            Money(data["platform"], currency),
            Money(data["venue"], currency),
        )

    @classmethod
    def zero(cls, currency: str) -> Split:
        return cls(Money.zero(currency), Money.zero(currency), Money.zero(currency))


def split_amount(
    total: Money, commission_bps: int, venue_id: int | None, venue_share_bps: int
) -> Split:
    """Commission from the gross, the hall's share from the rest, the provider the remainder."""
    platform = total.share_bps(commission_bps)
    rest = total - platform
    venue = rest.share_bps(venue_share_bps) if venue_id is not None else Money.zero(total.currency)
    return Split(provider=rest - venue, platform=platform, venue=venue)


def _positive(amount: Money) -> None:
    if amount.amount <= 0:
        raise DomainError("error.wallet.invalid_amount", amount=amount)


# -- paying ------------------------------------------------------------------------------


async def _claim_payment(
    uow: Any, *, gateway: str, payment_ref: str, customer_id: int, amount: Money, purpose: str,
    order_id: int | None, at: datetime, spend_now: bool = False,
) -> tuple[Payment, Leg | None]:
    """Lock the payment (gateway, payment_ref), creating its record if the gateway was never
    asked first (the booking area may report a Telegram payment directly), and return the
    top-up leg still to record: None once it is credited. The locked row's status is what
    makes a payment land once, whichever flow records it.

    `spend_now`: the caller holds or spends the money at once, so nobody needs
    `PaymentReceived`; the payment is marked paid here (a new record is stored paid)."""
    check_method(gateway, amount.currency)
    if gateway == WALLET:
        raise DomainError("error.wallet.unknown_method", method=gateway)
    new = Payment(
        gateway=gateway, payment_ref=payment_ref, customer_id=customer_id, purpose=purpose,
        order_id=order_id, amount=amount, created_at=at, is_test=gateway == "sandbox",
    )
    if spend_now:
        new.status, new.paid_at = PaymentStatus.PAID, at
    payment, created = await uow.payments.claim(new)
    if created:
        return payment, _top_up(gateway, payment_ref, customer_id, amount, order_id)
    if payment.customer_id != customer_id or payment.amount != amount:
        raise DomainError(
            "error.wallet.payment_mismatch", payment=payment_ref, expected=payment.amount,
            received=amount,
        )
    if payment.status is PaymentStatus.PAID:
        return payment, None
    if spend_now:
        payment.mark_paid(at, None, announce=False)
        await uow.payments.save(payment)
    return payment, _top_up(gateway, payment_ref, customer_id, amount, order_id)


def _top_up(
    gateway: str, payment_ref: str, customer_id: int, amount: Money, order_id: int | None
) -> Leg:
    return Leg.posted(
        AccountRef.gateway(gateway, amount.currency), AccountRef.customer(customer_id, amount.currency),
        amount.amount, Reason.TOP_UP, order_id=order_id,
        data={"payment_ref": payment_ref, "customer_id": customer_id},
    )


async def credit_payment(
    uow: Any,
    *,
    gateway: str,
    payment_ref: str,
    customer_id: int,
    amount: Money,
    purpose: str,
    order_id: int | None,
    at: datetime,
    gateway_charge_id: str | None = None,
) -> Payment:
    """Land a gateway payment in the customer's wallet, once per (gateway, payment_ref)."""
    payment, top_up = await _claim_payment(
        uow, gateway=gateway, payment_ref=payment_ref, customer_id=customer_id, amount=amount,
        purpose=purpose, order_id=order_id, at=at,
    )
    if top_up is None:
        return payment
    fp = fingerprint("top_up", gateway=gateway, payment_ref=payment_ref, customer=customer_id,
                     amount=amount)
    payment.mark_paid(at, gateway_charge_id)
    await uow.payments.save(payment)
    await LedgerSession(uow).record(f"payment:{gateway}:{payment_ref}", "top_up", fp, [top_up],
                                    at, order_id=order_id)
    return payment


async def pay_order(
    uow: Any,
    *,
    order_id: int,
    customer_id: int,
    amount: Money,
    method: str,
    payment_ref: str | None,
    at: datetime,
    coupon: Money | None = None,
) -> None:
    """Hold `amount` (plus a coupon's value from marketing) in the order's escrow.

    `method` "wallet" takes it from the customer's balance (no overdraft); a gateway name
    first lands the gateway's money in the wallet as a top-up. Calling again for the same
    order adds another hold only with a distinct `payment_ref` (an extension, the rest after
    a deposit); the same call again changes nothing.
    """
    _positive(amount)
    check_method(method, amount.currency)
    if coupon is not None:
        _positive(coupon)
        if coupon.currency != amount.currency:
            raise DomainError("error.wallet.currency_mismatch", expected=amount.currency,
                              got=coupon.currency)
    top_up = None
    if method != WALLET:
        if not payment_ref:
            raise DomainError("error.wallet.payment_ref_required", method=method)
        _, top_up = await _claim_payment(
            uow, gateway=method, payment_ref=payment_ref, customer_id=customer_id,
            amount=amount, purpose="order", order_id=order_id, at=at, spend_now=True,
        )
    journal_id = f"order:{order_id}:hold:{payment_ref or WALLET}"
    fp = fingerprint("pay_order", order=order_id, customer=customer_id, amount=amount,
                     method=method, payment_ref=payment_ref, coupon=coupon)
    customer = AccountRef.customer(customer_id, amount.currency)
    escrow = AccountRef.escrow(order_id, amount.currency)
    data = {"customer_id": customer_id, "method": method, "payment_ref": payment_ref}
    # The gateway's money lands and is held in one journal.
    legs = [top_up] if top_up is not None else []
    legs.append(Leg.hold(customer, escrow, amount.amount, Reason.HOLD, order_id=order_id, data=data))
    if coupon is not None:
        legs.append(Leg.hold(AccountRef.marketing(amount.currency), escrow, coupon.amount,
                             Reason.COUPON, order_id=order_id, data=data))
    session = LedgerSession(uow)
    done, holds = await session.open(journal_id, fp, lock=[customer], holds_of=order_id,
                                     legs=legs)
    if done is not None:
        return
    if holds and holds[0].currency != amount.currency:
        raise DomainError("error.wallet.currency_mismatch", expected=holds[0].currency,
                          got=amount.currency)
    await session.record(journal_id, "pay_order", fp, legs, at, order_id=order_id)


async def order_held(uow: Any, order_id: int) -> Money | None:
    """What is held in escrow for the order now (customer money and coupons), or None."""
    holds: list[Transfer] = await uow.ledger.open_holds(order_id)
    if not holds:
        return None
    return Money(sum(h.amount for h in holds), holds[0].currency)


# -- completing and cancelling -------------------------------------------------------------


def _split_legs(
    escrow: AccountRef, split: Split, order_id: int, provider_id: int | None,
    venue_id: int | None,
) -> list[Leg]:
    currency = escrow.currency
    legs: list[Leg] = []
    if split.platform.is_positive():
        legs.append(Leg.posted(escrow, AccountRef.platform_fees(currency), split.platform.amount,
                               Reason.FEE, order_id=order_id))
    if split.venue.is_positive():
        assert venue_id is not None
        legs.append(Leg.posted(escrow, AccountRef.venue(venue_id, currency), split.venue.amount,
                               Reason.VENUE_SHARE, order_id=order_id,
                               data={"venue_id": venue_id}))
    if split.provider.is_positive():
        assert provider_id is not None
        legs.append(Leg.posted(escrow, AccountRef.provider_pending(provider_id, currency),
                               split.provider.amount, Reason.EARNING, order_id=order_id,
                               data={"provider_id": provider_id}))
    return legs


def _earning(
    provider_id: int | None, amount: Money, journal_id: str, order_id: int | None, at: datetime
) -> Earning | None:
    """The provider's earning a journal creates, matured by the settlement sweep."""
    if provider_id is None or not amount.is_positive():
        return None
    return Earning(provider_id=provider_id, amount=amount, journal_id=journal_id, earned_at=at,
                   order_id=order_id)


def _check_bps(*values: int) -> None:
    for value in values:
        if not 0 <= value <= 10_000:
            raise DomainError("error.money.invalid_basis_points", basis_points=value)


async def capture_order(
    uow: Any,
    *,
    order_id: int,
    provider_id: int,
    commission_bps: int,
    venue_id: int | None,
    venue_share_bps: int,
    at: datetime,
) -> Split:
    """Post every hold of the order and split the escrow in one journal."""
    _check_bps(commission_bps, venue_share_bps)
    journal_id = f"order:{order_id}:capture"
    fp = fingerprint("capture", order=order_id, provider=provider_id, commission=commission_bps,
                     venue=venue_id, venue_share=venue_share_bps)
    session = LedgerSession(uow)
    done, holds = await session.open(journal_id, fp, lock_owner=(AccountKind.ORDER_ESCROW, order_id),
                                     holds_of=order_id)
    if done is not None:
        return Split.from_json(done.result)
    if not holds:
        raise DomainError("error.wallet.nothing_held", order_id=order_id)
    currency = holds[0].currency
    total = Money(sum(h.amount for h in holds), currency)
    split = split_amount(total, commission_bps, venue_id, venue_share_bps)
    escrow = AccountRef.escrow(order_id, currency)
    legs = [Leg.post(h, h.amount, Reason.CAPTURE, order_id=order_id) for h in holds]
    legs += _split_legs(escrow, split, order_id, provider_id, venue_id)
    await session.record(journal_id, "capture", fp, legs, at, order_id=order_id,
                         result=split.to_json(), holds_verified=True,
                         earning=_earning(provider_id, split.provider, journal_id, order_id, at))
    return split


def _returns(holds: Sequence[Transfer], refund: int) -> dict[str, int]:
    """How much of each hold goes back: coupons first, then the customer's latest holds."""
    # `holds` come oldest first.
    order = [h for h in holds if h.reason is Reason.COUPON] + list(
        reversed([h for h in holds if h.reason is not Reason.COUPON])
    )
    returned: dict[str, int] = {}
    remaining = refund
    for hold in order:
        part = min(remaining, hold.amount)
        returned[hold.id] = part
        remaining -= part
    return returned


async def release_order(
    uow: Any,
    *,
    order_id: int,
    refund: Money,
    provider_id: int | None,
    commission_bps: int,
    venue_id: int | None,
    venue_share_bps: int,
    refund_to: str,
    at: datetime,
) -> Split:
    """Give `refund` of the escrow back and post and split the rest (a fee, a partial refund).

    The refund returns coupon money to marketing first, then the customer's money: to their
    wallet, or with `refund_to="original"` on to the gateways the order was paid through
    (newest payment first; what was paid from the wallet stays in the wallet). A refund of
    the whole hold voids it. Without a provider the kept part is the platform's.
    """
    _check_bps(commission_bps, venue_share_bps)
    if refund.amount < 0:
        raise DomainError("error.wallet.invalid_amount", amount=refund)
    if refund_to not in REFUND_TARGETS:
        raise DomainError("error.wallet.invalid_refund_target", target=refund_to)
    journal_id = f"order:{order_id}:release"
    fp = fingerprint("release", order=order_id, refund=refund, provider=provider_id,
                     commission=commission_bps, venue=venue_id, venue_share=venue_share_bps,
                     refund_to=refund_to)
    session = LedgerSession(uow)
    done, holds = await session.open(journal_id, fp, lock_owner=(AccountKind.ORDER_ESCROW, order_id),
                                     holds_of=order_id)
    if done is not None:
        return Split.from_json(done.result)
    if not holds:
        raise DomainError("error.wallet.nothing_held", order_id=order_id)
    currency = holds[0].currency
    if refund.currency != currency:
        raise DomainError("error.wallet.currency_mismatch", expected=currency, got=refund.currency)
    held = Money(sum(h.amount for h in holds), currency)
    if held < refund:
        raise DomainError("error.wallet.refund_exceeds_paid", paid=held, requested=refund)
    kept = held - refund
    if provider_id is None:
        split = Split(Money.zero(currency), kept, Money.zero(currency))
    else:
        split = split_amount(kept, commission_bps, venue_id, venue_share_bps)
    returned = _returns(holds, refund.amount)
    legs: list[Leg] = []
    customer_returned = 0
    customer_id: int | None = None
    for hold in holds:
        back = returned[hold.id]
        if hold.reason is not Reason.COUPON:
            customer_returned += back
            customer_id = int(hold.data.get("customer_id", 0)) or customer_id
        if back == hold.amount:
            legs.append(Leg.void(hold, Reason.RELEASE, order_id=order_id))
        else:
            legs.append(Leg.post(hold, hold.amount - back, Reason.RELEASE, order_id=order_id))
    escrow = AccountRef.escrow(order_id, currency)
    legs += _split_legs(escrow, split, order_id, provider_id, venue_id)
    refunds: list[tuple[Payment, int, int]] = []  # payment, amount, leg index
    if refund_to == "original" and customer_returned and customer_id is not None:
        customer = AccountRef.customer(customer_id, currency)
        await session.lock(customer)
        remaining = customer_returned
        payments: list[Payment] = await uow.payments.for_order(order_id, for_update=True)
        for payment in sorted(payments, key=lambda p: (p.paid_at or p.created_at, p.id or 0),
                              reverse=True):
            part = min(remaining, payment.refundable.amount)
            if part <= 0 or payment.customer_id != customer_id:
                continue
            payment.reserve_refund(Money(part, currency))
            refunds.append((payment, part, len(legs)))
            legs.append(Leg.hold(customer, AccountRef.gateway(payment.gateway, currency), part,
                                 Reason.REFUND, order_id=order_id,
                                 data={"payment_ref": payment.payment_ref,
                                       "customer_id": customer_id}))
            remaining -= part
            if remaining == 0:
                break
    transfers = await session.record(
        journal_id, "release", fp, legs, at, order_id=order_id, result=split.to_json(),
        holds_verified=True,
        earning=_earning(provider_id, split.provider, journal_id, order_id, at),
    )
    for payment, part, index in refunds:
        await uow.payments.save(payment)
        assert payment.id is not None
        refund_record = await uow.payments.add_refund(
            Refund(payment_id=payment.id, gateway=payment.gateway,
                   payment_ref=payment.payment_ref, customer_id=payment.customer_id,
                   order_id=order_id, amount=Money(part, currency),
                   hold_transfer_id=transfers[index].id, requested_at=at)
        )
        refund_record.requested()
    return split


# -- tips ----------------------------------------------------------------------------------


async def tip_order(
    uow: Any,
    *,
    order_id: int,
    customer_id: int,
    provider_id: int,
    amount: Money,
    method: str,
    payment_ref: str | None,
    at: datetime,
    commission_bps: int = 0,
) -> None:
    """Pay the provider a tip straight from the customer (no escrow: the service is done).

    `commission_bps` is the platform's cut of tips (`WalletPolicy.tip_commission_bps`,
    default 0: the whole tip goes to the provider).
    """
    _positive(amount)
    _check_bps(commission_bps)
    check_method(method, amount.currency)
    if customer_id == provider_id:
        raise DomainError("error.wallet.tip_self")
    top_up = None
    if method != WALLET:
        if not payment_ref:
            raise DomainError("error.wallet.payment_ref_required", method=method)
        _, top_up = await _claim_payment(
            uow, gateway=method, payment_ref=payment_ref, customer_id=customer_id,
            amount=amount, purpose="tip", order_id=order_id, at=at, spend_now=True,
        )
    journal_id = f"order:{order_id}:tip:{payment_ref or WALLET}"
    fp = fingerprint("tip", order=order_id, customer=customer_id, provider=provider_id,
                     amount=amount, method=method, payment_ref=payment_ref,
                     commission=commission_bps)
    customer = AccountRef.customer(customer_id, amount.currency)
    fee = amount.share_bps(commission_bps)
    earned = amount - fee
    legs: list[Leg] = [top_up] if top_up is not None else []
    if earned.is_positive():
        legs.append(Leg.posted(customer, AccountRef.provider_pending(provider_id, amount.currency),
                               earned.amount, Reason.TIP, order_id=order_id,
                               data={"provider_id": provider_id}))
    if fee.is_positive():
        legs.append(Leg.posted(customer, AccountRef.platform_fees(amount.currency), fee.amount,
                               Reason.TIP, order_id=order_id))
    session = LedgerSession(uow)
    done, _ = await session.open(journal_id, fp, lock=[customer], legs=legs)
    if done is not None:
        return
    await session.record(journal_id, "tip", fp, legs, at, order_id=order_id,
                         result={"provider": earned.amount, "platform": fee.amount},
                         earning=_earning(provider_id, earned, journal_id, order_id, at))
