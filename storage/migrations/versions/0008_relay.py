"""relay: conversations, participants, current choices, transcript, message pairs

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables.base import BigIntPK, JSONType, UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The relay tables (see storage/tables/relay.py)."""
    op.create_table(
        "relay_conversations",
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
        sa.PrimaryKeyConstraint("id", name="pk_relay_conversations"),
        sa.UniqueConstraint("order_id", name="uq_relay_conversations_order_id"),
    )
    op.create_index("ix_relay_conversations_order_number", "relay_conversations",
                    ["order_number"])
    op.create_index("ix_relay_conversations_due", "relay_conversations", ["status", "close_at"])

    op.create_table(
        "relay_participants",
        sa.Column("conversation_id", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.Column("platform", sa.String(20), nullable=True),
        sa.Column("chat_id", sa.String(256), nullable=True),
        sa.Column("locale", sa.String(8), nullable=True),
        sa.Column("last_latitude", sa.Float, nullable=True),
        sa.Column("last_longitude", sa.Float, nullable=True),
        sa.Column("last_location_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name="pk_relay_participants"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["relay_conversations.id"], ondelete="CASCADE",
            name="fk_relay_participants_conversation_id_relay_conversations",
        ),
    )
    op.create_index("ix_relay_participants_user", "relay_participants", ["user_id", "active"])

    op.create_table(
        "relay_selections",
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("conversation_id", sa.BigInteger, nullable=False),
        sa.Column("selected_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_relay_selections"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["relay_conversations.id"], ondelete="CASCADE",
            name="fk_relay_selections_conversation_id_relay_conversations",
        ),
    )

    op.create_table(
        "relay_messages",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.BigInteger, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_relay_messages"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["relay_conversations.id"], ondelete="CASCADE",
            name="fk_relay_messages_conversation_id_relay_conversations",
        ),
    )
    op.create_index("ix_relay_messages_conversation", "relay_messages", ["conversation_id", "id"])
    op.create_index("ix_relay_messages_source", "relay_messages",
                    ["platform", "chat_id", "message_id"])
    op.create_index("ix_relay_messages_album", "relay_messages",
                    ["platform", "chat_id", "media_group_id"])

    op.create_table(
        "relay_pairs",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.BigInteger, nullable=False),
        sa.Column("relayed_message_id", sa.BigInteger, nullable=False),
        sa.Column("from_platform", sa.String(20), nullable=False),
        sa.Column("from_chat_id", sa.String(256), nullable=False),
        sa.Column("from_message_id", sa.String(256), nullable=False),
        sa.Column("to_user_id", sa.BigInteger, nullable=False),
        sa.Column("to_platform", sa.String(20), nullable=False),
        sa.Column("to_chat_id", sa.String(256), nullable=False),
        sa.Column("to_message_id", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_relay_pairs"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["relay_conversations.id"], ondelete="CASCADE",
            name="fk_relay_pairs_conversation_id_relay_conversations",
        ),
        sa.ForeignKeyConstraint(
            ["relayed_message_id"], ["relay_messages.id"], ondelete="CASCADE",
            name="fk_relay_pairs_relayed_message_id_relay_messages",
        ),
        sa.UniqueConstraint("from_platform", "from_chat_id", "from_message_id", "to_platform",
                            "to_chat_id", name="uq_relay_pairs_copy"),
    )
    op.create_index("ix_relay_pairs_target", "relay_pairs",
                    ["to_platform", "to_chat_id", "to_message_id"])
    op.create_index("ix_relay_pairs_message", "relay_pairs", ["relayed_message_id"])


def downgrade() -> None:
    """Drop the relay tables."""
    op.drop_index("ix_relay_pairs_message", table_name="relay_pairs")
    op.drop_index("ix_relay_pairs_target", table_name="relay_pairs")
    op.drop_table("relay_pairs")
    op.drop_index("ix_relay_messages_album", table_name="relay_messages")
    op.drop_index("ix_relay_messages_source", table_name="relay_messages")
    op.drop_index("ix_relay_messages_conversation", table_name="relay_messages")
    op.drop_table("relay_messages")
    op.drop_table("relay_selections")
    op.drop_index("ix_relay_participants_user", table_name="relay_participants")
    op.drop_table("relay_participants")
    op.drop_index("ix_relay_conversations_due", table_name="relay_conversations")
    op.drop_index("ix_relay_conversations_order_number", table_name="relay_conversations")
    op.drop_table("relay_conversations")
