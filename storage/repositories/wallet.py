"""The wallet on SQL: accounts, journals and transfers (`uow.ledger`), gateway payments,
alerts and refunds (`uow.payments`), withdrawals (`uow.withdrawals`).

How balances change without lost updates or deadlocks:

- Guarded accounts a journal debits are locked first, all in one `INSERT … ON CONFLICT DO
  UPDATE … RETURNING` (get-or-create and row lock in one round trip, rows in natural-key
  order so every transaction takes them in the same order). SQLite needs no row locks: its
  writers are serialized by `BEGIN IMMEDIATE` (storage/db.py).
- Every other account change is an atomic increment (`credits_posted = credits_posted + :d`)
  in the journal's last statement, in account id order; the flows write their own rows
  (payment status, earnings) before their journal, so hot accounts such as the platform's
  fees are locked only from that statement to the commit.
- The database refuses what must never happen (CHECK constraints in storage/tables/wallet.py);
  a unique violation on a journal, transfer or hold id means a concurrent writer won the
  race and becomes a ConcurrencyConflict, which the message bus retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.shared.errors import ConcurrencyConflict, NotFound
from core.shared.money import Money
from core.wallet.accounts import Account, AccountKind, AccountRef, flags_for
from core.wallet.ledger import Delta, Reason, Transfer, TransferKind
from core.wallet.model import (
    Earning,
    Payment,
    PaymentAlert,
    PaymentStatus,
    Refund,
    RefundStatus,
    Withdrawal,
    WithdrawalStatus,
)
from core.wallet.ports import JournalRecord
from storage.errors import is_unique_violation
from storage.repositories.base import SqlRepository
from storage.tables import wallet as tables

accounts = tables.wallet_accounts
journals = tables.wallet_journals
transfers = tables.wallet_transfers
earnings = tables.wallet_earnings
payments = tables.wallet_payments
alerts = tables.wallet_payment_alerts
refunds = tables.wallet_refunds
withdrawals = tables.wallet_withdrawals

_NATURAL_KEY = ["kind", "owner_id", "qualifier", "currency"]
# Enum lookups by value without the Enum call machinery (reconciliation reads every row).
_KINDS = {kind.value: kind for kind in TransferKind}
_REASONS = {reason.value: reason for reason in Reason}
_HOLD_REASONS = (Reason.HOLD.value, Reason.COUPON.value)


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        ref=AccountRef(AccountKind(row.kind), row.owner_id, row.currency, row.qualifier),
        debits_pending=row.debits_pending,
        debits_posted=row.debits_posted,
        credits_pending=row.credits_pending,
        credits_posted=row.credits_posted,
        debits_must_not_exceed_credits=bool(row.debits_must_not_exceed_credits),
        credits_must_not_exceed_debits=bool(row.credits_must_not_exceed_debits),
        version=row.version,
    )


def _transfer(row: Any) -> Transfer:
    return Transfer(
        id=row.id,
        journal_id=row.journal_id,
        debit_account_id=row.debit_account_id,
        credit_account_id=row.credit_account_id,
        amount=row.amount,
        currency=row.currency,
        kind=_KINDS[row.kind],
        reason=_REASONS[row.reason],
        created_at=row.created_at,
        pending_id=row.pending_id,
        order_id=row.order_id,
        data=row.data or {},
    )


def _new_account_row(ref: AccountRef, at: datetime) -> dict[str, Any]:
    no_overdraft, no_overcredit = flags_for(ref.kind)
    return {
        "kind": ref.kind.value,
        "owner_id": ref.owner_id,
        "qualifier": ref.qualifier,
        "currency": ref.currency,
        "debits_pending": 0,
        "debits_posted": 0,
        "credits_pending": 0,
        "credits_posted": 0,
        "debits_must_not_exceed_credits": no_overdraft,
        "credits_must_not_exceed_debits": no_overcredit,
        "version": 0,
        "created_at": at,
    }


def _key_of(row: Any) -> AccountRef:
    return AccountRef(AccountKind(row.kind), row.owner_id, row.currency, row.qualifier)


class SqlLedger(SqlRepository):
    # -- accounts ------------------------------------------------------------------------

    async def lock(self, refs: Iterable[AccountRef]) -> dict[AccountRef, Account]:
        wanted = sorted(set(refs))
        if not wanted:
            return {}
        now = self.uow.clock.now()
        statement = self.insert(accounts).values([_new_account_row(r, now) for r in wanted])
        # A no-op update: it takes the row lock (PostgreSQL) and makes RETURNING give the
        # existing row, so get-or-create-and-lock is one round trip.
        statement = statement.on_conflict_do_update(
            index_elements=_NATURAL_KEY, set_={"version": accounts.c.version}
        ).returning(*accounts.c)
        rows = (await self.connection.execute(statement)).all()
        return {_key_of(row): _account(row) for row in rows}

    async def lock_owner(self, kind: AccountKind, owner_id: int) -> list[Account]:
        query = self.for_update(
            sa.select(accounts)
            .where(accounts.c.kind == kind.value, accounts.c.owner_id == owner_id)
            .order_by(accounts.c.currency, accounts.c.qualifier)
        )
        return [_account(row) for row in (await self.connection.execute(query)).all()]

    async def _select(self, refs: Sequence[AccountRef]) -> dict[AccountRef, Account]:
        if len(refs) == 1:
            ref = refs[0]
            condition = sa.and_(
                accounts.c.kind == ref.kind.value, accounts.c.owner_id == ref.owner_id,
                accounts.c.qualifier == ref.qualifier, accounts.c.currency == ref.currency,
            )
        else:
            condition = sa.tuple_(
                accounts.c.kind, accounts.c.owner_id, accounts.c.qualifier, accounts.c.currency
            ).in_([(r.kind.value, r.owner_id, r.qualifier, r.currency) for r in refs])
        rows = (await self.connection.execute(sa.select(accounts).where(condition))).all()
        return {_key_of(row): _account(row) for row in rows}

    async def ensure(self, refs: Iterable[AccountRef]) -> dict[AccountRef, Account]:
        wanted = sorted(set(refs))
        if not wanted:
            return {}
        found = await self._select(wanted)
        missing = [r for r in wanted if r not in found]
        if missing:
            now = self.uow.clock.now()
            rows = (
                await self.connection.execute(
                    self.insert(accounts)
                    .values([_new_account_row(r, now) for r in missing])
                    .on_conflict_do_nothing(index_elements=_NATURAL_KEY)
                    .returning(*accounts.c)
                )
            ).all()
            found.update({_key_of(row): _account(row) for row in rows})
            raced = [r for r in missing if r not in found]
            if raced:  # created by a concurrent transaction between our select and insert
                found.update(await self._select(raced))
        return found

    async def accounts_of(
        self, kinds: Sequence[AccountKind], owner_id: int, currency: str | None = None
    ) -> list[Account]:
        query = sa.select(accounts).where(
            accounts.c.owner_id == owner_id, accounts.c.kind.in_([k.value for k in kinds])
        )
        if currency is not None:
            query = query.where(accounts.c.currency == currency)
        rows = (await self.connection.execute(query.order_by(accounts.c.id))).all()
        return [_account(row) for row in rows]

    async def list_accounts(
        self, kind: AccountKind | None = None, currency: str | None = None
    ) -> list[Account]:
        query = sa.select(accounts).order_by(accounts.c.id)
        if kind is not None:
            query = query.where(accounts.c.kind == kind.value)
        if currency is not None:
            query = query.where(accounts.c.currency == currency)
        return [_account(row) for row in (await self.connection.execute(query)).all()]

    # -- journals and transfers ------------------------------------------------------------

    async def journal(self, journal_id: str) -> JournalRecord | None:
        row = (
            await self.connection.execute(sa.select(journals).where(journals.c.id == journal_id))
        ).first()
        if row is None:
            return None
        return JournalRecord(
            id=row.id, operation=row.operation, fingerprint=row.fingerprint,
            created_at=row.created_at, order_id=row.order_id, result=row.result or {},
        )

    async def journal_transfers(self, journal_id: str) -> list[Transfer]:
        rows = (
            await self.connection.execute(
                sa.select(transfers)
                .where(transfers.c.journal_id == journal_id)
                .order_by(transfers.c.seq)
            )
        ).all()
        return [_transfer(row) for row in rows]

    async def open_holds(self, order_id: int) -> list[Transfer]:
        resolution = transfers.alias("resolution")
        query = (
            sa.select(transfers)
            .where(
                transfers.c.order_id == order_id,
                transfers.c.kind == TransferKind.PENDING.value,
                transfers.c.reason.in_(_HOLD_REASONS),
                ~sa.exists().where(resolution.c.pending_id == transfers.c.id),
            )
            .order_by(transfers.c.seq)
        )
        return [_transfer(row) for row in (await self.connection.execute(query)).all()]

    async def transfers(self, ids: Iterable[str]) -> dict[str, Transfer]:
        wanted = list(ids)
        if not wanted:
            return {}
        rows = (
            await self.connection.execute(sa.select(transfers).where(transfers.c.id.in_(wanted)))
        ).all()
        return {row.id: _transfer(row) for row in rows}

    async def resolutions(self, pending_ids: Iterable[str]) -> dict[str, Transfer]:
        wanted = list(pending_ids)
        if not wanted:
            return {}
        rows = (
            await self.connection.execute(
                sa.select(transfers).where(transfers.c.pending_id.in_(wanted))
            )
        ).all()
        return {row.pending_id: _transfer(row) for row in rows}

    async def write(
        self, journal: JournalRecord, new: Sequence[Transfer], deltas: Mapping[int, Delta]
    ) -> None:
        try:
            await self.connection.execute(
                journals.insert().values(
                    id=journal.id, operation=journal.operation, fingerprint=journal.fingerprint,
                    order_id=journal.order_id, result=dict(journal.result),
                    created_at=journal.created_at,
                )
            )
            await self.connection.execute(
                transfers.insert(),
                [
                    {
                        "id": t.id, "journal_id": t.journal_id,
                        "debit_account_id": t.debit_account_id,
                        "credit_account_id": t.credit_account_id, "amount": t.amount,
                        "currency": t.currency, "kind": t.kind.value, "reason": t.reason.value,
                        "pending_id": t.pending_id, "order_id": t.order_id,
                        "data": dict(t.data), "created_at": t.created_at,
                    }
                    for t in new
                ],
            )
        except IntegrityError as exc:
            if is_unique_violation(exc):
                # Somebody recorded this journal or resolved this hold first.
                raise ConcurrencyConflict("wallet_journal", journal=journal.id) from exc
            raise
        if deltas:
            await self.connection.execute(
                accounts.update()
                .where(accounts.c.id == sa.bindparam("account_id"))
                .values(
                    debits_pending=accounts.c.debits_pending + sa.bindparam("d_dp"),
                    debits_posted=accounts.c.debits_posted + sa.bindparam("d_dP"),
                    credits_pending=accounts.c.credits_pending + sa.bindparam("d_cp"),
                    credits_posted=accounts.c.credits_posted + sa.bindparam("d_cP"),
                    version=accounts.c.version + 1,
                ),
                [
                    {
                        "account_id": account_id, "d_dp": d.debits_pending,
                        "d_dP": d.debits_posted, "d_cp": d.credits_pending,
                        "d_cP": d.credits_posted,
                    }
                    for account_id, d in sorted(deltas.items())
                ],
            )

    async def history(self, account_ids: Sequence[int], limit: int) -> list[Transfer]:
        if not account_ids:
            return []
        query = (
            sa.select(transfers)
            .where(
                sa.or_(
                    transfers.c.debit_account_id.in_(account_ids),
                    transfers.c.credit_account_id.in_(account_ids),
                )
            )
            .order_by(transfers.c.seq.desc())
            .limit(limit)
        )
        return [_transfer(row) for row in (await self.connection.execute(query)).all()]

    async def stream_ledger(self, batch_size: int = 5000) -> AsyncIterator[list[Account | Transfer]]:
        """Every account, then every transfer in ledger order, read by ONE statement.

        One statement sees one snapshot even under READ COMMITTED, so totals and transfers
        agree while payments keep flowing during a reconciliation.
        """

        def null(type_: Any) -> Any:
            return sa.cast(sa.null(), type_)

        a, t = accounts.c, transfers.c
        big, text = sa.BigInteger(), sa.String()
        account_part = sa.select(
            sa.literal(0).label("part"), a.id.label("n"),
            a.kind.label("a_kind"), a.owner_id.label("a_owner"), a.qualifier.label("a_qualifier"),
            a.currency.label("currency"), a.debits_pending.label("d_pending"),
            a.debits_posted.label("d_posted"), a.credits_pending.label("c_pending"),
            a.credits_posted.label("c_posted"),
            sa.cast(a.debits_must_not_exceed_credits, sa.Integer).label("f_debits"),
            sa.cast(a.credits_must_not_exceed_debits, sa.Integer).label("f_credits"),
            a.version.label("version"),
            null(text).label("t_id"), null(text).label("t_journal"), null(big).label("t_debit"),
            null(big).label("t_credit"), null(big).label("t_amount"), null(text).label("t_kind"),
            null(text).label("t_reason"), null(text).label("t_pending"),
            null(big).label("t_order"), null(a.created_at.type).label("t_created"),
        )
        transfer_part = sa.select(
            sa.literal(1), t.seq, null(text), null(big), null(text), t.currency, null(big),
            null(big), null(big), null(big), null(sa.Integer), null(sa.Integer), null(sa.Integer),
            t.id, t.journal_id, t.debit_account_id, t.credit_account_id, t.amount, t.kind,
            t.reason, t.pending_id, t.order_id, t.created_at,
        )
        union = sa.union_all(account_part, transfer_part).subquery()
        query = sa.select(union).order_by(union.c.part, union.c.n)
        result = await self.connection.stream(query)
        async for partition in result.partitions(batch_size):
            items: list[Account | Transfer] = []
            for row in partition:
                if row.part == 0:
                    items.append(Account(
                        id=row.n,
                        ref=AccountRef(AccountKind(row.a_kind), row.a_owner, row.currency,
                                       row.a_qualifier),
                        debits_pending=row.d_pending, debits_posted=row.d_posted,
                        credits_pending=row.c_pending, credits_posted=row.c_posted, debits_must_not_exceed_credits=bool(row.f_debits),
                        credits_must_not_exceed_debits=bool(row.f_credits), version=row.version,
                    ))
                else:
                    items.append(Transfer(
                        id=row.t_id, journal_id=row.t_journal, debit_account_id=row.t_debit,
                        credit_account_id=row.t_credit, amount=row.t_amount,
                        currency=row.currency, kind=_KINDS[row.t_kind],
                        reason=_REASONS[row.t_reason], created_at=row.t_created,
                        pending_id=row.t_pending, order_id=row.t_order,
                    ))
            yield items

    # -- earnings ------------------------------------------------------------------------

    async def add_earning(self, earning: Earning) -> None:
        await self.connection.execute(
            self.insert(earnings)
            .values(
                provider_id=earning.provider_id, amount=earning.amount.amount,
                currency=earning.amount.currency, order_id=earning.order_id,
                journal_id=earning.journal_id, earned_at=earning.earned_at,
            )
            .on_conflict_do_nothing(index_elements=["journal_id"])
        )

    async def due_earnings(self, earned_before: datetime, limit: int) -> list[Earning]:
        query = (
            sa.select(earnings)
            .where(earnings.c.settled_at.is_(None), earnings.c.earned_at <= earned_before)
            .order_by(earnings.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            # Two sweepers never settle the same earning; each takes what the other left.
            query = query.with_for_update(skip_locked=True)
        rows = (await self.connection.execute(query)).all()
        return [
            Earning(
                id=row.id, provider_id=row.provider_id,
                amount=Money(row.amount, row.currency), journal_id=row.journal_id,
                earned_at=row.earned_at, order_id=row.order_id, settled_at=row.settled_at,
            )
            for row in rows
        ]

    async def mark_settled(self, earning_id: int, at: datetime) -> None:
        await self.connection.execute(
            earnings.update().where(earnings.c.id == earning_id).values(settled_at=at)
        )

    async def unsettled_total(self, provider_id: int, currency: str) -> int:
        total = (
            await self.connection.execute(
                sa.select(sa.func.coalesce(sa.func.sum(earnings.c.amount), 0)).where(
                    earnings.c.provider_id == provider_id, earnings.c.currency == currency,
                    earnings.c.settled_at.is_(None),
                )
            )
        ).scalar_one()
        return int(total)


# -- payments, alerts, refunds -------------------------------------------------------------


def _payment(row: Any) -> Payment:
    return Payment(
        id=row.id, gateway=row.gateway, payment_ref=row.payment_ref,
        customer_id=row.customer_id, purpose=row.purpose, order_id=row.order_id,
        amount=Money(row.amount, row.currency), created_at=row.created_at,
        status=PaymentStatus(row.status), is_test=bool(row.is_test),
        gateway_charge_id=row.gateway_charge_id, paid_at=row.paid_at, refunded=row.refunded,
        version=row.version,
    )


def _refund(row: Any) -> Refund:
    return Refund(
        id=row.id, payment_id=row.payment_id, gateway=row.gateway, payment_ref=row.payment_ref,
        customer_id=row.customer_id, order_id=row.order_id,
        amount=Money(row.amount, row.currency), hold_transfer_id=row.hold_transfer_id,
        requested_at=row.requested_at, status=RefundStatus(row.status),
        decided_at=row.decided_at, gateway_ref=row.gateway_ref, failure=row.failure,
        version=row.version,
    )


class SqlPayments(SqlRepository):
    async def add(self, payment: Payment) -> Payment:
        try:
            payment.id = (
                await self.connection.execute(
                    payments.insert()
                    .values(
                        gateway=payment.gateway, payment_ref=payment.payment_ref,
                        customer_id=payment.customer_id, purpose=payment.purpose,
                        order_id=payment.order_id, amount=payment.amount.amount,
                        currency=payment.amount.currency, status=payment.status.value,
                        is_test=payment.is_test, gateway_charge_id=payment.gateway_charge_id,
                        refunded=payment.refunded, created_at=payment.created_at,
                        paid_at=payment.paid_at, version=0,
                    )
                    .returning(payments.c.id)
                )
            ).scalar_one()
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise ConcurrencyConflict("wallet_payment", ref=payment.payment_ref) from exc
            raise
        payment.version = 0
        self.uow.track(payment)
        return payment

    async def lock_or_add(self, payment: Payment) -> Payment:
        """The payment (gateway, payment_ref), created from `payment` if new, row-locked."""
        statement = self.insert(payments).values(
            gateway=payment.gateway, payment_ref=payment.payment_ref,
            customer_id=payment.customer_id, purpose=payment.purpose, order_id=payment.order_id,
            amount=payment.amount.amount, currency=payment.amount.currency,
            status=payment.status.value, is_test=payment.is_test,
            gateway_charge_id=payment.gateway_charge_id, refunded=payment.refunded,
            created_at=payment.created_at, paid_at=payment.paid_at, version=0,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["gateway", "payment_ref"], set_={"version": payments.c.version}
        ).returning(*payments.c)
        found = _payment((await self.connection.execute(statement)).one())
        self.uow.track(found)
        return found

    async def get(self, gateway: str, payment_ref: str, *, for_update: bool = False) -> Payment | None:
        query = sa.select(payments).where(
            payments.c.gateway == gateway, payments.c.payment_ref == payment_ref
        )
        row = (await self.connection.execute(self.for_update(query) if for_update else query)).first()
        if row is None:
            return None
        payment = _payment(row)
        self.uow.track(payment)
        return payment

    async def for_order(self, order_id: int, *, for_update: bool = False) -> list[Payment]:
        query = sa.select(payments).where(payments.c.order_id == order_id).order_by(payments.c.id)
        rows = (await self.connection.execute(self.for_update(query) if for_update else query)).all()
        found = [_payment(row) for row in rows]
        for payment in found:
            self.uow.track(payment)
        return found

    async def save(self, payment: Payment) -> None:
        assert payment.id is not None
        payment.version = await self.update_versioned(
            payments, {"id": payment.id}, payment.version,
            {"status": payment.status.value, "gateway_charge_id": payment.gateway_charge_id,
             "paid_at": payment.paid_at, "refunded": payment.refunded},
        )

    async def record_alert(self, alert: PaymentAlert) -> bool:
        result = await self.connection.execute(
            self.insert(alerts)
            .values(
                gateway=alert.gateway, payment_ref=alert.payment_ref, problem=alert.problem,
                expected_amount=alert.expected.amount if alert.expected else None,
                expected_currency=alert.expected.currency if alert.expected else None,
                received_amount=alert.received.amount, received_currency=alert.received.currency,
                at=alert.at,
            )
            .on_conflict_do_nothing(index_elements=["gateway", "payment_ref", "problem"])
        )
        return bool(result.rowcount == 1)

    async def alerts(self, limit: int = 50) -> list[PaymentAlert]:
        rows = (
            await self.connection.execute(sa.select(alerts).order_by(alerts.c.id.desc()).limit(limit))
        ).all()
        return [
            PaymentAlert(
                id=row.id, gateway=row.gateway, payment_ref=row.payment_ref, problem=row.problem,
                received=Money(row.received_amount, row.received_currency), at=row.at,
                expected=(Money(row.expected_amount, row.expected_currency)
                          if row.expected_currency else None),
            )
            for row in rows
        ]

    async def add_refund(self, refund: Refund) -> Refund:
        refund.id = (
            await self.connection.execute(
                refunds.insert()
                .values(
                    payment_id=refund.payment_id, gateway=refund.gateway,
                    payment_ref=refund.payment_ref, customer_id=refund.customer_id,
                    order_id=refund.order_id, amount=refund.amount.amount,
                    currency=refund.amount.currency, hold_transfer_id=refund.hold_transfer_id,
                    status=refund.status.value, requested_at=refund.requested_at, version=0,
                )
                .returning(refunds.c.id)
            )
        ).scalar_one()
        refund.version = 0
        self.uow.track(refund)
        return refund

    async def get_refund(self, refund_id: int, *, for_update: bool = False) -> Refund | None:
        query = sa.select(refunds).where(refunds.c.id == refund_id)
        row = (await self.connection.execute(self.for_update(query) if for_update else query)).first()
        if row is None:
            return None
        refund = _refund(row)
        self.uow.track(refund)
        return refund

    async def save_refund(self, refund: Refund) -> None:
        assert refund.id is not None
        refund.version = await self.update_versioned(
            refunds, {"id": refund.id}, refund.version,
            {"status": refund.status.value, "decided_at": refund.decided_at,
             "gateway_ref": refund.gateway_ref, "failure": refund.failure},
        )

    async def refunds_waiting(self, requested_before: datetime, limit: int) -> list[int]:
        query = (
            sa.select(refunds.c.id)
            .where(refunds.c.status == RefundStatus.REQUESTED.value,
                   refunds.c.requested_at <= requested_before)
            .order_by(refunds.c.id)
            .limit(limit)
        )
        return list((await self.connection.execute(query)).scalars())


# -- withdrawals ---------------------------------------------------------------------------


def _withdrawal(row: Any) -> Withdrawal:
    return Withdrawal(
        id=row.id, provider_id=row.provider_id, amount=Money(row.amount, row.currency),
        fee=Money(row.fee, row.currency), method=row.method, requested_at=row.requested_at,
        status=WithdrawalStatus(row.status), decided_at=row.decided_at,
        decided_by=row.decided_by, reason=row.reason, payout_ref=row.payout_ref,
        version=row.version,
    )


class SqlWithdrawals(SqlRepository):
    async def add(self, withdrawal: Withdrawal) -> Withdrawal:
        withdrawal.id = (
            await self.connection.execute(
                withdrawals.insert()
                .values(
                    provider_id=withdrawal.provider_id, amount=withdrawal.amount.amount,
                    fee=withdrawal.fee.amount, currency=withdrawal.amount.currency,
                    method=withdrawal.method, status=withdrawal.status.value,
                    requested_at=withdrawal.requested_at, version=0,
                )
                .returning(withdrawals.c.id)
            )
        ).scalar_one()
        withdrawal.version = 0
        self.uow.track(withdrawal)
        return withdrawal

    async def get(self, withdrawal_id: int, *, for_update: bool = False) -> Withdrawal:
        query = sa.select(withdrawals).where(withdrawals.c.id == withdrawal_id)
        row = (await self.connection.execute(self.for_update(query) if for_update else query)).first()
        if row is None:
            raise NotFound("error.wallet.withdrawal_not_found", withdrawal=withdrawal_id)
        withdrawal = _withdrawal(row)
        self.uow.track(withdrawal)
        return withdrawal

    async def save(self, withdrawal: Withdrawal) -> None:
        assert withdrawal.id is not None
        withdrawal.version = await self.update_versioned(
            withdrawals, {"id": withdrawal.id}, withdrawal.version,
            {"status": withdrawal.status.value, "decided_at": withdrawal.decided_at,
             "decided_by": withdrawal.decided_by, "reason": withdrawal.reason,
             "payout_ref": withdrawal.payout_ref},
        )

    async def list(
        self, status: str | None = None, provider_id: int | None = None, limit: int = 50
    ) -> list[Withdrawal]:
        query = sa.select(withdrawals).order_by(withdrawals.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(withdrawals.c.status == status)
        if provider_id is not None:
            query = query.where(withdrawals.c.provider_id == provider_id)
        found = [_withdrawal(row) for row in (await self.connection.execute(query)).all()]
        for withdrawal in found:
            self.uow.track(withdrawal)
        return found

    async def requested_since(self, provider_id: int, currency: str, since: datetime) -> int:
        total = (
            await self.connection.execute(
                sa.select(sa.func.coalesce(sa.func.sum(withdrawals.c.amount), 0)).where(
                    withdrawals.c.provider_id == provider_id,
                    withdrawals.c.currency == currency,
                    withdrawals.c.requested_at > since,
                    withdrawals.c.status != WithdrawalStatus.REJECTED.value,
                )
            )
        ).scalar_one()
        return int(total)
