"""Tables of the relay: conversations per order, their participants, each user's current
choice, the transcript of relayed messages, and the message-pair table.

Orders and users belong to other areas, so `order_id`, `user_id`, `sender_id` are plain
integers. The pair table is unique on (from chat, from message, to chat): one copy per
recipient chat, so a repeated delivery report records nothing new, and replies and edits
find their way with one index lookup either direction.
"""

import sqlalchemy as sa

from storage.tables.base import BigIntPK, JSONType, UTCDateTime, metadata

relay_conversations = sa.Table(
    "relay_conversations",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.BigInteger, nullable=False),
    sa.Column("order_number", sa.String(40), nullable=False),
    sa.Column("service_kind", sa.String(20), nullable=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("order_ended_at", UTCDateTime(), nullable=True),
    sa.Column("close_at", UTCDateTime(), nullable=True),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.Column("close_reason", sa.String(20), nullable=True),
    sa.Column("disputed", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.UniqueConstraint("order_id"),
)
sa.Index("ix_relay_conversations_order_number", relay_conversations.c.order_number)
# The sweep's question: which open conversations are due to close.
sa.Index("ix_relay_conversations_due", relay_conversations.c.status,
         relay_conversations.c.close_at)

relay_participants = sa.Table(
    "relay_participants",
    metadata,
    sa.Column(
        "conversation_id", sa.BigInteger,
        sa.ForeignKey("relay_conversations.id", ondelete="CASCADE"), primary_key=True,
    ),
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("role", sa.String(12), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("joined_at", UTCDateTime(), nullable=False),
    sa.Column("platform", sa.String(20), nullable=True),
    sa.Column("chat_id", sa.String(256), nullable=True),
    sa.Column("locale", sa.String(8), nullable=True),
    sa.Column("last_latitude", sa.Float, nullable=True),
    sa.Column("last_longitude", sa.Float, nullable=True),
    sa.Column("last_location_at", UTCDateTime(), nullable=True),
)
# Every inbound message asks: which conversations is this user in now.
sa.Index("ix_relay_participants_user", relay_participants.c.user_id,
         relay_participants.c.active)

relay_selections = sa.Table(
    "relay_selections",
    metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column(
        "conversation_id", sa.BigInteger,
        sa.ForeignKey("relay_conversations.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column("selected_at", UTCDateTime(), nullable=False),
)

relay_messages = sa.Table(
    "relay_messages",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id", sa.BigInteger,
        sa.ForeignKey("relay_conversations.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column("order_id", sa.BigInteger, nullable=False),
    sa.Column("sender_id", sa.BigInteger, nullable=False),
    sa.Column("sender_role", sa.String(12), nullable=False),
    sa.Column("platform", sa.String(20), nullable=False),
    sa.Column("chat_id", sa.String(256), nullable=False),
    sa.Column("message_id", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("files", JSONType, nullable=False),
    sa.Column("leak_kinds", JSONType, nullable=False),
    sa.Column("leak_count", sa.Integer, nullable=False),
    sa.Column("media_group_id", sa.String(256), nullable=True),
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
    sa.Column("reply_to_id", sa.BigInteger, nullable=True),
    sa.Column("edit_of", sa.BigInteger, nullable=True),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
)
sa.Index("ix_relay_messages_conversation", relay_messages.c.conversation_id,
         relay_messages.c.id)
# An edit names the message by its place in the sender's chat.
sa.Index("ix_relay_messages_source", relay_messages.c.platform, relay_messages.c.chat_id,
         relay_messages.c.message_id)
sa.Index("ix_relay_messages_album", relay_messages.c.platform, relay_messages.c.chat_id,
         relay_messages.c.media_group_id)

relay_pairs = sa.Table(
    "relay_pairs",
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
    sa.Column("from_platform", sa.String(20), nullable=False),
    sa.Column("from_chat_id", sa.String(256), nullable=False),
    sa.Column("from_message_id", sa.String(256), nullable=False),
    sa.Column("to_user_id", sa.BigInteger, nullable=False),
    sa.Column("to_platform", sa.String(20), nullable=False),
    sa.Column("to_chat_id", sa.String(256), nullable=False),
    sa.Column("to_message_id", sa.String(256), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("from_platform", "from_chat_id", "from_message_id", "to_platform",
                        "to_chat_id", name="uq_relay_pairs_copy"),
)
# A reply to a delivered copy finds its original here.
sa.Index("ix_relay_pairs_target", relay_pairs.c.to_platform, relay_pairs.c.to_chat_id,
         relay_pairs.c.to_message_id)
sa.Index("ix_relay_pairs_message", relay_pairs.c.relayed_message_id)
