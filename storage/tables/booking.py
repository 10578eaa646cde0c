"""Tables of the booking area: orders, slots, dispatch, disputes, timers.

- `orders`: one row per order; every timer is a column, and `due_at` (the earliest of them,
  kept by the repository) is indexed so the sweeper finds due rows with one range scan.
- `slot_reservations`: one row per (provider, 15-minute cell) an active order occupies; the
  primary key is the guarantee that two overlapping bookings cannot both be written.
- `order_dispatch`: which provider was offered which open order, in which wave.
- `order_disputes`: at most one dispute per order.
- `booking_policies`: per-category overrides of the booking policy (JSON).
"""

import sqlalchemy as sa

from storage.tables.base import BigIntPK, JSONType, UTCDateTime, metadata

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(16), nullable=True, unique=True),
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
    sa.CheckConstraint("units > 0", name="units_positive"),
    sa.CheckConstraint("unit_price >= 0 AND total >= 0", name="amounts_not_negative"),
)
sa.Index("ix_orders_due_at", orders.c.due_at)
sa.Index("ix_orders_customer", orders.c.customer_id, orders.c.id)
sa.Index("ix_orders_provider", orders.c.provider_id, orders.c.state, orders.c.scheduled_start)
sa.Index("ix_orders_state", orders.c.state, orders.c.id)

slot_reservations = sa.Table(
    "slot_reservations",
    metadata,
    sa.Column("provider_id", sa.BigInteger, primary_key=True),
    sa.Column("cell_start", UTCDateTime(), primary_key=True),
    sa.Column(
        "order_id", sa.BigInteger, sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    ),
)
sa.Index("ix_slot_reservations_order", slot_reservations.c.order_id)

order_dispatch = sa.Table(
    "order_dispatch",
    metadata,
    sa.Column(
        "order_id", sa.BigInteger, sa.ForeignKey("orders.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("provider_id", sa.BigInteger, primary_key=True),
    sa.Column("wave", sa.Integer, nullable=False),
    sa.Column("offered_at", UTCDateTime(), nullable=False),
)
sa.Index("ix_order_dispatch_provider", order_dispatch.c.provider_id)

order_disputes = sa.Table(
    "order_disputes",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column(
        "order_id", sa.BigInteger, sa.ForeignKey("orders.id", ondelete="CASCADE"),
        nullable=False, unique=True,
    ),
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
)
sa.Index("ix_order_disputes_open", order_disputes.c.outcome, order_disputes.c.opened_at)

booking_policies = sa.Table(
    "booking_policies",
    metadata,
    sa.Column("category_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("overrides", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
