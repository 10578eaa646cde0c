"""Tables of the wallet area: ledger accounts, journals, transfers, earnings, payments,
payment alerts, refunds, withdrawals.

The database enforces what must never happen even if the code were wrong: a transfer amount
is positive, a hold is resolved at most once (`pending_id` unique), a guarded account's
debits never exceed its credits, account totals never go negative.
"""

import sqlalchemy as sa

from storage.tables.base import BigIntPK, JSONType, UTCDateTime, metadata

wallet_accounts = sa.Table(
    "wallet_accounts",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("owner_id", sa.BigInteger, nullable=False),
    sa.Column("qualifier", sa.String(40), nullable=False, server_default=""),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("debits_pending", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("debits_posted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("credits_pending", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("credits_posted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("debits_must_not_exceed_credits", sa.Boolean, nullable=False),
    sa.Column("credits_must_not_exceed_debits", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("kind", "owner_id", "qualifier", "currency"),
    sa.CheckConstraint(
        "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 "
        "AND credits_posted >= 0",
        name="totals_non_negative",
    ),
    sa.CheckConstraint(
        "NOT debits_must_not_exceed_credits OR debits_pending + debits_posted <= credits_posted",
        name="no_overdraft",
    ),
    sa.CheckConstraint(
        "NOT credits_must_not_exceed_debits OR credits_pending + credits_posted <= debits_posted",
        name="no_overcredit",
    ),
)
sa.Index("ix_wallet_accounts_owner", wallet_accounts.c.owner_id, wallet_accounts.c.kind)

wallet_journals = sa.Table(
    "wallet_journals",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("operation", sa.String(40), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("order_id", sa.BigInteger, nullable=True),
    sa.Column("result", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

wallet_transfers = sa.Table(
    "wallet_transfers",
    metadata,
    # `seq` orders the ledger; `id` is the transfer's idempotency key.
    sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("journal_id", sa.String(200), sa.ForeignKey("wallet_journals.id"), nullable=False),
    sa.Column("debit_account_id", sa.BigInteger, sa.ForeignKey("wallet_accounts.id"),
              nullable=False),
    sa.Column("credit_account_id", sa.BigInteger, sa.ForeignKey("wallet_accounts.id"),
              nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(24), nullable=False),
    # A hold is resolved (posted or voided) at most once.
    sa.Column("pending_id", sa.String(32), sa.ForeignKey("wallet_transfers.id"), nullable=True,
              unique=True),
    sa.Column("order_id", sa.BigInteger, nullable=True),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
    sa.CheckConstraint(
        "(kind IN ('posted', 'pending') AND pending_id IS NULL) OR "
        "(kind IN ('post_pending', 'void_pending') AND pending_id IS NOT NULL)",
        name="kind_and_pending",
    ),
)
sa.Index("ix_wallet_transfers_journal", wallet_transfers.c.journal_id)
sa.Index("ix_wallet_transfers_debit", wallet_transfers.c.debit_account_id, wallet_transfers.c.seq)
sa.Index("ix_wallet_transfers_credit", wallet_transfers.c.credit_account_id, wallet_transfers.c.seq)
sa.Index("ix_wallet_transfers_order", wallet_transfers.c.order_id)

wallet_earnings = sa.Table(
    "wallet_earnings",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("provider_id", sa.BigInteger, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("order_id", sa.BigInteger, nullable=True),
    # Written with its journal (in the same statement on PostgreSQL, just before it on
    # SQLite, see storage/repositories/wallet.py): unique, but no foreign key to
    # wallet_journals.
    sa.Column("journal_id", sa.String(200), nullable=False, unique=True),
    sa.Column("earned_at", UTCDateTime(), nullable=False),
    sa.Column("settled_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
)
sa.Index("ix_wallet_earnings_due", wallet_earnings.c.settled_at, wallet_earnings.c.earned_at)

wallet_payments = sa.Table(
    "wallet_payments",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("gateway", sa.String(32), nullable=False),
    sa.Column("payment_ref", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.BigInteger, nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("order_id", sa.BigInteger, nullable=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("is_test", sa.Boolean, nullable=False),
    sa.Column("gateway_charge_id", sa.String(128), nullable=True),
    sa.Column("refunded", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("paid_at", UTCDateTime(), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("gateway", "payment_ref"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint("refunded >= 0 AND refunded <= amount", name="refund_within_amount"),
)
sa.Index("ix_wallet_payments_order", wallet_payments.c.order_id)

wallet_payment_alerts = sa.Table(
    "wallet_payment_alerts",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("gateway", sa.String(32), nullable=False),
    sa.Column("payment_ref", sa.String(64), nullable=False),
    sa.Column("problem", sa.String(32), nullable=False),
    sa.Column("expected_amount", sa.BigInteger, nullable=True),
    sa.Column("expected_currency", sa.String(3), nullable=True),
    sa.Column("received_amount", sa.BigInteger, nullable=False),
    sa.Column("received_currency", sa.String(3), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("gateway", "payment_ref", "problem"),
)

wallet_refunds = sa.Table(
    "wallet_refunds",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("payment_id", sa.BigInteger, sa.ForeignKey("wallet_payments.id"), nullable=False),
    sa.Column("gateway", sa.String(32), nullable=False),
    sa.Column("payment_ref", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.BigInteger, nullable=False),
    sa.Column("order_id", sa.BigInteger, nullable=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("hold_transfer_id", sa.String(32), sa.ForeignKey("wallet_transfers.id"),
              nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("gateway_ref", sa.String(128), nullable=True),
    sa.Column("failure", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
)
sa.Index("ix_wallet_refunds_waiting", wallet_refunds.c.status, wallet_refunds.c.requested_at)

wallet_withdrawals = sa.Table(
    "wallet_withdrawals",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("provider_id", sa.BigInteger, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("fee", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("decided_by", sa.BigInteger, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("payout_ref", sa.String(128), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint("fee >= 0 AND fee < amount", name="fee_within_amount"),
)
sa.Index("ix_wallet_withdrawals_provider", wallet_withdrawals.c.provider_id,
         wallet_withdrawals.c.currency, wallet_withdrawals.c.requested_at)
sa.Index("ix_wallet_withdrawals_status", wallet_withdrawals.c.status, wallet_withdrawals.c.id)
