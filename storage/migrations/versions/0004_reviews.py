"""reviews: reviews and review invitations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables.base import BigIntPK, UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The reviews tables (see storage/tables/reviews.py)."""
    op.create_table(
        "review_invitations",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("order_number", sa.String(40), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("reviewer_id", sa.BigInteger, nullable=False),
        sa.Column("reviewee_id", sa.BigInteger, nullable=False),
        sa.Column("category_id", sa.BigInteger, nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_review_invitations"),
        sa.UniqueConstraint("order_id", "side", name="uq_review_invitations_order_id_side"),
    )
    op.create_index(
        "ix_review_invitations_pending",
        "review_invitations",
        ["reviewer_id", "reviewed_at", "opened_at"],
    )
    op.create_table(
        "reviews",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("reviewer_id", sa.BigInteger, nullable=False),
        sa.Column("reviewee_id", sa.BigInteger, nullable=False),
        sa.Column("category_id", sa.BigInteger, nullable=False),
        sa.Column("rating", sa.SmallInteger, nullable=False),
        sa.Column("skill", sa.SmallInteger, nullable=True),
        sa.Column("attitude", sa.SmallInteger, nullable=True),
        sa.Column("punctuality", sa.SmallInteger, nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("edited_at", UTCDateTime(), nullable=True),
        sa.Column("reply_text", sa.Text, nullable=True),
        sa.Column("replied_at", UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
        sa.UniqueConstraint("order_id", "side", name="uq_reviews_order_id_side"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_reviews_rating_range"),
    )
    op.create_index("ix_reviews_reviewee", "reviews", ["reviewee_id", "side", "created_at"])


def downgrade() -> None:
    """Drop the reviews tables."""
    op.drop_index("ix_reviews_reviewee", table_name="reviews")
    op.drop_table("reviews")
    op.drop_index("ix_review_invitations_pending", table_name="review_invitations")
    op.drop_table("review_invitations")
