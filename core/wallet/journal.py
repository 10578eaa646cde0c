"""Recording journals: lock what must be locked, replay what was done, append what is new.

A journal is one business operation (pay an order, capture it, request a withdrawal): an
idempotency key, a fingerprint of the request and its transfer legs. `LedgerSession` is
used by every wallet flow inside the caller's unit of work:

1. `lock(...)` the guarded accounts the flow will debit (get-or-create, row locks on
   PostgreSQL, taken in one statement in a fixed order so two flows cannot deadlock on them);
2. `existing(journal_id, fingerprint)` returns the first result of a replayed request and
   refuses a reused key with a different request (Formance's rule);
3. `record(...)` resolves the other accounts, checks every leg (`core.wallet.ledger.apply`)
   and appends the journal, its transfers and the balance changes.

`open(...)` does 1 and 2 (and reads the order's open holds when asked) in one call, which
the storage answers in one round trip when nothing raced it: the hot flows (paying and
capturing an order) use it.

Only a leg that makes a guarded account owe more needs that account locked; credits,
posts and voids never can, so they are applied as increments without a lock. That keeps
hot accounts (platform fees, gateway clearing) out of the lock queue until the last
statement of the transaction, and means the other accounts of a journal are needed by id
only (`uow.ledger.account_ids`), never by their totals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from core.shared.errors import DomainError
from core.wallet.accounts import Account, AccountKind, AccountRef, flags_for
from core.wallet.ledger import Delta, Leg, Transfer, TransferKind, apply, transfer_id
from core.wallet.model import Earning
from core.wallet.ports import JournalRecord, Opening


class LedgerSession:
    def __init__(self, uow: Any) -> None:
        self.uow = uow
        self.locked: dict[AccountRef, Account] = {}
        self.ids: dict[AccountRef, int] = {}  # of accounts needed unlocked (see `record`)

    async def lock(self, *refs: AccountRef) -> dict[AccountRef, Account]:
        wanted = [ref for ref in refs if ref not in self.locked]
        if wanted:
            self.locked.update(await self.uow.ledger.lock(wanted))
        return {ref: self.locked[ref] for ref in refs}

    async def lock_owner(self, kind: AccountKind, owner_id: int) -> list[Account]:
        accounts: list[Account] = await self.uow.ledger.lock_owner(kind, owner_id)
        for account in accounts:
            self.locked[account.ref] = account
        return accounts

    async def existing(self, journal_id: str, fingerprint: str) -> JournalRecord | None:
        """The journal if this exact request was recorded before; refuse a different one."""
        journal: JournalRecord | None = await self.uow.ledger.journal(journal_id)
        return _same_request(journal, journal_id, fingerprint)

    async def open(
        self,
        journal_id: str,
        fingerprint: str,
        *,
        lock: Sequence[AccountRef] = (),
        lock_owner: tuple[AccountKind, int] | None = None,
        holds_of: int | None = None,
        legs: Sequence[Leg] = (),
    ) -> tuple[JournalRecord | None, list[Transfer]]:
        """`lock` / `lock_owner`, then `existing`, and the open holds of order `holds_of`.
        `legs`: what the flow will record, when it knows already, so the accounts they need
        besides the locked ones are got or created in the same step."""
        lock = sorted(set(lock) - set(self.locked))
        others = {ref for leg in legs for ref in (leg.debit, leg.credit) if ref is not None}
        others -= set(lock) | set(self.locked) | set(self.ids)
        opening: Opening = await self.uow.ledger.open(
            journal_id, lock=lock, lock_owner=lock_owner, holds_of=holds_of,
            ensure=sorted(others),
        )
        for account in opening.locked:
            self.locked[account.ref] = account
        self.ids.update(opening.ids)
        journal = _same_request(opening.journal, journal_id, fingerprint)
        return journal, list(opening.holds or [])

    async def record(
        self,
        journal_id: str,
        operation: str,
        fingerprint: str,
        legs: Sequence[Leg],
        at: datetime,
        *,
        order_id: int | None = None,
        result: Mapping[str, Any] | None = None,
        holds_verified: bool = False,
        earning: Earning | None = None,
    ) -> list[Transfer]:
        """Check and append the journal. `holds_verified`: the caller read the holds it
        resolves as unresolved after locking their escrow, so they need no second look.
        `earning`: the provider earning this journal creates, stored with it."""
        if not legs:
            raise DomainError("error.wallet.nothing_to_record", journal=journal_id)
        for leg in legs:
            if leg.adds_debit and leg.debit is not None and leg.debit.guarded:
                if leg.debit not in self.locked:
                    raise RuntimeError(f"{leg.debit} is debited by {journal_id} without a lock")
        refs = {ref for leg in legs for ref in (leg.debit, leg.credit) if ref is not None}
        accounts: dict[AccountRef, Account] = {r: self.locked[r] for r in refs if r in self.locked}
        missing = [r for r in refs if r not in accounts]
        if missing:
            # Not locked, so only credited or unguarded: `apply` needs their ids and flags,
            # never their totals.
            ids = {r: self.ids[r] for r in missing if r in self.ids}
            unknown = [r for r in missing if r not in ids]
            if unknown:
                ids.update(await self.uow.ledger.account_ids(unknown))
            for ref in missing:
                no_overdraft, no_overcredit = flags_for(ref.kind)
                accounts[ref] = Account(
                    id=ids[ref], ref=ref, debits_must_not_exceed_credits=no_overdraft,
                    credits_must_not_exceed_debits=no_overcredit,
                )
        transfers = [
            _transfer(journal_id, index, leg, accounts, at) for index, leg in enumerate(legs)
        ]
        pendings = {leg.pending.id: leg.pending for leg in legs if leg.pending is not None}
        resolved: dict[str, Transfer] = {}
        if pendings and not holds_verified:
            resolved = await self.uow.ledger.resolutions(pendings)
        by_id = {account.id: account for account in accounts.values()}
        deltas = apply(transfers, by_id, pendings, resolved)
        journal = JournalRecord(
            id=journal_id, operation=operation, fingerprint=fingerprint, created_at=at,
            order_id=order_id, result=dict(result or {}),
        )
        await self.uow.ledger.write(journal, transfers, deltas, earning=earning)
        # Later journals in this transaction check guards against what this one changed.
        for ref, account in list(self.locked.items()):
            delta = deltas.get(account.id)
            if delta is not None:
                self.locked[ref] = _with_delta(account, delta)
        return transfers


def _same_request(
    journal: JournalRecord | None, journal_id: str, fingerprint: str
) -> JournalRecord | None:
    if journal is not None and journal.fingerprint != fingerprint:
        raise DomainError("error.wallet.idempotency_conflict", journal=journal_id)
    return journal


def _transfer(
    journal_id: str, index: int, leg: Leg, accounts: Mapping[AccountRef, Account], at: datetime
) -> Transfer:
    data = dict(leg.data)
    if leg.kind in (TransferKind.POST_PENDING, TransferKind.VOID_PENDING):
        pending = leg.pending
        assert pending is not None, "a post or void names its hold"
        return Transfer(
            id=transfer_id(journal_id, index), journal_id=journal_id,
            debit_account_id=pending.debit_account_id, credit_account_id=pending.credit_account_id,
            amount=leg.amount, currency=pending.currency, kind=leg.kind, reason=leg.reason,
            created_at=at, pending_id=pending.id,
            order_id=leg.order_id if leg.order_id is not None else pending.order_id, data=data,
        )
    assert leg.debit is not None and leg.credit is not None
    if leg.debit.currency != leg.credit.currency:
        raise DomainError(
            "error.wallet.currency_mismatch", expected=leg.debit.currency, got=leg.credit.currency
        )
    return Transfer(
        id=transfer_id(journal_id, index), journal_id=journal_id,
        debit_account_id=accounts[leg.debit].id, credit_account_id=accounts[leg.credit].id,
        amount=leg.amount, currency=leg.debit.currency, kind=leg.kind, reason=leg.reason,
        created_at=at, order_id=leg.order_id, data=data,
    )


def _with_delta(account: Account, delta: Delta) -> Account:
    return dataclasses.replace(
        account,
        debits_pending=account.debits_pending + delta.debits_pending,
        debits_posted=account.debits_posted + delta.debits_posted,
        credits_pending=account.credits_pending + delta.credits_pending,
        credits_posted=account.credits_posted + delta.credits_posted,
        version=account.version + 1,
    )


def lock_refs_for(legs: Iterable[Leg]) -> list[AccountRef]:
    """The accounts `legs` would make owe more: what a flow must lock before recording."""
    return sorted(
        {leg.debit for leg in legs if leg.adds_debit and leg.debit is not None and leg.debit.guarded}
    )
