"""Cross-cutting tables: the outbox, claimed idempotency keys, and the audit log."""

import sqlalchemy as sa

from storage.tables.base import BigIntPK, JSONType, UTCDateTime, metadata

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("dispatched_at", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
)
sa.Index("ix_outbox_pending", outbox.c.dispatched_at, outbox.c.id)

processed_commands = sa.Table(
    "processed_commands",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("processed_at", UTCDateTime(), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("actor_id", sa.BigInteger, nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("from_state", sa.String(40), nullable=True),
    sa.Column("to_state", sa.String(40), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("data", JSONType, nullable=False),
)
sa.Index("ix_audit_log_entity", audit_log.c.entity, audit_log.c.entity_id)
