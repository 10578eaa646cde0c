"""identity: users, channel accounts, link codes, blocks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The identity tables (see storage/tables/identity.py)."""


def downgrade() -> None:
    """Drop the identity tables."""
