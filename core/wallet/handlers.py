"""Command and event handlers of the wallet: payments in, refunds and withdrawals out,
settlement, statements and reconciliation.

Dependencies by name: `clock`, `wallet_policy` (WalletPolicy), `payment_gateways`
(PaymentGateways). Money moves through `LedgerSession` exactly as in `api.py`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from core.identity.guards import ensure_operator, ensure_self_or_operator
from core.messagebus import Handler
from core.shared.audit import AuditEntry
from core.shared.clock import Clock
from core.shared.errors import DomainError, NotFound
from core.shared.ids import new_id
from core.shared.messages import Command, Event
from core.shared.money import CURRENCIES, Money
from core.wallet import api
from core.wallet import commands as c
from core.wallet.accounts import USER_KINDS, Account, AccountKind, AccountRef
from core.wallet.events import EarningsSettled, PaymentMismatch, RefundRequested
from core.wallet.gateways import PaymentGateways, check_method
from core.wallet.journal import LedgerSession, lock_refs_for
from core.wallet.ledger import Leg, Reason, TransferKind, fingerprint
from core.wallet.model import (
    PURPOSES,
    Payment,
    PaymentAlert,
    PaymentStatus,
    RefundStatus,
    Withdrawal,
    WithdrawalStatus,
)
from core.wallet.policy import DAILY_WINDOW, WalletPolicy
from core.wallet.ports import (
    GatewayResult,
    PaymentInstructions,
    PaymentRequest,
    PayoutRequest,
    RefundRequest,
)
from core.wallet.verify import LedgerReport, LedgerVerifier
from core.wallet.views import (
    AccountBalance,
    PaymentOutcome,
    RefundReport,
    SettlementReport,
    Statement,
    StatementLine,
    UserBalance,
)

# -- payments in ---------------------------------------------------------------------------


async def start_payment(
    cmd: c.StartPayment, uow: Any, clock: Clock, payment_gateways: PaymentGateways
) -> PaymentInstructions:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.customer_id, now)
    if cmd.amount.amount <= 0:
        raise DomainError("error.wallet.invalid_amount", amount=cmd.amount)
    if cmd.purpose not in PURPOSES:
        raise DomainError("error.wallet.invalid_purpose", purpose=cmd.purpose)
    if cmd.purpose != "topup" and cmd.order_id is None:
        raise DomainError("error.wallet.order_required", purpose=cmd.purpose)
    check_method(cmd.gateway, cmd.amount.currency)
    gateway = payment_gateways.get(cmd.gateway)
    payment_ref = new_id()
    payment = await uow.payments.add(
        Payment(gateway=gateway.name, payment_ref=payment_ref, customer_id=cmd.customer_id,
                purpose=cmd.purpose, order_id=cmd.order_id, amount=cmd.amount, created_at=now,
                is_test=gateway.is_test)
    )
    return await gateway.create_payment(
        PaymentRequest(payment_ref=payment.payment_ref, amount=cmd.amount,
                       description=cmd.description or _describe(cmd), customer_id=cmd.customer_id,
                       purpose=cmd.purpose, order_id=cmd.order_id)
    )


def _describe(cmd: c.StartPayment) -> str:
    if cmd.purpose == "topup":
        return "Yueban wallet top-up"
    return f"Yueban order {cmd.order_id}"


def _received(amount: int, currency: str) -> Money | None:
    if currency not in CURRENCIES or not isinstance(amount, int) or isinstance(amount, bool):
        return None
    return Money(amount, currency)


PROBLEM_KEYS = {
    "unknown_payment": "error.wallet.payment_unknown",
    "currency_mismatch": "error.wallet.payment_currency_mismatch",
    "amount_mismatch": "error.wallet.payment_amount_mismatch",
    "purpose_mismatch": "error.wallet.payment_purpose_mismatch",
    "customer_mismatch": "error.wallet.payment_customer_mismatch",
}


def _problem(payment: Payment | None, cmd: c.ConfirmPayment, received: Money | None) -> str | None:
    if payment is None:
        return "unknown_payment"
    if received is None or received.currency != payment.amount.currency:
        return "currency_mismatch"
    if received != payment.amount:
        return "amount_mismatch"
    if cmd.purpose is not None and cmd.purpose != payment.purpose:
        return "purpose_mismatch"
    if cmd.order_id is not None and cmd.order_id != payment.order_id:
        return "purpose_mismatch"
    if cmd.actor_id is not None and cmd.actor_id != payment.customer_id:
        return "customer_mismatch"
    return None


async def check_payment(cmd: c.CheckPayment, uow: Any) -> Payment:
    payment: Payment | None = await uow.payments.get(cmd.gateway, cmd.payment_ref)
    received = _received(cmd.amount, cmd.currency)
    confirm = c.ConfirmPayment(gateway=cmd.gateway, payment_ref=cmd.payment_ref,
                               amount=cmd.amount, currency=cmd.currency, actor_id=cmd.actor_id)
    problem = _problem(payment, confirm, received)
    if problem is not None:
        raise DomainError(PROBLEM_KEYS[problem], payment=cmd.payment_ref)
    assert payment is not None
    if payment.status is PaymentStatus.PAID:
        raise DomainError("error.wallet.payment_already_paid", payment=cmd.payment_ref)
    return payment


async def confirm_payment(cmd: c.ConfirmPayment, uow: Any, clock: Clock) -> PaymentOutcome:
    """Credit a confirmed payment once; record and alert a mismatch, never credit it.

    A refusal is an outcome, not an exception, so that the alert is committed.
    """
    now = clock.now()
    payment: Payment | None = await uow.payments.get(cmd.gateway, cmd.payment_ref, for_update=True)
    received = _received(cmd.amount, cmd.currency)
    problem = _problem(payment, cmd, received)
    if problem is not None:
        alert = PaymentAlert(
            gateway=cmd.gateway, payment_ref=cmd.payment_ref, problem=problem,
            received=received or Money(0, payment.amount.currency if payment else "CNY"),
            expected=payment.amount if payment else None, at=now,
        )
        if await uow.payments.record_alert(alert):
            uow.emit(PaymentMismatch(gateway=alert.gateway, payment_ref=alert.payment_ref,
                                     problem=problem, expected=alert.expected,
                                     received=alert.received, at=now))
            await uow.audit.add(AuditEntry(
                entity="payment", entity_id=f"{cmd.gateway}:{cmd.payment_ref}", action="refuse",
                actor_id=cmd.actor_id, at=now, reason=problem,
                data={"amount": cmd.amount, "currency": cmd.currency},
            ))
        return PaymentOutcome("refused", cmd.gateway, cmd.payment_ref, problem,
                              PROBLEM_KEYS[problem], payment.id if payment else None)
    assert payment is not None and received is not None
    if payment.status is PaymentStatus.PAID:
        return PaymentOutcome("duplicate", cmd.gateway, cmd.payment_ref, payment_id=payment.id)
    await api.credit_payment(
        uow, gateway=payment.gateway, payment_ref=payment.payment_ref,
        customer_id=payment.customer_id, amount=payment.amount, purpose=payment.purpose,
        order_id=payment.order_id, at=now, gateway_charge_id=cmd.gateway_charge_id,
    )
    return PaymentOutcome("credited", cmd.gateway, cmd.payment_ref, payment_id=payment.id)


# -- refunds out -----------------------------------------------------------------------------


async def _process_refund(
    uow: Any, refund_id: int, clock: Clock, payment_gateways: PaymentGateways
) -> str | None:
    refund = await uow.payments.get_refund(refund_id, for_update=True)
    if refund is None or refund.status is not RefundStatus.REQUESTED:
        return None
    payment: Payment | None = await uow.payments.get(refund.gateway, refund.payment_ref,
                                                     for_update=True)
    assert payment is not None, "a refund names its payment"
    if refund.gateway in payment_gateways:
        # GatewayUnavailable propagates: nothing is decided, ProcessRefunds tries again.
        result = await payment_gateways.get(refund.gateway).refund(RefundRequest(
            refund_ref=refund.refund_ref, payment_ref=refund.payment_ref,
            gateway_charge_id=payment.gateway_charge_id, customer_id=refund.customer_id,
            amount=refund.amount, payment_amount=payment.amount,
        ))
    else:
        result = GatewayResult(ok=False, failure=f"gateway {refund.gateway} is not enabled")
    now = clock.now()
    hold = (await uow.ledger.transfers([refund.hold_transfer_id]))[refund.hold_transfer_id]
    session = LedgerSession(uow)
    if result.ok:
        journal_id = f"refund:{refund.id}:post"
        legs = [Leg.post(hold, hold.amount, Reason.REFUND)]
        refund.succeed(now, result.reference)
    else:
        journal_id = f"refund:{refund.id}:void"
        legs = [Leg.void(hold, Reason.REFUND)]
        refund.fail(now, result.failure or "refused")
        payment.release_refund(refund.amount)
        await uow.payments.save(payment)
    await session.record(journal_id, "refund", fingerprint("refund", refund=refund.id), legs, now,
                         order_id=refund.order_id)
    await uow.payments.save_refund(refund)
    await uow.audit.add(AuditEntry(
        entity="refund", entity_id=str(refund.id), action="refund" if result.ok else "fail",
        actor_id=None, at=now, from_state="requested", to_state=refund.status.value,
        reason=result.failure, data={"gateway": refund.gateway, "amount": refund.amount.amount},
    ))
    return refund.status.value


async def on_refund_requested(
    event: RefundRequested, uow: Any, clock: Clock, payment_gateways: PaymentGateways
) -> None:
    await _process_refund(uow, event.refund_id, clock, payment_gateways)


async def process_refunds(
    cmd: c.ProcessRefunds, uow: Any, clock: Clock, payment_gateways: PaymentGateways
) -> RefundReport:
    await ensure_operator(uow, cmd.actor_id, clock.now())
    now = cmd.now or clock.now()
    ids = await uow.payments.refunds_waiting(now, cmd.limit)
    outcomes = [await _process_refund(uow, refund_id, clock, payment_gateways) for refund_id in ids]
    return RefundReport(
        processed=sum(1 for o in outcomes if o is not None),
        succeeded=outcomes.count(RefundStatus.SUCCEEDED.value),
        failed=outcomes.count(RefundStatus.FAILED.value),
    )


# -- withdrawals -----------------------------------------------------------------------------


async def request_withdrawal(
    cmd: c.RequestWithdrawal, uow: Any, clock: Clock, wallet_policy: WalletPolicy,
    payment_gateways: PaymentGateways,
) -> Withdrawal:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.provider_id, now)
    if cmd.amount.amount <= 0:
        raise DomainError("error.wallet.invalid_amount", amount=cmd.amount)
    gateway = payment_gateways.get(cmd.method)
    if not gateway.supports_payout or cmd.amount.currency not in gateway.currencies:
        raise DomainError("error.wallet.payout_unsupported", method=cmd.method)
    available = AccountRef.provider_available(cmd.provider_id, cmd.amount.currency)
    session = LedgerSession(uow)
    # The lock serializes this provider's withdrawals: the limit and the balance are read
    # by one request at a time, so concurrent requests can never overdraw.
    await session.lock(available)
    used = await uow.withdrawals.requested_since(cmd.provider_id, cmd.amount.currency,
                                                 now - DAILY_WINDOW)
    wallet_policy.check_withdrawal(cmd.amount, used)
    fee = wallet_policy.withdrawal_fee(cmd.amount)
    if session.locked[available].available < cmd.amount:
        raise DomainError("error.wallet.insufficient_earnings",
                          available=session.locked[available].available, needed=cmd.amount)
    withdrawal = await uow.withdrawals.add(Withdrawal(
        provider_id=cmd.provider_id, amount=cmd.amount, fee=fee, method=gateway.name,
        requested_at=now,
    ))
    currency = cmd.amount.currency
    data = {"provider_id": cmd.provider_id, "withdrawal_id": withdrawal.id}
    legs = [Leg.hold(available, AccountRef.payouts(gateway.name, currency),
                     withdrawal.payout.amount, Reason.PAYOUT, data=data)]
    if fee.is_positive():
        legs.append(Leg.hold(available, AccountRef.platform_fees(currency), fee.amount,
                             Reason.WITHDRAWAL_FEE, data=data))
    journal_id = f"{withdrawal.journal_prefix}:request"
    await session.record(journal_id, "withdrawal", fingerprint("withdrawal", id=withdrawal.id),
                         legs, now)
    withdrawal.requested()
    await uow.audit.add(AuditEntry(
        entity="withdrawal", entity_id=str(withdrawal.id), action="request",
        actor_id=cmd.actor_id, at=now, to_state="requested",
        data={"amount": cmd.amount.amount, "fee": fee.amount, "currency": currency},
    ))
    return withdrawal


async def _withdrawal_holds(uow: Any, withdrawal: Withdrawal) -> list[Any]:
    transfers = await uow.ledger.journal_transfers(f"{withdrawal.journal_prefix}:request")
    return [t for t in transfers if t.kind is TransferKind.PENDING]


async def approve_withdrawal(
    cmd: c.ApproveWithdrawal, uow: Any, clock: Clock, payment_gateways: PaymentGateways
) -> Withdrawal:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    withdrawal: Withdrawal = await uow.withdrawals.get(cmd.withdrawal_id, for_update=True)
    if withdrawal.status is not WithdrawalStatus.REQUESTED:
        raise DomainError("error.wallet.withdrawal_already_decided",
                          withdrawal=withdrawal.id, status=withdrawal.status.value)
    payout_ref = f"wd{withdrawal.id}"
    # The payout ref is deterministic: if our commit fails after the gateway paid, the
    # retry asks again with the same ref and the gateway pays once.
    result = await payment_gateways.get(withdrawal.method).payout(PayoutRequest(
        payout_ref=payout_ref, provider_id=withdrawal.provider_id, amount=withdrawal.payout,
        reference=cmd.reference,
    ))
    if not result.ok:
        raise DomainError("error.wallet.payout_failed", withdrawal=withdrawal.id,
                          reason=result.failure or "")
    legs = [Leg.post(h, h.amount, h.reason) for h in await _withdrawal_holds(uow, withdrawal)]
    await LedgerSession(uow).record(
        f"{withdrawal.journal_prefix}:approve", "withdrawal_approve",
        fingerprint("withdrawal_approve", id=withdrawal.id), legs, now,
    )
    withdrawal.approve(cmd.actor_id, now, result.reference or payout_ref)
    await uow.withdrawals.save(withdrawal)
    await uow.audit.add(AuditEntry(
        entity="withdrawal", entity_id=str(withdrawal.id), action="approve",
        actor_id=cmd.actor_id, at=now, from_state="requested", to_state="paid",
        data={"payout_ref": withdrawal.payout_ref, "payout": withdrawal.payout.amount},
    ))
    return withdrawal


async def reject_withdrawal(cmd: c.RejectWithdrawal, uow: Any, clock: Clock) -> Withdrawal:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    withdrawal: Withdrawal = await uow.withdrawals.get(cmd.withdrawal_id, for_update=True)
    withdrawal.reject(cmd.actor_id, now, cmd.reason)
    legs = [Leg.void(h, h.reason) for h in await _withdrawal_holds(uow, withdrawal)]
    await LedgerSession(uow).record(
        f"{withdrawal.journal_prefix}:reject", "withdrawal_reject",
        fingerprint("withdrawal_reject", id=withdrawal.id), legs, now,
    )
    await uow.withdrawals.save(withdrawal)
    await uow.audit.add(AuditEntry(
        entity="withdrawal", entity_id=str(withdrawal.id), action="reject",
        actor_id=cmd.actor_id, at=now, from_state="requested", to_state="rejected",
        reason=withdrawal.reason,
    ))
    return withdrawal


async def list_withdrawals(cmd: c.ListWithdrawals, uow: Any, clock: Clock) -> list[Withdrawal]:
    if cmd.provider_id is not None:
        await ensure_self_or_operator(uow, cmd.actor_id, cmd.provider_id, clock.now())
    else:
        await ensure_operator(uow, cmd.actor_id, clock.now())
    if cmd.status is not None and cmd.status not in {s.value for s in WithdrawalStatus}:
        raise DomainError("error.wallet.invalid_status", status=cmd.status)
    result: list[Withdrawal] = await uow.withdrawals.list(cmd.status, cmd.provider_id, cmd.limit)
    return result


# -- settlement ----------------------------------------------------------------------------


async def settle_matured(
    cmd: c.SettleMatured, uow: Any, clock: Clock, wallet_policy: WalletPolicy
) -> SettlementReport:
    await ensure_operator(uow, cmd.actor_id, clock.now())
    now = cmd.now or clock.now()
    due = await uow.ledger.due_earnings(now - wallet_policy.settlement_period, cmd.limit)
    session = LedgerSession(uow)
    settled: dict[tuple[int, str], list[int]] = defaultdict(list)
    for earning in due:
        currency = earning.amount.currency
        pending = AccountRef.provider_pending(earning.provider_id, currency)
        await session.lock(pending)
        journal_id = f"earning:{earning.id}:settle"
        fp = fingerprint("settle", earning=earning.id)
        if await session.existing(journal_id, fp) is None:
            await session.record(
                journal_id, "settle", fp,
                [Leg.posted(pending, AccountRef.provider_available(earning.provider_id, currency),
                            earning.amount.amount, Reason.SETTLEMENT, order_id=earning.order_id,
                            data={"earning_id": earning.id})],
                now, order_id=earning.order_id,
            )
        await uow.ledger.mark_settled(earning.id, now)
        settled[(earning.provider_id, currency)].append(earning.amount.amount)
    totals: dict[str, int] = defaultdict(int)
    for (provider_id, currency), amounts in settled.items():
        uow.emit(EarningsSettled(provider_id=provider_id, amount=Money(sum(amounts), currency),
                                 earnings=len(amounts), at=now))
        totals[currency] += sum(amounts)
    return SettlementReport(
        earnings_settled=sum(len(a) for a in settled.values()),
        providers=len({p for p, _ in settled}),
        amounts=tuple(Money(v, k) for k, v in sorted(totals.items())),
    )


# -- statements, balances, reconciliation -------------------------------------------------


async def get_statement(cmd: c.GetStatement, uow: Any, clock: Clock) -> Statement:
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.user_id, clock.now())
    if cmd.currency is not None and cmd.currency not in CURRENCIES:
        raise DomainError("error.money.unknown_currency", currency=cmd.currency)
    accounts: list[Account] = await uow.ledger.accounts_of(USER_KINDS, cmd.user_id, cmd.currency)
    by_currency: dict[str, dict[AccountKind, Account]] = defaultdict(dict)
    for account in accounts:
        by_currency[account.currency][account.ref.kind] = account
    balances = []
    for currency, kinds in sorted(by_currency.items()):
        zero = Money.zero(currency)
        wallet = kinds.get(AccountKind.CUSTOMER_WALLET)
        pending = kinds.get(AccountKind.PROVIDER_PENDING)
        available = kinds.get(AccountKind.PROVIDER_AVAILABLE)
        balances.append(UserBalance(
            currency=currency,
            wallet=wallet.balance if wallet else zero,
            wallet_held=wallet.outgoing if wallet else zero,
            wallet_available=wallet.available if wallet else zero,
            earnings_pending=pending.balance if pending else zero,
            earnings_available=available.available if available else zero,
            withdrawing=available.outgoing if available else zero,
        ))
    kind_of = {a.id: a.ref.kind for a in accounts}
    lines = []
    for t in await uow.ledger.history(list(kind_of), max(1, min(cmd.limit, 500))):
        for account_id, sign in ((t.credit_account_id, 1), (t.debit_account_id, -1)):
            if account_id in kind_of:
                lines.append(StatementLine(
                    transfer_id=t.id, at=t.created_at, account=kind_of[account_id].value,
                    amount=Money(sign * t.amount, t.currency), kind=t.kind.value,
                    reason=t.reason.value, order_id=t.order_id,
                ))
    return Statement(user_id=cmd.user_id, balances=tuple(balances), lines=tuple(lines))


async def list_balances(cmd: c.ListBalances, uow: Any, clock: Clock) -> list[AccountBalance]:
    await ensure_operator(uow, cmd.actor_id, clock.now())
    kind = None
    if cmd.kind is not None:
        try:
            kind = AccountKind(cmd.kind)
        except ValueError:
            raise DomainError("error.wallet.unknown_account_kind", kind=cmd.kind) from None
    if cmd.currency is not None and cmd.currency not in CURRENCIES:
        raise DomainError("error.money.unknown_currency", currency=cmd.currency)
    accounts: list[Account] = await uow.ledger.list_accounts(kind, cmd.currency)
    return [
        AccountBalance(
            account_id=a.id, kind=a.ref.kind.value, owner_id=a.ref.owner_id,
            qualifier=a.ref.qualifier, currency=a.currency, balance=a.balance,
            pending_in=a.incoming, pending_out=a.outgoing,
        )
        for a in accounts
        if cmd.include_zero or a.debits_pending or a.debits_posted or a.credits_pending
        or a.credits_posted
    ]


async def verify_ledger(cmd: c.VerifyLedger, uow: Any, clock: Clock) -> LedgerReport:
    await ensure_operator(uow, cmd.actor_id, clock.now())
    verifier = LedgerVerifier()
    async for batch in uow.ledger.stream_ledger():
        verifier.feed_items(batch)
    return verifier.report()


async def reverse_journal(cmd: c.ReverseJournal, uow: Any, clock: Clock) -> list[str]:
    """Post the opposite of every posted transfer of a journal (holds are voided instead)."""
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    if not cmd.reason.strip():
        raise DomainError("error.wallet.reason_required")
    transfers = await uow.ledger.journal_transfers(cmd.journal_id)
    if not transfers:
        raise NotFound("error.wallet.journal_not_found", journal=cmd.journal_id)
    if any(t.kind is not TransferKind.POSTED for t in transfers):
        raise DomainError("error.wallet.reversal_unsupported", journal=cmd.journal_id)
    by_id = {a.id: a.ref for a in await uow.ledger.list_accounts()}
    legs = [
        Leg.posted(by_id[t.credit_account_id], by_id[t.debit_account_id], t.amount,
                   Reason.REVERSAL, order_id=t.order_id,
                   data={"reverses": t.id, "reason": cmd.reason.strip()})
        for t in transfers
    ]
    session = LedgerSession(uow)
    await session.lock(*lock_refs_for(legs))
    journal_id = f"reversal:{cmd.journal_id}"
    fp = fingerprint("reversal", journal=cmd.journal_id)
    if await session.existing(journal_id, fp) is not None:
        raise DomainError("error.wallet.already_reversed", journal=cmd.journal_id)
    recorded = await session.record(journal_id, "reversal", fp, legs, now)
    await uow.audit.add(AuditEntry(
        entity="journal", entity_id=cmd.journal_id, action="reverse", actor_id=cmd.actor_id,
        at=now, reason=cmd.reason.strip(), data={"transfers": [t.id for t in recorded]},
    ))
    return [t.id for t in recorded]


COMMAND_HANDLERS: dict[type[Command], Handler] = {
    c.StartPayment: start_payment,
    c.CheckPayment: check_payment,
    c.ConfirmPayment: confirm_payment,
    c.RequestWithdrawal: request_withdrawal,
    c.ApproveWithdrawal: approve_withdrawal,
    c.RejectWithdrawal: reject_withdrawal,
    c.ListWithdrawals: list_withdrawals,
    c.SettleMatured: settle_matured,
    c.ProcessRefunds: process_refunds,
    c.GetStatement: get_statement,
    c.ListBalances: list_balances,
    c.VerifyLedger: verify_ledger,
    c.ReverseJournal: reverse_journal,
}

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {
    RefundRequested: [on_refund_requested],
}
