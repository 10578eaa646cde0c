"""The wallet on SQL: accounts, journals and transfers (`uow.ledger`), gateway payments,
alerts and refunds (`uow.payments`), withdrawals (`uow.withdrawals`).

How balances change without lost updates or deadlocks:

- Guarded accounts a journal debits are locked first, in natural-key order so every
  transaction takes them in the same order (get-or-create and row lock in one statement).
  SQLite needs no row locks: its writers are serialized by `BEGIN IMMEDIATE` (storage/db.py).
- Every other account change is an atomic increment (`credits_posted = credits_posted + :d`)
  in the journal's write, accounts in id order, so hot accounts such as the platform's fees
  are locked only from that statement to the commit.
- The database refuses what must never happen (CHECK constraints in storage/tables/wallet.py);
  a unique violation on a journal, transfer or hold id means a concurrent writer won the
  race and becomes a ConcurrencyConflict, which the message bus retries.

What an escrow lifecycle costs (the hot path, `open` + `write`): on PostgreSQL a flow opens
its journal with ONE statement (locks, the other accounts' ids, the journal for a replay,
the order's open holds) and writes it with ONE (journal, transfers, earning, balance
changes; data-modifying CTEs over arrays, so one prepared text serves any number of legs).
Every statement is built once at import, so executions are served from SQLAlchemy's
compiled cache. Ids of accounts that need no lock are remembered per engine (an account is
never deleted nor re-keyed); a remembered id is matched again by natural key when written.
SQLite takes a few more statements (no data-modifying CTEs), each cheap and local.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
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
from core.wallet.ports import JournalRecord, Opening
from storage.errors import is_unique_violation
from storage.repositories.base import SqlRepository
from storage.tables import wallet as tables
from storage.tables.base import JSONType, UTCDateTime

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


def _wanted_params(refs: Sequence[AccountRef], prefix: str = "") -> dict[str, list[Any]]:
    flags = [flags_for(r.kind) for r in refs]
    return {
        f"{prefix}kinds": [r.kind.value for r in refs],
        f"{prefix}owners": [r.owner_id for r in refs],
        f"{prefix}qualifiers": [r.qualifier for r in refs],
        f"{prefix}currencies": [r.currency for r in refs],
        f"{prefix}no_overdraft": [f[0] for f in flags],
        f"{prefix}no_overcredit": [f[1] for f in flags],
    }


def _write_params(
    journal: JournalRecord, new: Sequence[Transfer], changes: Sequence[tuple[int, Delta]],
    refs: Mapping[int, AccountRef], earning: Earning | None,
) -> dict[str, Any]:
    keys = [refs.get(account_id) for account_id, _ in changes]
    return {
        "e_provider": earning.provider_id if earning else None,
        "e_amount": earning.amount.amount if earning else None,
        "e_currency": earning.amount.currency if earning else None,
        "e_order": earning.order_id if earning else None,
        "id": journal.id, "operation": journal.operation, "fingerprint": journal.fingerprint,
        "order_id": journal.order_id, "result": json.dumps(dict(journal.result)),
        "created_at": journal.created_at,
        "t_ids": [t.id for t in new], "t_debits": [t.debit_account_id for t in new],
        "t_credits": [t.credit_account_id for t in new], "t_amounts": [t.amount for t in new],
        "t_currencies": [t.currency for t in new], "t_kinds": [t.kind.value for t in new],
        "t_reasons": [t.reason.value for t in new], "t_pendings": [t.pending_id for t in new],
        "t_orders": [t.order_id for t in new], "t_data": [json.dumps(dict(t.data)) for t in new],
        "a_ids": [account_id for account_id, _ in changes],
        "a_dp": [d.debits_pending for _, d in changes],
        "a_dpo": [d.debits_posted for _, d in changes],
        "a_cp": [d.credits_pending for _, d in changes],
        "a_cpo": [d.credits_posted for _, d in changes],
        "a_kinds": [k.kind.value if k else None for k in keys],
        "a_owners": [k.owner_id if k else None for k in keys],
        "a_qualifiers": [k.qualifier if k else None for k in keys],
        "a_currencies": [k.currency if k else None for k in keys],
    }


def _opened_account(row: Any) -> Account:
    return Account(
        id=row.a_id,
        ref=AccountRef(AccountKind(row.a_kind), row.a_owner_id, row.a_currency, row.a_qualifier),
        debits_pending=row.a_debits_pending, debits_posted=row.a_debits_posted,
        credits_pending=row.a_credits_pending, credits_posted=row.a_credits_posted,
        debits_must_not_exceed_credits=bool(row.a_debits_must_not_exceed_credits),
        credits_must_not_exceed_debits=bool(row.a_credits_must_not_exceed_debits),
        version=row.a_version,
    )


def _opened_journal(row: Any) -> JournalRecord:
    return JournalRecord(
        id=row.j_id, operation=row.j_operation, fingerprint=row.j_fingerprint,
        created_at=row.j_created_at, order_id=row.j_order_id, result=row.j_result or {},
    )


def _opened_hold(row: Any) -> tuple[int, Transfer]:
    return row.t_seq, Transfer(
        id=row.t_id, journal_id=row.t_journal_id, debit_account_id=row.t_debit_account_id,
        credit_account_id=row.t_credit_account_id, amount=row.t_amount,
        currency=row.t_currency, kind=_KINDS[row.t_kind], reason=_REASONS[row.t_reason],
        created_at=row.t_created_at, pending_id=row.t_pending_id, order_id=row.t_order_id,
        data=row.t_data or {},
    )


def _keys(refs: Sequence[AccountRef]) -> str:
    return json.dumps([[r.kind.value, r.owner_id, r.qualifier, r.currency] for r in refs])


def _key_params(ref: AccountRef | None) -> dict[str, Any]:
    if ref is None:
        return {"k_kind": None, "k_owner_id": None, "k_qualifier": None, "k_currency": None}
    return {"k_kind": ref.kind.value, "k_owner_id": ref.owner_id, "k_qualifier": ref.qualifier,
            "k_currency": ref.currency}


def forget_account_ids(engine: Any) -> None:
    """Forget the account ids remembered for `engine` (after deleting ledger rows under it,
    which only tests do)."""
    _ACCOUNT_IDS.pop(getattr(engine, "sync_engine", engine), None)


# -- prebuilt statements ----------------------------------------------------------------------
# Built once, so each execution is served from SQLAlchemy's compiled cache with no statement
# construction per call. The PostgreSQL ones pass lists as arrays (`unnest`), so one text
# serves any number of accounts or legs and is prepared once per connection.

_ACCOUNT_COLUMNS = (
    "id", "kind", "owner_id", "qualifier", "currency", "debits_pending", "debits_posted",
    "credits_pending", "credits_posted", "debits_must_not_exceed_credits",
    "credits_must_not_exceed_debits", "version",
)
_JOURNAL_COLUMNS = ("id", "operation", "fingerprint", "order_id", "result", "created_at")
_TRANSFER_COLUMNS = (
    "seq", "id", "journal_id", "debit_account_id", "credit_account_id", "amount", "currency",
    "kind", "reason", "pending_id", "order_id", "data", "created_at",
)
# The rows of `open`: part "a" (a locked account, with the version the statement's snapshot
# saw and whether this statement created it), "i" (the id of another account the flow
# needs), "j" (the journal), "t" (an open hold).
_OPENING = (
    [("part", "VARCHAR")]
    + [(f"a_{name}", type_) for name, type_ in zip(_ACCOUNT_COLUMNS, (
        "BIGINT", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "BIGINT", "BIGINT", "BIGINT",
        "BIGINT", "BOOLEAN", "BOOLEAN", "INTEGER"), strict=True)]
    + [("a_seen_version", "INTEGER"), ("a_created", "BOOLEAN")]
    + [(f"j_{name}", type_) for name, type_ in zip(_JOURNAL_COLUMNS, (
        "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "JSONB", "TIMESTAMP WITH TIME ZONE"),
        strict=True)]
    + [(f"t_{name}", type_) for name, type_ in zip(_TRANSFER_COLUMNS, (
        "BIGINT", "VARCHAR", "VARCHAR", "BIGINT", "BIGINT", "BIGINT", "VARCHAR", "VARCHAR",
        "VARCHAR", "VARCHAR", "BIGINT", "JSONB", "TIMESTAMP WITH TIME ZONE"), strict=True)]
)


def _opening_select(dialect: str, part: str, values: Mapping[str, str], source: str) -> str:
    """One branch of the `open` union: `values` by column name, NULL for the rest."""
    null = (lambda type_: f"CAST(NULL AS {type_})") if dialect == "postgresql" else (
        lambda type_: "NULL")
    columns = [f"'{part}' AS part"] + [
        f"{values[name]} AS {name}" if name in values else f"{null(type_)} AS {name}"
        for name, type_ in _OPENING[1:]
    ]
    return "SELECT " + ", ".join(columns) + " " + source


def _opening_reads(dialect: str) -> str:
    journal = _opening_select(
        dialect, "j", {f"j_{name}": f"j.{name}" for name in _JOURNAL_COLUMNS},
        "FROM wallet_journals j WHERE j.id = :journal_id",
    )
    holds = _opening_select(
        dialect, "t", {f"t_{name}": f"t.{name}" for name in _TRANSFER_COLUMNS},
        "FROM wallet_transfers t WHERE t.order_id = :holds_of AND t.kind = 'pending' "
        "AND t.reason IN ('hold', 'coupon') "
        "AND NOT EXISTS (SELECT 1 FROM wallet_transfers r WHERE r.pending_id = t.id)",
    )
    return f"{journal} UNION ALL {holds}"


_RESULT_TYPES: dict[str, Any] = {
    "VARCHAR": sa.String(), "BIGINT": sa.BigInteger(), "INTEGER": sa.Integer(),
    "BOOLEAN": sa.Boolean(), "JSONB": JSONType, "TIMESTAMP WITH TIME ZONE": UTCDateTime(),
}


def _typed(sql: str) -> Any:
    """`sql` with every result column named and typed in order, so SQLAlchemy matches them
    by position and keeps the result metadata with the compiled statement."""
    text = sa.text(sql)
    if ":now" in sql:
        text = text.bindparams(sa.bindparam("now", type_=UTCDateTime()))
    return text.columns(*(sa.column(name, _RESULT_TYPES[type_]) for name, type_ in _OPENING))


_KEY_MATCH = (
    "{a}.kind = {w}.kind AND {a}.owner_id = {w}.owner_id AND {a}.qualifier = {w}.qualifier "
    "AND {a}.currency = {w}.currency"
)
# Every lock is taken in natural-key order (the order of `AccountRef`, byte-wise), so two
# transactions locking the same accounts queue instead of deadlocking.
_LOCK_ORDER = 'kind COLLATE "C", owner_id, currency COLLATE "C", qualifier COLLATE "C"'


def _wanted(name: str, prefix: str) -> str:
    """`name`: accounts by natural key, from parallel array parameters `prefix`kinds etc."""
    return (
        f"{name} AS (SELECT * FROM unnest(CAST(:{prefix}kinds AS VARCHAR[]), "
        f"CAST(:{prefix}owners AS BIGINT[]), CAST(:{prefix}qualifiers AS VARCHAR[]), "
        f"CAST(:{prefix}currencies AS VARCHAR[]), CAST(:{prefix}no_overdraft AS BOOLEAN[]), "
        f"CAST(:{prefix}no_overcredit AS BOOLEAN[])) "
        "AS w(kind, owner_id, qualifier, currency, no_overdraft, no_overcredit))"
    )


def _new_accounts(wanted: str, found: str) -> str:
    """Insert the accounts of `wanted` that `found` lacks (natural-key order)."""
    return (
        "INSERT INTO wallet_accounts (kind, owner_id, qualifier, currency, debits_pending, "
        "debits_posted, credits_pending, credits_posted, debits_must_not_exceed_credits, "
        "credits_must_not_exceed_debits, version, created_at) "
        "SELECT w.kind, w.owner_id, w.qualifier, w.currency, 0, 0, 0, 0, w.no_overdraft, "
        f"w.no_overcredit, 0, CAST(:now AS TIMESTAMP WITH TIME ZONE) FROM {wanted} w "
        f"WHERE NOT EXISTS (SELECT 1 FROM {found} f WHERE " + _KEY_MATCH.format(a="f", w="w")
        + ") ORDER BY " + ", ".join(f"w.{part}" for part in _LOCK_ORDER.split(", ")) + " "
        "ON CONFLICT (kind, owner_id, qualifier, currency) DO NOTHING "
    )




_WANTED = _wanted("wanted", "")
_NEW_ACCOUNTS = _new_accounts("wanted", "found")
_ACCOUNT_LIST = ", ".join(_ACCOUNT_COLUMNS)
# The ids of the wanted accounts and of the owner's, each part by its index (an OR of the two
# would make PostgreSQL scan every account).
_MINE = (
    "mine AS (SELECT a.id FROM wallet_accounts a JOIN wanted w ON "
    + _KEY_MATCH.format(a="a", w="w")
    + " UNION SELECT a.id FROM wallet_accounts a "
    "WHERE a.kind = :owner_kind AND a.owner_id = :owner_id)"
)

# PostgreSQL: lock (get-or-create) the wanted accounts and the existing accounts of one
# owner, get or create the `others` the flow will credit (ids only, no lock), and read the
# journal and the order's open holds, in one round trip. Under READ
# COMMITTED the journal and holds come from the statement's snapshot, taken before any lock
# wait, while a locked row is its newest version; `seen` keeps each locked row's version in
# that snapshot, so the repository can tell when a writer committed in between (the versions
# differ) and read again (see `SqlLedger.open`).
_OPEN_PG = _typed(
    f"WITH {_WANTED}, {_MINE}, "
    "seen AS (SELECT a.id, a.version FROM mine m JOIN wallet_accounts a ON a.id = m.id), "
    f"found AS MATERIALIZED (SELECT {', '.join(f'a.{c}' for c in _ACCOUNT_COLUMNS)} "
    "FROM mine m JOIN wallet_accounts a ON a.id = m.id "
    f"ORDER BY {', '.join(f'a.{part}' for part in _LOCK_ORDER.split(', '))} "
    "FOR NO KEY UPDATE OF a), "
    f"created AS ({_NEW_ACCOUNTS} RETURNING {_ACCOUNT_LIST}), "
    f"{_wanted('others', 'o_')}, "
    "others_found AS (SELECT a.id, a.kind, a.owner_id, a.qualifier, a.currency "
    f"FROM wallet_accounts a JOIN others w ON {_KEY_MATCH.format(a='a', w='w')}), "
    f"others_created AS ({_new_accounts('others', 'others_found')} "
    "RETURNING id, kind, owner_id, qualifier, currency) "
    + _opening_select(
        "postgresql", "a",
        {**{f"a_{name}": f"f.{name}" for name in _ACCOUNT_COLUMNS},
         "a_seen_version": "s.version", "a_created": "false"},
        "FROM found f LEFT JOIN seen s ON s.id = f.id",
    )
    + " UNION ALL "
    + _opening_select(
        "postgresql", "a",
        {**{f"a_{name}": f"c.{name}" for name in _ACCOUNT_COLUMNS}, "a_created": "true"},
        "FROM created c",
    )
    + " UNION ALL "
    + _opening_select(
        "postgresql", "i",
        {"a_id": "o.id", "a_kind": "o.kind", "a_owner_id": "o.owner_id",
         "a_qualifier": "o.qualifier", "a_currency": "o.currency", "a_created": "o.created"},
        "FROM (SELECT *, false AS created FROM others_found "
        "UNION ALL SELECT *, true FROM others_created) o",
    )
    + " UNION ALL "
    + _opening_reads("postgresql")
)
_OPEN_READS = {dialect: _typed(_opening_reads(dialect)) for dialect in ("postgresql", "sqlite")}

# SQLite: the same reads in one statement, with no locks to take (the transaction holds the
# database lock, BEGIN IMMEDIATE): the wanted accounts, the owner's, the others' ids, the
# journal and the holds. What does not exist yet is created afterwards.
# Natural keys travel as a JSON array of [kind, owner, qualifier, currency]: SQLite then looks
# each up in the unique index (a row-value IN list would use only its first column).
_SQLITE_KEYS = (
    "FROM json_each(:{keys}) k JOIN wallet_accounts a "
    "ON a.kind = json_extract(k.value, '$[0]') AND a.owner_id = json_extract(k.value, '$[1]') "
    "AND a.qualifier = json_extract(k.value, '$[2]') "
    "AND a.currency = json_extract(k.value, '$[3]')"
)
_ACCOUNT_VALUES = {f"a_{name}": f"a.{name}" for name in _ACCOUNT_COLUMNS}
_OPEN_SQLITE = _typed(
    _opening_select("sqlite", "a", _ACCOUNT_VALUES, _SQLITE_KEYS.format(keys="lock_keys"))
    + " UNION ALL "
    + _opening_select(
        "sqlite", "a", _ACCOUNT_VALUES,
        "FROM wallet_accounts a WHERE a.kind = :owner_kind AND a.owner_id = :owner_id",
    )
    + " UNION ALL "
    + _opening_select("sqlite", "i", _ACCOUNT_VALUES, _SQLITE_KEYS.format(keys="other_keys"))
    + " UNION ALL "
    + _opening_reads("sqlite")
)
_ACCOUNTS_BY_KEY_SQLITE = sa.text(
    f"SELECT {', '.join(f'a.{c}' for c in _ACCOUNT_COLUMNS)} " + _SQLITE_KEYS.format(keys="keys")
)

# PostgreSQL: get or create accounts by natural key, in one round trip; only what the
# snapshot lacks is inserted (no sequence value spent on accounts that exist).
_ACCOUNT_IDS_PG = sa.text(
    f"WITH {_WANTED}, "
    "found AS (SELECT a.id, a.kind, a.owner_id, a.qualifier, a.currency "
    f"FROM wallet_accounts a JOIN wanted w ON {_KEY_MATCH.format(a='a', w='w')}), "
    f"created AS ({_NEW_ACCOUNTS} RETURNING id, kind, owner_id, qualifier, currency) "
    "SELECT false AS created, f.* FROM found f UNION ALL SELECT true, c.* FROM created c"
).bindparams(sa.bindparam("now", type_=UTCDateTime()))

# PostgreSQL: a whole journal in one statement: the journal row, its transfers in leg order
# (so `seq` follows the legs), the provider earning it creates (if any) and every balance
# change. The accounts to change are locked in
# id order first (as the earlier per-row updates were), so journals touching the same hot
# accounts queue instead of deadlocking; a check constraint or unique violation fails the
# statement as a whole.
_WRITE_PG = sa.text(
    "WITH journal AS (INSERT INTO wallet_journals "
    "(id, operation, fingerprint, order_id, result, created_at) "
    "VALUES (:id, :operation, :fingerprint, :order_id, CAST(:result AS JSONB), "
    "CAST(:created_at AS TIMESTAMP WITH TIME ZONE))), "
    "moved AS (INSERT INTO wallet_transfers (id, journal_id, debit_account_id, "
    "credit_account_id, amount, currency, kind, reason, pending_id, order_id, data, created_at) "
    "SELECT t.id, CAST(:id AS VARCHAR), t.debit, t.credit, t.amount, t.currency, t.kind, t.reason, t.pending, "
    "t.order_id, CAST(t.data AS JSONB), CAST(:created_at AS TIMESTAMP WITH TIME ZONE) "
    "FROM unnest(CAST(:t_ids AS VARCHAR[]), CAST(:t_debits AS BIGINT[]), "
    "CAST(:t_credits AS BIGINT[]), CAST(:t_amounts AS BIGINT[]), "
    "CAST(:t_currencies AS VARCHAR[]), CAST(:t_kinds AS VARCHAR[]), "
    "CAST(:t_reasons AS VARCHAR[]), CAST(:t_pendings AS VARCHAR[]), "
    "CAST(:t_orders AS BIGINT[]), CAST(:t_data AS TEXT[])) WITH ORDINALITY "
    "AS t(id, debit, credit, amount, currency, kind, reason, pending, order_id, data, n) "
    "ORDER BY t.n), "
    "earned AS (INSERT INTO wallet_earnings (provider_id, amount, currency, order_id, "
    "journal_id, earned_at) SELECT CAST(:e_provider AS BIGINT), CAST(:e_amount AS BIGINT), "
    "CAST(:e_currency AS VARCHAR), CAST(:e_order AS BIGINT), CAST(:id AS VARCHAR), "
    "CAST(:created_at AS TIMESTAMP WITH TIME ZONE) WHERE CAST(:e_provider AS BIGINT) IS NOT NULL "
    "ON CONFLICT (journal_id) DO NOTHING), "
    "locked AS MATERIALIZED (SELECT id FROM wallet_accounts "
    "WHERE id = ANY(CAST(:a_ids AS BIGINT[])) ORDER BY id FOR NO KEY UPDATE), "
    "changed AS (UPDATE wallet_accounts a SET "
    "debits_pending = a.debits_pending + d.dp, debits_posted = a.debits_posted + d.dpo, "
    "credits_pending = a.credits_pending + d.cp, credits_posted = a.credits_posted + d.cpo, "
    "version = a.version + 1 "
    "FROM unnest(CAST(:a_ids AS BIGINT[]), CAST(:a_dp AS BIGINT[]), CAST(:a_dpo AS BIGINT[]), "
    "CAST(:a_cp AS BIGINT[]), CAST(:a_cpo AS BIGINT[]), CAST(:a_kinds AS VARCHAR[]), "
    "CAST(:a_owners AS BIGINT[]), CAST(:a_qualifiers AS VARCHAR[]), "
    "CAST(:a_currencies AS VARCHAR[])) "
    "AS d(id, dp, dpo, cp, cpo, kind, owner_id, qualifier, currency) "
    "JOIN locked l ON l.id = d.id "
    "WHERE a.id = d.id AND (d.kind IS NULL OR (" + _KEY_MATCH.format(a="a", w="d") + ")) "
    "RETURNING a.id) "
    "SELECT count(*) FROM changed"
).bindparams(sa.bindparam("created_at", type_=UTCDateTime()))

# Both databases.
_JOURNAL = sa.select(journals).where(journals.c.id == sa.bindparam("journal_id"))
_INSERT_JOURNAL = journals.insert()
_INSERT_TRANSFERS = transfers.insert()
_CHANGE_ACCOUNT = (
    accounts.update()
    .where(
        accounts.c.id == sa.bindparam("account_id"),
        sa.or_(
            sa.bindparam("k_kind", type_=sa.String) == sa.null(),
            sa.and_(
                accounts.c.kind == sa.bindparam("k_kind", type_=sa.String),
                accounts.c.owner_id == sa.bindparam("k_owner_id", type_=sa.BigInteger),
                accounts.c.qualifier == sa.bindparam("k_qualifier", type_=sa.String),
                accounts.c.currency == sa.bindparam("k_currency", type_=sa.String),
            ),
        ),
    )
    .values(
        debits_pending=accounts.c.debits_pending + sa.bindparam("d_dp"),
        debits_posted=accounts.c.debits_posted + sa.bindparam("d_dP"),
        credits_pending=accounts.c.credits_pending + sa.bindparam("d_cp"),
        credits_posted=accounts.c.credits_posted + sa.bindparam("d_cP"),
        version=accounts.c.version + 1,
    )
)
_ACCOUNTS_BY_KEY = sa.select(accounts).where(
    sa.tuple_(accounts.c.kind, accounts.c.owner_id, accounts.c.qualifier, accounts.c.currency)
    .in_(sa.bindparam("keys", expanding=True))
)
_OWNER_ACCOUNTS = (
    sa.select(accounts)
    .where(accounts.c.kind == sa.bindparam("kind"), accounts.c.owner_id == sa.bindparam("owner_id"))
    .order_by(accounts.c.currency, accounts.c.qualifier)
)
_HOLD_RESOLUTION = transfers.alias("resolution")
_OPEN_HOLDS = (
    sa.select(transfers)
    .where(
        transfers.c.order_id == sa.bindparam("order_id"),
        transfers.c.kind == TransferKind.PENDING.value,
        transfers.c.reason.in_(_HOLD_REASONS),
        ~sa.exists().where(_HOLD_RESOLUTION.c.pending_id == transfers.c.id),
    )
    .order_by(transfers.c.seq)
)
_BY_DIALECT: dict[str, dict[str, Any]] = {}
for _dialect, _insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert)):
    _BY_DIALECT[_dialect] = {
        # A no-op update: it takes the row lock (PostgreSQL) and makes RETURNING give the
        # existing row, so get-or-create-and-lock is one round trip.
        "lock": _insert(accounts).on_conflict_do_update(
            index_elements=_NATURAL_KEY, set_={"version": accounts.c.version}
        ).returning(*accounts.c),
        "create_accounts": _insert(accounts).on_conflict_do_nothing(index_elements=_NATURAL_KEY)
        .returning(accounts.c.id, accounts.c.kind, accounts.c.owner_id, accounts.c.qualifier,
                   accounts.c.currency),
        "owner_accounts": (
            _OWNER_ACCOUNTS.with_for_update(key_share=True) if _dialect == "postgresql" else _OWNER_ACCOUNTS
        ),
        "claim_payment": _insert(payments).on_conflict_do_nothing(
            index_elements=["gateway", "payment_ref"]
        ).returning(*payments.c),
        "add_earning": _insert(earnings).on_conflict_do_nothing(index_elements=["journal_id"]),
    }
_PAYMENT = sa.select(payments).where(
    payments.c.gateway == sa.bindparam("gateway"),
    payments.c.payment_ref == sa.bindparam("payment_ref"),
)
_LOCK_PAYMENT = {"postgresql": _PAYMENT.with_for_update(key_share=True), "sqlite": _PAYMENT}
# Reads by key that paying, accepting and the wallet screens run, built once: building a
# statement and its cache key on every call costs more CPU than running it. Keyed by what
# varies: whether a currency is given; whether the rows are locked (on PostgreSQL, as
# `SqlRepository.for_update` does) and the dialect.
_OWNED = sa.select(accounts).where(
    accounts.c.owner_id == sa.bindparam("owner_id"),
    accounts.c.kind.in_(sa.bindparam("kinds", expanding=True)),
)
_ACCOUNTS_OF = {
    False: _OWNED.order_by(accounts.c.id),
    True: _OWNED.where(accounts.c.currency == sa.bindparam("currency")).order_by(accounts.c.id),
}
_JOURNAL_TRANSFERS = (
    sa.select(transfers)
    .where(transfers.c.journal_id == sa.bindparam("journal_id"))
    .order_by(transfers.c.seq)
)
_TRANSFERS = sa.select(transfers).where(transfers.c.id.in_(sa.bindparam("ids", expanding=True)))
_RESOLUTIONS = sa.select(transfers).where(
    transfers.c.pending_id.in_(sa.bindparam("ids", expanding=True))
)
_PAYMENTS_OF_ORDER = (
    sa.select(payments).where(payments.c.order_id == sa.bindparam("order_id")).order_by(payments.c.id)
)
_GET_PAYMENT = {
    (False, "postgresql"): _PAYMENT, (False, "sqlite"): _PAYMENT,
    (True, "postgresql"): _PAYMENT.with_for_update(), (True, "sqlite"): _PAYMENT,
}
_FOR_ORDER = {
    (False, "postgresql"): _PAYMENTS_OF_ORDER, (False, "sqlite"): _PAYMENTS_OF_ORDER,
    (True, "postgresql"): _PAYMENTS_OF_ORDER.with_for_update(), (True, "sqlite"): _PAYMENTS_OF_ORDER,
}

# Account ids by natural key, per engine. An account row is never deleted nor re-keyed, so
# an id once seen committed stays right for the engine's life (tests and benchmarks that
# empty a database do it before they create the engine). Ids this transaction may have
# created are not remembered: a rollback (and SQLite's reuse of a rolled-back rowid) would
# make them wrong.
_ACCOUNT_IDS: weakref.WeakKeyDictionary[Any, dict[AccountRef, int]] = weakref.WeakKeyDictionary()
_ACCOUNT_IDS_LIMIT = 100_000


class SqlLedger(SqlRepository):
    def __init__(self, connection: Any, uow: Any) -> None:
        super().__init__(connection, uow)
        self._known = _ACCOUNT_IDS.setdefault(connection.sync_engine, {})
        self._maybe_new: set[int] = set()  # account ids this transaction may have created
        self._refs: dict[int, AccountRef] = {}  # natural keys of the ids this transaction used

    def _refs_add(self, ref: AccountRef, account_id: int) -> int:
        known = self._refs.setdefault(account_id, ref)
        if known != ref:
            # One id for two accounts: an id from memory is stale (rows deleted under a
            # running engine). Forget them all; the retry looks them up.
            self._known.clear()
            raise ConcurrencyConflict("wallet_account", account=account_id)
        return account_id

    def _remember(self, ref: AccountRef, account_id: int) -> None:
        if account_id in self._maybe_new:
            return
        if len(self._known) >= _ACCOUNT_IDS_LIMIT:
            self._known.clear()
        self._known[ref] = account_id

    @property
    def _statements(self) -> dict[str, Any]:
        return _BY_DIALECT[self.dialect]

    # -- accounts ------------------------------------------------------------------------

    async def lock(self, refs: Iterable[AccountRef]) -> dict[AccountRef, Account]:
        wanted = sorted(set(refs))
        if not wanted:
            return {}
        now = self.uow.clock.now()
        rows = (
            await self.connection.execute(
                self._statements["lock"], [_new_account_row(r, now) for r in wanted]
            )
        ).all()
        found = {_key_of(row): _account(row) for row in rows}
        for account in found.values():
            self._maybe_new.add(account.id)
            self._refs_add(account.ref, account.id)
        return found

    async def lock_owner(self, kind: AccountKind, owner_id: int) -> list[Account]:
        rows = (
            await self.connection.execute(
                self._statements["owner_accounts"], {"kind": kind.value, "owner_id": owner_id}
            )
        ).all()
        found = [_account(row) for row in rows]
        for account in found:
            self._refs_add(account.ref, account.id)
        return found

    async def _select(self, refs: Sequence[AccountRef]) -> dict[AccountRef, Account]:
        if self.dialect == "sqlite":
            query, params = _ACCOUNTS_BY_KEY_SQLITE, {"keys": _keys(refs)}
        else:
            keys = [(r.kind.value, r.owner_id, r.qualifier, r.currency) for r in refs]
            query, params = _ACCOUNTS_BY_KEY, {"keys": keys}
        rows = (await self.connection.execute(query, params)).all()
        return {_key_of(row): _account(row) for row in rows}

    async def account_ids(self, refs: Iterable[AccountRef]) -> dict[AccountRef, int]:
        found: dict[AccountRef, int] = {}
        missing: list[AccountRef] = []
        for ref in set(refs):
            account_id = self._known.get(ref)
            if account_id is None:
                missing.append(ref)
            else:
                found[ref] = account_id
        if missing:
            await self._look_up(missing, found)
        for ref, account_id in found.items():
            self._refs_add(ref, account_id)
        return found

    async def _look_up(self, missing: list[AccountRef], found: dict[AccountRef, int]) -> None:
        missing.sort()
        if self.dialect == "postgresql":
            rows = (
                await self.connection.execute(
                    _ACCOUNT_IDS_PG, {**_wanted_params(missing), "now": self.uow.clock.now()}
                )
            ).all()
            for row in rows:
                ref = _key_of(row)
                found[ref] = row.id
                if row.created:
                    self._maybe_new.add(row.id)
                else:
                    self._remember(ref, row.id)
            raced = [r for r in missing if r not in found]
            if raced:  # created by a transaction that committed after this statement began
                for ref, account in (await self._select(raced)).items():
                    found[ref] = account.id
                    self._remember(ref, account.id)
            return
        # SQLite: writers are serialized, so read, then create what is missing.
        existing = await self._select(missing)
        for ref, account in existing.items():
            found[ref] = account.id
            self._remember(ref, account.id)
        new = [r for r in missing if r not in existing]
        if new:
            found.update(await self._create(new))

    async def open(
        self,
        journal_id: str,
        *,
        lock: Sequence[AccountRef] = (),
        lock_owner: tuple[AccountKind, int] | None = None,
        holds_of: int | None = None,
        ensure: Sequence[AccountRef] = (),
    ) -> Opening:
        wanted = sorted(set(lock))
        ids: dict[AccountRef, int] = {}
        others: list[AccountRef] = []
        for ref in sorted(set(ensure) - set(wanted)):
            account_id = self._known.get(ref)
            if account_id is None:
                others.append(ref)
            else:
                ids[ref] = self._refs_add(ref, account_id)
        if self.dialect != "postgresql":
            return await self._open_sqlite(journal_id, wanted, lock_owner, holds_of, others, ids)
        owner_kind, owner_id = lock_owner if lock_owner is not None else (None, None)
        rows = (
            await self.connection.execute(
                _OPEN_PG,
                {
                    **_wanted_params(wanted), **_wanted_params(others, "o_"),
                    "now": self.uow.clock.now(),
                    "owner_kind": owner_kind.value if owner_kind is not None else None,
                    "owner_id": owner_id, "journal_id": journal_id, "holds_of": holds_of,
                },
            )
        ).all()
        locked: list[Account] = []
        journal: JournalRecord | None = None
        seen_holds: list[tuple[int, Transfer]] = []
        # The reads are as fresh as after the locks only if no locked row changed between
        # the statement's snapshot and its lock, and every wanted account was there.
        fresh = True
        for row in rows:
            if row.part == "a":
                account = _opened_account(row)
                locked.append(account)
                self._refs_add(account.ref, account.id)
                if row.a_created:
                    self._maybe_new.add(account.id)
                elif row.a_seen_version != account.version:
                    fresh = False
            elif row.part == "i":
                ref = AccountRef(AccountKind(row.a_kind), row.a_owner_id, row.a_currency,
                                 row.a_qualifier)
                ids[ref] = self._refs_add(ref, row.a_id)
                if row.a_created:
                    self._maybe_new.add(row.a_id)
                else:
                    self._remember(ref, row.a_id)
            elif row.part == "j":
                journal = _opened_journal(row)
            else:
                seen_holds.append(_opened_hold(row))
        got = {account.ref for account in locked}
        if any(ref not in got for ref in wanted):
            # Created by a transaction that committed after the statement began.
            locked += (await self.lock([ref for ref in wanted if ref not in got])).values()
            fresh = False
        if lock_owner is not None and not any(a.ref.kind is owner_kind for a in locked):
            fresh = False  # e.g. the owner's first account was created meanwhile
        if fresh:
            holds = [hold for _, hold in sorted(seen_holds, key=lambda pair: pair[0])]
        else:
            journal, holds = await self._opening_reads(journal_id, holds_of)
        # Accounts created meanwhile by another transaction are left to `account_ids`.
        return Opening(locked, journal, holds if holds_of is not None else None, ids)

    async def _open_sqlite(
        self, journal_id: str, wanted: list[AccountRef],
        lock_owner: tuple[AccountKind, int] | None, holds_of: int | None,
        others: list[AccountRef], ids: dict[AccountRef, int],
    ) -> Opening:
        owner_kind, owner_id = lock_owner if lock_owner is not None else (None, None)
        rows = (
            await self.connection.execute(
                _OPEN_SQLITE,
                {
                    "lock_keys": _keys(wanted), "other_keys": _keys(others),
                    "owner_kind": owner_kind.value if owner_kind is not None else None,
                    "owner_id": owner_id, "journal_id": journal_id, "holds_of": holds_of,
                },
            )
        ).all()
        locked: list[Account] = []
        journal: JournalRecord | None = None
        holds: list[tuple[int, Transfer]] = []
        for row in rows:
            if row.part == "a":
                account = _opened_account(row)
                locked.append(account)
                self._refs_add(account.ref, account.id)
            elif row.part == "i":
                ref = AccountRef(AccountKind(row.a_kind), row.a_owner_id, row.a_currency,
                                 row.a_qualifier)
                ids[ref] = self._refs_add(ref, row.a_id)
                self._remember(ref, row.a_id)
            elif row.part == "j":
                journal = _opened_journal(row)
            else:
                holds.append(_opened_hold(row))
        got = {account.ref for account in locked}
        if any(ref not in got for ref in wanted):
            locked += (await self.lock([ref for ref in wanted if ref not in got])).values()
        new = [ref for ref in others if ref not in ids]
        if new:
            ids.update(await self._create(new))
        return Opening(
            locked, journal,
            [hold for _, hold in sorted(holds, key=lambda pair: pair[0])]
            if holds_of is not None else None,
            ids,
        )

    async def _create(self, refs: list[AccountRef]) -> dict[AccountRef, int]:
        """SQLite: create accounts known to be missing (writers are serialized)."""
        now = self.uow.clock.now()
        rows = (
            await self.connection.execute(
                self._statements["create_accounts"], [_new_account_row(r, now) for r in refs]
            )
        ).all()
        created = {}
        for row in rows:
            ref = _key_of(row)
            created[ref] = self._refs_add(ref, row.id)
            self._maybe_new.add(row.id)
        return created

    async def _opening_reads(
        self, journal_id: str, holds_of: int | None
    ) -> tuple[JournalRecord | None, list[Transfer]]:
        """The journal and the open holds of order `holds_of`, in one statement."""
        rows = (
            await self.connection.execute(
                _OPEN_READS[self.dialect], {"journal_id": journal_id, "holds_of": holds_of}
            )
        ).all()
        journal: JournalRecord | None = None
        holds: list[tuple[int, Transfer]] = []
        for row in rows:
            if row.part == "j":
                journal = _opened_journal(row)
            else:
                holds.append(_opened_hold(row))
        return journal, [hold for _, hold in sorted(holds, key=lambda pair: pair[0])]

    async def accounts_of(
        self, kinds: Sequence[AccountKind], owner_id: int, currency: str | None = None
    ) -> list[Account]:
        params = {"owner_id": owner_id, "kinds": [k.value for k in kinds], "currency": currency}
        rows = (await self.connection.execute(_ACCOUNTS_OF[currency is not None], params)).all()
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
        row = (await self.connection.execute(_JOURNAL, {"journal_id": journal_id})).first()
        if row is None:
            return None
        return JournalRecord(
            id=row.id, operation=row.operation, fingerprint=row.fingerprint,
            created_at=row.created_at, order_id=row.order_id, result=row.result or {},
        )

    async def journal_transfers(self, journal_id: str) -> list[Transfer]:
        rows = (
            await self.connection.execute(_JOURNAL_TRANSFERS, {"journal_id": journal_id})
        ).all()
        return [_transfer(row) for row in rows]

    async def open_holds(self, order_id: int) -> list[Transfer]:
        rows = (await self.connection.execute(_OPEN_HOLDS, {"order_id": order_id})).all()
        return [_transfer(row) for row in rows]

    async def transfers(self, ids: Iterable[str]) -> dict[str, Transfer]:
        wanted = list(ids)
        if not wanted:
            return {}
        rows = (await self.connection.execute(_TRANSFERS, {"ids": wanted})).all()
        return {row.id: _transfer(row) for row in rows}

    async def resolutions(self, pending_ids: Iterable[str]) -> dict[str, Transfer]:
        wanted = list(pending_ids)
        if not wanted:
            return {}
        rows = (await self.connection.execute(_RESOLUTIONS, {"ids": wanted})).all()
        return {row.pending_id: _transfer(row) for row in rows}

    async def write(
        self, journal: JournalRecord, new: Sequence[Transfer], deltas: Mapping[int, Delta],
        earning: Earning | None = None,
    ) -> None:
        if earning is not None and earning.journal_id != journal.id:
            raise ValueError(f"earning of {earning.journal_id} written with {journal.id}")
        changes = sorted(deltas.items())
        try:
            if self.dialect == "postgresql":
                changed = (
                    await self.connection.execute(
                        _WRITE_PG, _write_params(journal, new, changes, self._refs, earning)
                    )
                ).scalar_one()
                self._check_changed(journal, changes, changed)
                return
            if earning is not None:
                await self.add_earning(earning)
            await self.connection.execute(
                _INSERT_JOURNAL,
                {
                    "id": journal.id, "operation": journal.operation,
                    "fingerprint": journal.fingerprint, "order_id": journal.order_id,
                    "result": dict(journal.result), "created_at": journal.created_at,
                },
            )
            await self.connection.execute(
                _INSERT_TRANSFERS,
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
            # A foreign key or check refusal the code's own checks did not foresee: an id
            # from memory may name no account or another one. Forget them; a retry looks up.
            self._known.clear()
            raise
        if changes:
            result = await self.connection.execute(
                _CHANGE_ACCOUNT,
                [
                    {
                        "account_id": account_id, "d_dp": d.debits_pending,
                        "d_dP": d.debits_posted, "d_cp": d.credits_pending,
                        "d_cP": d.credits_posted, **_key_params(self._refs.get(account_id)),
                    }
                    for account_id, d in changes
                ],
            )
            self._check_changed(journal, changes, result.rowcount)

    def _check_changed(
        self, journal: JournalRecord, changes: Sequence[tuple[int, Delta]], changed: int
    ) -> None:
        if changed != len(changes):
            # An account id from memory no longer names that account (its rows were deleted
            # under a running engine): forget them all; a retry looks them up again.
            self._known.clear()
            raise ConcurrencyConflict("wallet_account", journal=journal.id)

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
            self._statements["add_earning"],
            {
                "provider_id": earning.provider_id, "amount": earning.amount.amount,
                "currency": earning.amount.currency, "order_id": earning.order_id,
                "journal_id": earning.journal_id, "earned_at": earning.earned_at,
            },
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

    async def claim(self, payment: Payment) -> tuple[Payment, bool]:
        """Insert `payment` unless (gateway, payment_ref) exists; else lock the stored one."""
        row = (
            await self.connection.execute(
                _BY_DIALECT[self.dialect]["claim_payment"],
                {
                    "gateway": payment.gateway, "payment_ref": payment.payment_ref,
                    "customer_id": payment.customer_id, "purpose": payment.purpose,
                    "order_id": payment.order_id, "amount": payment.amount.amount,
                    "currency": payment.amount.currency, "status": payment.status.value,
                    "is_test": payment.is_test, "gateway_charge_id": payment.gateway_charge_id,
                    "refunded": payment.refunded, "created_at": payment.created_at,
                    "paid_at": payment.paid_at, "version": 0,
                },
            )
        ).first()
        created = row is not None
        if row is None:
            row = (
                await self.connection.execute(
                    _LOCK_PAYMENT[self.dialect],
                    {"gateway": payment.gateway, "payment_ref": payment.payment_ref},
                )
            ).one()
        found = _payment(row)
        self.uow.track(found)
        return found, created

    async def get(self, gateway: str, payment_ref: str, *, for_update: bool = False) -> Payment | None:
        query = _GET_PAYMENT[for_update, self.dialect]
        params = {"gateway": gateway, "payment_ref": payment_ref}
        row = (await self.connection.execute(query, params)).first()
        if row is None:
            return None
        payment = _payment(row)
        self.uow.track(payment)
        return payment

    async def for_order(self, order_id: int, *, for_update: bool = False) -> list[Payment]:
        query = _FOR_ORDER[for_update, self.dialect]
        rows = (await self.connection.execute(query, {"order_id": order_id})).all()
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
