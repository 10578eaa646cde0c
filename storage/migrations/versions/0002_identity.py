"""identity: users, channel accounts, link codes, blocks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables.base import BigIntPK, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The identity tables (see storage/tables/identity.py)."""
    op.create_table(
        "users",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ban_reason", sa.Text, nullable=True),
        sa.Column("banned_until", UTCDateTime(), nullable=True),
        sa.Column("strikes", sa.Integer, nullable=False),
        sa.Column("phone_encrypted", sa.Text, nullable=True),
        sa.Column("phone_masked", sa.String(32), nullable=True),
        sa.Column("phone_verified_at", UTCDateTime(), nullable=True),
        sa.Column("merged_into", sa.BigInteger, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index("ix_users_status", "users", ["status"])
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "role", name="pk_user_roles"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_roles_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_user_roles_role", "user_roles", ["role", "user_id"])
    op.create_table(
        "channel_accounts",
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "external_id", name="pk_channel_accounts"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_channel_accounts_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_channel_accounts_user_id", "channel_accounts", ["user_id"])
    op.create_table(
        "link_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("used_platform", sa.String(20), nullable=True),
        sa.Column("used_external_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_link_codes"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_link_codes_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_link_codes_user_id", "link_codes", ["user_id"])
    op.create_table(
        "user_blocks",
        sa.Column("blocker_id", sa.BigInteger, nullable=False),
        sa.Column("blocked_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name="pk_user_blocks"),
        sa.ForeignKeyConstraint(
            ["blocker_id"], ["users.id"], name="fk_user_blocks_blocker_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["blocked_id"], ["users.id"], name="fk_user_blocks_blocked_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_user_blocks_blocked_id", "user_blocks", ["blocked_id"])
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor_id"])


def downgrade() -> None:
    """Drop the identity tables."""
    op.drop_index("ix_audit_log_actor_id", table_name="audit_log")
    op.drop_index("ix_user_blocks_blocked_id", table_name="user_blocks")
    op.drop_table("user_blocks")
    op.drop_index("ix_link_codes_user_id", table_name="link_codes")
    op.drop_table("link_codes")
    op.drop_index("ix_channel_accounts_user_id", table_name="channel_accounts")
    op.drop_table("channel_accounts")
    op.drop_index("ix_user_roles_role", table_name="user_roles")
    op.drop_table("user_roles")
    op.drop_index("ix_users_status", table_name="users")
    op.drop_table("users")
