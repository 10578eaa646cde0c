"""Tables of the identity area: users, their roles, channel accounts, link codes, blocks.

`users.phone_encrypted` holds a Fernet token, never the number; `phone_masked` is the only
form of the number that is readable in the database.
"""

import sqlalchemy as sa

from storage.tables.base import BigIntPK, UTCDateTime, metadata
from storage.tables.infra import audit_log

users = sa.Table(
    "users",
    metadata,
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
)
sa.Index("ix_users_status", users.c.status)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column(
        "user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("role", sa.String(20), primary_key=True),
)
sa.Index("ix_user_roles_role", user_roles.c.role, user_roles.c.user_id)

channel_accounts = sa.Table(
    "channel_accounts",
    metadata,
    sa.Column("platform", sa.String(20), primary_key=True),
    sa.Column("external_id", sa.String(128), primary_key=True),
    sa.Column(
        "user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("chat_id", sa.String(128), nullable=False),
    sa.Column("linked_at", UTCDateTime(), nullable=False),
)
sa.Index("ix_channel_accounts_user_id", channel_accounts.c.user_id)

link_codes = sa.Table(
    "link_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
    sa.Column("used_platform", sa.String(20), nullable=True),
    sa.Column("used_external_id", sa.String(128), nullable=True),
)
sa.Index("ix_link_codes_user_id", link_codes.c.user_id)

user_blocks = sa.Table(
    "user_blocks",
    metadata,
    sa.Column(
        "blocker_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "blocked_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
# The primary key serves "whom did A block"; this serves "who blocked B".
sa.Index("ix_user_blocks_blocked_id", user_blocks.c.blocked_id)

# Account linking asks "did this user ever do anything?" of the audit log (see
# `SqlUserRepository.has_history`); this index answers it without a scan.
sa.Index("ix_audit_log_actor_id", audit_log.c.actor_id)
