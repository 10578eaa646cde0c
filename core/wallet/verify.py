"""Reconciliation: recompute every account from the transfers and compare.

`LedgerVerifier` is fed the stored accounts, then every transfer in ledger order, and reports:

- per account, whether the stored `debits/credits × pending/posted` equal what the transfers
  add up to;
- per currency, whether debits equal credits (posted and pending), in the stored totals and
  in the recomputed ones: every currency sums to zero;
- per transfer, that the amount is positive, both accounts exist and share its currency,
  every post/void names an earlier hold with the same accounts, resolves it once, posts no
  more than was held and voids exactly what was held;
- per guarded account, that its recomputed debits never exceed its credits (no overdraft).

It is pure, so the checks themselves are unit-tested against hand-made corruptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from core.wallet.accounts import Account
from core.wallet.ledger import Transfer, TransferKind


@dataclass(frozen=True)
class Discrepancy:
    code: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code} [{self.subject}]: {self.detail}"


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    accounts: int
    transfers: int
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int

    @property
    def balanced(self) -> bool:
        return (
            self.debits_posted == self.credits_posted
            and self.debits_pending == self.credits_pending
        )


@dataclass(frozen=True)
class LedgerReport:
    accounts_checked: int
    transfers_checked: int
    holds_open: int
    currencies: tuple[CurrencyTotals, ...]
    discrepancies: tuple[Discrepancy, ...]

    @property
    def ok(self) -> bool:
        return not self.discrepancies


@dataclass
class _Totals:
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


@dataclass(frozen=True, slots=True)
class _Hold:
    debit: int
    credit: int
    amount: int
    currency: str


@dataclass
class LedgerVerifier:
    accounts: dict[int, Account] = field(default_factory=dict)
    _totals: dict[int, _Totals] = field(default_factory=dict)
    _holds: dict[str, _Hold] = field(default_factory=dict)
    _resolved: set[str] = field(default_factory=set)
    _transfers_by_currency: dict[str, int] = field(default_factory=dict)
    _found: list[Discrepancy] = field(default_factory=list)
    _count: int = 0

    @classmethod
    def of(cls, accounts: Iterable[Account]) -> LedgerVerifier:
        verifier = cls()
        for account in accounts:
            verifier.add_account(account)
        return verifier

    def add_account(self, account: Account) -> None:
        self.accounts[account.id] = account
        self._totals[account.id] = _Totals()

    def feed_items(self, items: Iterable[Account | Transfer]) -> None:
        """Accounts and transfers as `stream_ledger` yields them (accounts first)."""
        for item in items:
            if isinstance(item, Account):
                self.add_account(item)
            else:
                self.feed((item,))

    def _flag(self, code: str, subject: object, detail: str) -> None:
        self._found.append(Discrepancy(code, str(subject), detail))

    def feed(self, transfers: Iterable[Transfer]) -> None:
        for t in transfers:
            self._count += 1
            self._transfers_by_currency[t.currency] = self._transfers_by_currency.get(t.currency, 0) + 1
            if t.amount <= 0:
                self._flag("non_positive_amount", t.id, f"amount {t.amount}")
                continue
            debit, credit = self._totals.get(t.debit_account_id), self._totals.get(t.credit_account_id)
            if debit is None or credit is None:
                self._flag("unknown_account", t.id,
                           f"accounts {t.debit_account_id} -> {t.credit_account_id}")
                continue
            if t.debit_account_id == t.credit_account_id:
                self._flag("same_account", t.id, f"account {t.debit_account_id}")
            for account_id in (t.debit_account_id, t.credit_account_id):
                if self.accounts[account_id].currency != t.currency:
                    self._flag("currency_mismatch", t.id,
                               f"{t.currency} transfer on {self.accounts[account_id].ref}")
            if t.kind is TransferKind.POSTED:
                debit.debits_posted += t.amount
                credit.credits_posted += t.amount
            elif t.kind is TransferKind.PENDING:
                debit.debits_pending += t.amount
                credit.credits_pending += t.amount
                self._holds[t.id] = _Hold(t.debit_account_id, t.credit_account_id, t.amount, t.currency)
            else:
                self._resolve(t, debit, credit)

    def _resolve(self, t: Transfer, debit: _Totals, credit: _Totals) -> None:
        hold = self._holds.get(t.pending_id or "")
        if hold is None:
            self._flag("hold_missing", t.id, f"names hold {t.pending_id} that is not before it")
            return
        if t.pending_id in self._resolved:
            self._flag("hold_resolved_twice", t.id, f"hold {t.pending_id} was already resolved")
            return
        self._resolved.add(t.pending_id or "")
        if (hold.debit, hold.credit, hold.currency) != (t.debit_account_id, t.credit_account_id, t.currency):
            self._flag("hold_mismatch", t.id, f"accounts differ from hold {t.pending_id}")
        if t.kind is TransferKind.POST_PENDING and t.amount > hold.amount:
            self._flag("post_exceeds_hold", t.id, f"posts {t.amount} of a {hold.amount} hold")
        if t.kind is TransferKind.VOID_PENDING and t.amount != hold.amount:
            self._flag("void_amount", t.id, f"voids {t.amount} of a {hold.amount} hold")
        hold_debit, hold_credit = self._totals[hold.debit], self._totals[hold.credit]
        hold_debit.debits_pending -= hold.amount
        hold_credit.credits_pending -= hold.amount
        if t.kind is TransferKind.POST_PENDING:
            debit.debits_posted += t.amount
            credit.credits_posted += t.amount

    def report(self) -> LedgerReport:
        found = list(self._found)
        per_currency: dict[str, list[int]] = {}
        recomputed: dict[str, list[int]] = {}
        counts: dict[str, int] = {}
        for account_id, account in sorted(self.accounts.items()):
            totals = self._totals[account_id]
            stored = (account.debits_pending, account.debits_posted, account.credits_pending,
                      account.credits_posted)
            if stored != totals.as_tuple():
                found.append(Discrepancy(
                    "total_mismatch", f"{account_id} {account.ref}",
                    f"stored (dp, dP, cp, cP) = {stored} but transfers give {totals.as_tuple()}",
                ))
            if min(stored) < 0:
                found.append(Discrepancy("negative_total", f"{account_id} {account.ref}", str(stored)))
            if account.debits_must_not_exceed_credits and (
                totals.debits_pending + totals.debits_posted > totals.credits_posted
            ):
                found.append(Discrepancy(
                    "overdrawn", f"{account_id} {account.ref}",
                    f"debits {totals.debits_pending + totals.debits_posted} exceed credits "
                    f"{totals.credits_posted}",
                ))
            sums = per_currency.setdefault(account.currency, [0, 0, 0, 0])
            again = recomputed.setdefault(account.currency, [0, 0, 0, 0])
            for i, value in enumerate(stored):
                sums[i] += value
            for i, value in enumerate(totals.as_tuple()):
                again[i] += value
            counts[account.currency] = counts.get(account.currency, 0) + 1
        currencies = []
        for currency in sorted(set(per_currency) | set(self._transfers_by_currency)):
            dp, dP, cp, cP = per_currency.get(currency, [0, 0, 0, 0])
            totals = CurrencyTotals(
                currency=currency, accounts=counts.get(currency, 0),
                transfers=self._transfers_by_currency.get(currency, 0),
                debits_posted=dP, credits_posted=cP, debits_pending=dp, credits_pending=cp,
            )
            if not totals.balanced:
                found.append(Discrepancy(
                    "currency_unbalanced", currency,
                    f"stored posted {dP} debits vs {cP} credits, pending {dp} vs {cp}",
                ))
            rdp, rdP, rcp, rcP = recomputed.get(currency, [0, 0, 0, 0])
            if (rdp, rdP) != (rcp, rcP):
                found.append(Discrepancy(
                    "currency_unbalanced", currency,
                    f"recomputed posted {rdP} vs {rcP}, pending {rdp} vs {rcp}",
                ))
            currencies.append(totals)
        return LedgerReport(
            accounts_checked=len(self.accounts),
            transfers_checked=self._count,
            holds_open=len(self._holds) - len(self._resolved),
            currencies=tuple(currencies),
            discrepancies=tuple(found),
        )
