"""The queue of relayed messages waiting for a recipient's WeChat window (`core/relay/pending.py`).

One row per (relayed message, recipient): unique, so a repeated refusal queues nothing
twice. The adapter's question, "what waits for this chat, in order", is one index range;
so is the sweep's, "what has waited too long".
"""

import sqlalchemy as sa

from storage.tables.base import BigIntPK, JSONType, UTCDateTime, metadata

relay_pending = sa.Table(
    "relay_pending",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id", sa.BigInteger,
        sa.ForeignKey("relay_conversations.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column(
        "relayed_message_id", sa.BigInteger,
        sa.ForeignKey("relay_messages.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column("order_id", sa.BigInteger, nullable=False),
    sa.Column("order_number", sa.String(40), nullable=False),
    sa.Column("sender_id", sa.BigInteger, nullable=False),
    sa.Column("sender_role", sa.String(12), nullable=False),
    sa.Column("recipient_id", sa.BigInteger, nullable=False),
    sa.Column("recipient_role", sa.String(12), nullable=False),
    sa.Column("platform", sa.String(20), nullable=False),
    sa.Column("chat_id", sa.String(256), nullable=False),
    sa.Column("locale", sa.String(8), nullable=False),
    sa.Column("from_platform", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("mode", sa.String(12), nullable=False),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("files", JSONType, nullable=False),
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("queued_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_until", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_failure", sa.String(20), nullable=True),
    sa.Column("settled_at", UTCDateTime(), nullable=True),
    sa.Column("expiry_reason", sa.String(20), nullable=True),
    sa.UniqueConstraint("relayed_message_id", "recipient_id", name="uq_relay_pending_copy"),
)
# What waits for one chat, in the order it was sent.
sa.Index("ix_relay_pending_chat", relay_pending.c.platform, relay_pending.c.chat_id,
         relay_pending.c.status, relay_pending.c.relayed_message_id)
# The sweep: the oldest waiting messages.
sa.Index("ix_relay_pending_due", relay_pending.c.status, relay_pending.c.queued_at)
sa.Index("ix_relay_pending_conversation", relay_pending.c.conversation_id,
         relay_pending.c.relayed_message_id)
