"""booking: orders, slots, dispatch, disputes, timers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables.base import BigIntPK, JSONType, UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The booking tables (see storage/tables/booking.py)."""
    op.create_table(
        "orders",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(16), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("provider_id", sa.BigInteger, nullable=True),
        sa.Column("offer_id", sa.BigInteger, nullable=True),
        sa.Column("category_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("pricing_unit", sa.String(16), nullable=False),
        sa.Column("dispatch", sa.String(8), nullable=False),
        sa.Column("instant", sa.Boolean, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("units", sa.Integer, nullable=False),
        sa.Column("discount", sa.BigInteger, nullable=False),
        sa.Column("bonus", sa.BigInteger, nullable=False),
        sa.Column("deposit", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("scheduled_start", UTCDateTime(), nullable=True),
        sa.Column("scheduled_end", UTCDateTime(), nullable=True),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("tier_min", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.Column("payment_deadline", UTCDateTime(), nullable=True),
        sa.Column("accept_deadline", UTCDateTime(), nullable=True),
        sa.Column("next_wave_at", UTCDateTime(), nullable=True),
        sa.Column("remind_24h_at", UTCDateTime(), nullable=True),
        sa.Column("remind_1h_at", UTCDateTime(), nullable=True),
        sa.Column("auto_complete_at", UTCDateTime(), nullable=True),
        sa.Column("dispute_respond_by", UTCDateTime(), nullable=True),
        sa.Column("settle_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("wave", sa.Integer, nullable=False),
        sa.Column("payments", sa.Integer, nullable=False),
        sa.Column("commission_bps", sa.Integer, nullable=True),
        sa.Column("venue_id", sa.BigInteger, nullable=True),
        sa.Column("venue_share_bps", sa.Integer, nullable=False),
        sa.Column("cancelled_by", sa.String(12), nullable=True),
        sa.Column("close_reason", sa.Text, nullable=True),
        sa.Column("fee", sa.BigInteger, nullable=True),
        sa.Column("refund", sa.BigInteger, nullable=True),
        sa.Column("reschedule_count", sa.Integer, nullable=False),
        sa.Column("proposed_start", UTCDateTime(), nullable=True),
        sa.Column("proposed_by", sa.BigInteger, nullable=True),
        sa.Column("checkin", sa.Text, nullable=True),
        sa.Column("proof", sa.Text, nullable=True),
        sa.Column("delivery_code", sa.String(12), nullable=True),
        sa.CheckConstraint("units > 0", name="ck_orders_units_positive"),
        sa.CheckConstraint("unit_price >= 0 AND total >= 0", name="ck_orders_amounts_not_negative"),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("number", name="uq_orders_number"),
    )
    op.create_index("ix_orders_due_at", "orders", ["due_at"])
    op.create_index("ix_orders_customer", "orders", ["customer_id", "id"])
    op.create_index("ix_orders_provider", "orders", ["provider_id", "state", "scheduled_start"])
    op.create_index("ix_orders_state", "orders", ["state", "id"])
    op.create_table(
        "slot_reservations",
        sa.Column("provider_id", sa.BigInteger, primary_key=True),
        sa.Column("cell_start", UTCDateTime(), primary_key=True),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("provider_id", "cell_start", name="pk_slot_reservations"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_slot_reservations_order_id_orders", ondelete="CASCADE"),
    )
    op.create_index("ix_slot_reservations_order", "slot_reservations", ["order_id"])
    op.create_table(
        "order_dispatch",
        sa.Column("order_id", sa.BigInteger, primary_key=True),
        sa.Column("provider_id", sa.BigInteger, primary_key=True),
        sa.Column("wave", sa.Integer, nullable=False),
        sa.Column("offered_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "provider_id", name="pk_order_dispatch"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_order_dispatch_order_id_orders", ondelete="CASCADE"),
    )
    op.create_index("ix_order_dispatch_provider", "order_dispatch", ["provider_id"])
    op.create_table(
        "order_disputes",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("opened_by", sa.BigInteger, nullable=False),
        sa.Column("opener", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("from_state", sa.String(24), nullable=False),
        sa.Column("respond_by", UTCDateTime(), nullable=False),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("responded_by", sa.BigInteger, nullable=True),
        sa.Column("responded_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(12), nullable=True),
        sa.Column("refund", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("resolved_by", sa.BigInteger, nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("by_default", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_order_disputes"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_order_disputes_order_id_orders", ondelete="CASCADE"),
        sa.UniqueConstraint("order_id", name="uq_order_disputes_order_id"),
    )
    op.create_index("ix_order_disputes_open", "order_disputes", ["outcome", "opened_at"])
    op.create_table(
        "booking_policies",
        sa.Column("category_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("overrides", JSONType, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("category_id", name="pk_booking_policies"),
    )


def downgrade() -> None:
    """Drop the booking tables."""
    op.drop_table("booking_policies")
    op.drop_index("ix_order_disputes_open", table_name="order_disputes")
    op.drop_table("order_disputes")
    op.drop_index("ix_order_dispatch_provider", table_name="order_dispatch")
    op.drop_table("order_dispatch")
    op.drop_index("ix_slot_reservations_order", table_name="slot_reservations")
    op.drop_table("slot_reservations")
    op.drop_index("ix_orders_due_at", table_name="orders")
    op.drop_index("ix_orders_customer", table_name="orders")
    op.drop_index("ix_orders_provider", table_name="orders")
    op.drop_index("ix_orders_state", table_name="orders")
    op.drop_table("orders")
