"""wallet: ledger accounts, transfers, payments, withdrawals

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables.base import BigIntPK, JSONType, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The wallet tables (see storage/tables/wallet.py)."""
    op.create_table(
        "wallet_accounts",
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
        sa.PrimaryKeyConstraint("id", name="pk_wallet_accounts"),
        sa.UniqueConstraint(
            "kind", "owner_id", "qualifier", "currency",
            name="uq_wallet_accounts_kind_owner_id_qualifier_currency",
        ),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 "
            "AND credits_posted >= 0",
            name="ck_wallet_accounts_totals_non_negative",
        ),
        sa.CheckConstraint(
            "NOT debits_must_not_exceed_credits OR debits_pending + debits_posted <= credits_posted",
            name="ck_wallet_accounts_no_overdraft",
        ),
        sa.CheckConstraint(
            "NOT credits_must_not_exceed_debits OR credits_pending + credits_posted <= debits_posted",
            name="ck_wallet_accounts_no_overcredit",
        ),
    )
    op.create_index("ix_wallet_accounts_owner", "wallet_accounts", ["owner_id", "kind"])

    op.create_table(
        "wallet_journals",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("operation", sa.String(40), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=True),
        sa.Column("result", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_wallet_journals"),
    )

    op.create_table(
        "wallet_transfers",
        sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("journal_id", sa.String(200), nullable=False),
        sa.Column("debit_account_id", sa.BigInteger, nullable=False),
        sa.Column("credit_account_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("pending_id", sa.String(32), nullable=True),
        sa.Column("order_id", sa.BigInteger, nullable=True),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_wallet_transfers"),
        sa.UniqueConstraint("id", name="uq_wallet_transfers_id"),
        sa.UniqueConstraint("pending_id", name="uq_wallet_transfers_pending_id"),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["wallet_journals.id"],
            name="fk_wallet_transfers_journal_id_wallet_journals",
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"], ["wallet_accounts.id"],
            name="fk_wallet_transfers_debit_account_id_wallet_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"], ["wallet_accounts.id"],
            name="fk_wallet_transfers_credit_account_id_wallet_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["pending_id"], ["wallet_transfers.id"],
            name="fk_wallet_transfers_pending_id_wallet_transfers",
        ),
        sa.CheckConstraint("amount > 0", name="ck_wallet_transfers_amount_positive"),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name="ck_wallet_transfers_two_accounts"
        ),
        sa.CheckConstraint(
            "(kind IN ('posted', 'pending') AND pending_id IS NULL) OR "
            "(kind IN ('post_pending', 'void_pending') AND pending_id IS NOT NULL)",
            name="ck_wallet_transfers_kind_and_pending",
        ),
    )
    op.create_index("ix_wallet_transfers_journal", "wallet_transfers", ["journal_id"])
    op.create_index("ix_wallet_transfers_debit", "wallet_transfers", ["debit_account_id", "seq"])
    op.create_index("ix_wallet_transfers_credit", "wallet_transfers", ["credit_account_id", "seq"])
    op.create_index("ix_wallet_transfers_order", "wallet_transfers", ["order_id"])

    op.create_table(
        "wallet_earnings",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("provider_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=True),
        sa.Column("journal_id", sa.String(200), nullable=False),
        sa.Column("earned_at", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_wallet_earnings"),
        sa.UniqueConstraint("journal_id", name="uq_wallet_earnings_journal_id"),
        sa.CheckConstraint("amount > 0", name="ck_wallet_earnings_amount_positive"),
    )
    op.create_index("ix_wallet_earnings_due", "wallet_earnings", ["settled_at", "earned_at"])

    op.create_table(
        "wallet_payments",
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
        sa.PrimaryKeyConstraint("id", name="pk_wallet_payments"),
        sa.UniqueConstraint("gateway", "payment_ref", name="uq_wallet_payments_gateway_payment_ref"),
        sa.CheckConstraint("amount > 0", name="ck_wallet_payments_amount_positive"),
        sa.CheckConstraint(
            "refunded >= 0 AND refunded <= amount", name="ck_wallet_payments_refund_within_amount"
        ),
    )
    op.create_index("ix_wallet_payments_order", "wallet_payments", ["order_id"])

    op.create_table(
        "wallet_payment_alerts",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("payment_ref", sa.String(64), nullable=False),
        sa.Column("problem", sa.String(32), nullable=False),
        sa.Column("expected_amount", sa.BigInteger, nullable=True),
        sa.Column("expected_currency", sa.String(3), nullable=True),
        sa.Column("received_amount", sa.BigInteger, nullable=False),
        sa.Column("received_currency", sa.String(3), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_wallet_payment_alerts"),
        sa.UniqueConstraint(
            "gateway", "payment_ref", "problem",
            name="uq_wallet_payment_alerts_gateway_payment_ref_problem",
        ),
    )

    op.create_table(
        "wallet_refunds",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("payment_id", sa.BigInteger, nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("payment_ref", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("hold_transfer_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("gateway_ref", sa.String(128), nullable=True),
        sa.Column("failure", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_wallet_refunds"),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["wallet_payments.id"],
            name="fk_wallet_refunds_payment_id_wallet_payments",
        ),
        sa.ForeignKeyConstraint(
            ["hold_transfer_id"], ["wallet_transfers.id"],
            name="fk_wallet_refunds_hold_transfer_id_wallet_transfers",
        ),
        sa.CheckConstraint("amount > 0", name="ck_wallet_refunds_amount_positive"),
    )
    op.create_index("ix_wallet_refunds_waiting", "wallet_refunds", ["status", "requested_at"])

    op.create_table(
        "wallet_withdrawals",
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
        sa.PrimaryKeyConstraint("id", name="pk_wallet_withdrawals"),
        sa.CheckConstraint("amount > 0", name="ck_wallet_withdrawals_amount_positive"),
        sa.CheckConstraint("fee >= 0 AND fee < amount", name="ck_wallet_withdrawals_fee_within_amount"),
    )
    op.create_index(
        "ix_wallet_withdrawals_provider", "wallet_withdrawals",
        ["provider_id", "currency", "requested_at"],
    )
    op.create_index("ix_wallet_withdrawals_status", "wallet_withdrawals", ["status", "id"])


def downgrade() -> None:
    """Drop the wallet tables."""
    op.drop_index("ix_wallet_withdrawals_status", table_name="wallet_withdrawals")
    op.drop_index("ix_wallet_withdrawals_provider", table_name="wallet_withdrawals")
    op.drop_table("wallet_withdrawals")
    op.drop_index("ix_wallet_refunds_waiting", table_name="wallet_refunds")
    op.drop_table("wallet_refunds")
    op.drop_table("wallet_payment_alerts")
    op.drop_index("ix_wallet_payments_order", table_name="wallet_payments")
    op.drop_table("wallet_payments")
    op.drop_index("ix_wallet_earnings_due", table_name="wallet_earnings")
    op.drop_table("wallet_earnings")
    op.drop_index("ix_wallet_transfers_order", table_name="wallet_transfers")
    op.drop_index("ix_wallet_transfers_credit", table_name="wallet_transfers")
    op.drop_index("ix_wallet_transfers_debit", table_name="wallet_transfers")
    op.drop_index("ix_wallet_transfers_journal", table_name="wallet_transfers")
    op.drop_table("wallet_transfers")
    op.drop_table("wallet_journals")
    op.drop_index("ix_wallet_accounts_owner", table_name="wallet_accounts")
    op.drop_table("wallet_accounts")
