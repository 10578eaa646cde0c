"""relay: the queue of relayed messages waiting for a recipient's WeChat window

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables.base import BigIntPK, JSONType, UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The relay_pending table (see storage/tables/relay_pending.py)."""
    op.create_table(
        "relay_pending",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.BigInteger, nullable=False),
        sa.Column("relayed_message_id", sa.BigInteger, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_relay_pending"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["relay_conversations.id"], ondelete="CASCADE",
            name="fk_relay_pending_conversation_id_relay_conversations",
        ),
        sa.ForeignKeyConstraint(
            ["relayed_message_id"], ["relay_messages.id"], ondelete="CASCADE",
            name="fk_relay_pending_relayed_message_id_relay_messages",
        ),
        sa.UniqueConstraint("relayed_message_id", "recipient_id", name="uq_relay_pending_copy"),
    )
    op.create_index("ix_relay_pending_chat", "relay_pending",
                    ["platform", "chat_id", "status", "relayed_message_id"])
    op.create_index("ix_relay_pending_due", "relay_pending", ["status", "queued_at"])
    op.create_index("ix_relay_pending_conversation", "relay_pending",
                    ["conversation_id", "relayed_message_id"])


def downgrade() -> None:
    """Drop the relay_pending table."""
    op.drop_index("ix_relay_pending_conversation", table_name="relay_pending")
    op.drop_index("ix_relay_pending_due", table_name="relay_pending")
    op.drop_index("ix_relay_pending_chat", table_name="relay_pending")
    op.drop_table("relay_pending")
