"""Tables of the reviews area: review invitations and reviews.

Orders and users belong to other areas, so `order_id`, `reviewer_id` and `reviewee_id` are
plain integers (no foreign keys across areas). One review per order per side is enforced by
a unique constraint, so two racing submissions cannot both land.
"""

import sqlalchemy as sa

from storage.tables.base import BigIntPK, UTCDateTime, metadata

review_invitations = sa.Table(
    "review_invitations",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.BigInteger, nullable=False),
    sa.Column("order_number", sa.String(40), nullable=False),
    sa.Column("side", sa.String(10), nullable=False),
    sa.Column("reviewer_id", sa.BigInteger, nullable=False),
    sa.Column("reviewee_id", sa.BigInteger, nullable=False),
    sa.Column("category_id", sa.BigInteger, nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("reviewed_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("order_id", "side"),
)
sa.Index(
    "ix_review_invitations_pending",
    review_invitations.c.reviewer_id,
    review_invitations.c.reviewed_at,
    review_invitations.c.opened_at,
)

reviews = sa.Table(
    "reviews",
    metadata,
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
    sa.UniqueConstraint("order_id", "side"),
    sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
)
# Listing a provider's reviews newest first, and summing them, both walk this index.
sa.Index("ix_reviews_reviewee", reviews.c.reviewee_id, reviews.c.side, reviews.c.created_at)
