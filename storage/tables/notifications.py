"""Tables of the notice pipeline: one row per notice planned for one person on one platform.

The unique key (event_id, user_id, notice_seq, platform) is what makes a notice go out at
most once per recipient however many relays read its event; `status` moves
pending -> sending -> sent | failed, and a row in `sending` is never sent again.
"""

import sqlalchemy as sa

from storage.tables.base import BigIntPK, JSONType, UTCDateTime, metadata

notice_deliveries = sa.Table(
    "notice_deliveries",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("notice_seq", sa.Integer, nullable=False),
    sa.Column("platform", sa.String(20), nullable=False),
    sa.Column("chat_id", sa.String(64), nullable=False),
    sa.Column("locale", sa.String(8), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("notice_key", sa.String(200), nullable=False),
    sa.Column("notice", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("failure", sa.String(40), nullable=True),
    sa.Column("channel_message_id", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("event_id", "user_id", "notice_seq", "platform"),
)
# The relay's two questions: what is due, and what got stuck in `sending`.
sa.Index(
    "ix_notice_deliveries_due",
    notice_deliveries.c.status,
    notice_deliveries.c.next_attempt_at,
)
sa.Index("ix_notice_deliveries_user", notice_deliveries.c.user_id, notice_deliveries.c.id)
