"""catalog: categories, provider profiles, offers, availability, applications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables.base import BigIntPK, JSONType, UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _provider_fk(table: str, column: str = "provider_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["catalog_providers.user_id"],
        name=f"fk_{table}_{column}_catalog_providers",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    """The catalog tables (see storage/tables/catalog.py)."""
    op.create_table(
        "catalog_categories",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(48), nullable=False),
        sa.Column("parent_id", sa.BigInteger, nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("pricing_unit", sa.String(20), nullable=False),
        sa.Column("min_units", sa.Integer, nullable=False),
        sa.Column("commission_bps", sa.Integer, nullable=False),
        sa.Column("name_zh", sa.String(40), nullable=False),
        sa.Column("name_en", sa.String(40), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("sort_order", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_categories"),
        sa.UniqueConstraint("slug", name="uq_catalog_categories_slug"),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["catalog_categories.id"],
            name="fk_catalog_categories_parent_id_catalog_categories",
        ),
        sa.CheckConstraint(
            "commission_bps BETWEEN 0 AND 10000", name="ck_catalog_categories_commission_range"
        ),
    )
    op.create_index("ix_catalog_categories_parent_id", "catalog_categories", ["parent_id"])

    op.create_table(
        "catalog_venues",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("manager_user_id", sa.BigInteger, nullable=False),
        sa.Column("share_bps", sa.Integer, nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_venues"),
        sa.CheckConstraint("share_bps BETWEEN 0 AND 10000", name="ck_catalog_venues_share_range"),
    )
    op.create_index("ix_catalog_venues_manager_user_id", "catalog_venues", ["manager_user_id"])

    op.create_table(
        "catalog_providers",
        sa.Column("user_id", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("bio", sa.Text, nullable=False),
        sa.Column("photos", JSONType, nullable=False),
        sa.Column("voice_intro", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("presence", sa.String(16), nullable=False),
        sa.Column("tier", sa.SmallInteger, nullable=False),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("service_radius_km", sa.Integer, nullable=True),
        sa.Column("venue_id", sa.BigInteger, nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("rating_count", sa.Integer, nullable=False),
        sa.Column("rating_average", sa.Float, nullable=False),
        sa.Column("rating_bayesian", sa.Float, nullable=False),
        sa.Column("completion_rate", sa.Float, nullable=False),
        sa.Column("response_time_s", sa.Integer, nullable=False),
        sa.Column("rank_base", sa.Float, nullable=False),
        sa.Column("last_active_at", UTCDateTime(), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=False),
        sa.Column("suspended_reason", sa.Text, nullable=True),
        sa.Column("tag_list", sa.Text, nullable=False),
        sa.Column("category_list", sa.Text, nullable=False),
        sa.Column("week_slots", sa.String(672), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_catalog_providers"),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["catalog_venues.id"], name="fk_catalog_providers_venue_id_catalog_venues"
        ),
        sa.CheckConstraint("tier BETWEEN 1 AND 5", name="ck_catalog_providers_tier_range"),
    )
    op.create_index(
        "ix_catalog_providers_ranking",
        "catalog_providers",
        [
            "status", "rank_base", "user_id", "presence", "tier", "rating_average", "rating_count",
            "timezone", "category_list", "tag_list", "display_name",
        ],
    )
    op.create_index(
        "ix_catalog_providers_status_timezone_rank_base_user_id",
        "catalog_providers",
        ["status", "timezone", "rank_base", "user_id"],
    )
    op.create_index("ix_catalog_providers_lat_lon", "catalog_providers", ["lat", "lon"])
    op.create_index(
        "ix_catalog_providers_presence_last_active_at",
        "catalog_providers",
        ["presence", "last_active_at"],
    )
    op.create_index("ix_catalog_providers_venue_id", "catalog_providers", ["venue_id"])

    op.create_table(
        "catalog_provider_tags",
        sa.Column("provider_id", sa.BigInteger, nullable=False),
        sa.Column("tag", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("provider_id", "tag", name="pk_catalog_provider_tags"),
        _provider_fk("catalog_provider_tags"),
    )
    op.create_index(
        "ix_catalog_provider_tags_tag_provider_id", "catalog_provider_tags", ["tag", "provider_id"]
    )

    op.create_table(
        "catalog_timezones",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("providers", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_catalog_timezones"),
    )

    op.create_table(
        "catalog_offers",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("provider_id", sa.BigInteger, nullable=False),
        sa.Column("category_id", sa.BigInteger, nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("per_km_price", sa.BigInteger, nullable=True),
        sa.Column("min_units", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_offers"),
        _provider_fk("catalog_offers"),
        sa.ForeignKeyConstraint(
            ["category_id"], ["catalog_categories.id"],
            name="fk_catalog_offers_category_id_catalog_categories",
        ),
        sa.UniqueConstraint(
            "provider_id", "category_id", name="uq_catalog_offers_provider_id_category_id"
        ),
        sa.CheckConstraint("unit_price > 0", name="ck_catalog_offers_unit_price_positive"),
    )
    op.create_index(
        "ix_catalog_offers_category_id_provider_id", "catalog_offers", ["category_id", "provider_id"]
    )

    op.create_table(
        "catalog_schedules",
        sa.Column("provider_id", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("rules", JSONType, nullable=False),
        sa.Column("buffer_minutes", sa.Integer, nullable=False),
        sa.Column("min_notice_minutes", sa.Integer, nullable=False),
        sa.Column("horizon_days", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("provider_id", name="pk_catalog_schedules"),
        _provider_fk("catalog_schedules"),
    )
    op.create_table(
        "catalog_schedule_windows",
        sa.Column("provider_id", sa.BigInteger, nullable=False),
        sa.Column("weekday", sa.SmallInteger, autoincrement=False, nullable=False),
        sa.Column("start_minute", sa.SmallInteger, autoincrement=False, nullable=False),
        sa.Column("end_minute", sa.SmallInteger, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint(
            "provider_id", "weekday", "start_minute", name="pk_catalog_schedule_windows"
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["catalog_schedules.provider_id"],
            name="fk_catalog_schedule_windows_provider_id_catalog_schedules",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_catalog_schedule_windows_moment",
        "catalog_schedule_windows",
        ["timezone", "weekday", "start_minute", "end_minute", "provider_id"],
    )
    if op.get_bind().dialect.name == "postgresql":
        # Weekly hours cluster on a few patterns (09:00-18:00 on weekdays, …): without
        # statistics over the columns together the planner multiplies their separate
        # selectivities and badly misjudges how many providers work at a given moment.
        op.execute(
            "CREATE STATISTICS st_catalog_schedule_windows_moment (mcv, dependencies) "
            "ON timezone, weekday, start_minute, end_minute FROM catalog_schedule_windows"
        )
    op.create_table(
        "catalog_blocked_dates",
        sa.Column("provider_id", sa.BigInteger, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("provider_id", "day", name="pk_catalog_blocked_dates"),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["catalog_schedules.provider_id"],
            name="fk_catalog_blocked_dates_provider_id_catalog_schedules",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "catalog_applications",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("profile", JSONType, nullable=False),
        sa.Column("offers", JSONType, nullable=False),
        sa.Column("availability", JSONType, nullable=False),
        sa.Column("documents", JSONType, nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_applications"),
    )
    op.create_index(
        "ix_catalog_applications_status_submitted_at",
        "catalog_applications",
        ["status", "submitted_at"],
    )
    op.create_index(
        "uq_catalog_applications_pending_user_id",
        "catalog_applications",
        ["user_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_catalog_applications_user_id", "catalog_applications", ["user_id"])

    op.create_table(
        "catalog_favourites",
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("provider_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "provider_id", name="pk_catalog_favourites"),
        _provider_fk("catalog_favourites"),
    )
    op.create_index("ix_catalog_favourites_provider_id", "catalog_favourites", ["provider_id"])


def downgrade() -> None:
    """Drop the catalog tables (indexes go with them), dependants first."""
    for table in (
        "catalog_favourites",
        "catalog_applications",
        "catalog_blocked_dates",
        "catalog_schedule_windows",
        "catalog_schedules",
        "catalog_offers",
        "catalog_timezones",
        "catalog_provider_tags",
        "catalog_providers",
        "catalog_venues",
        "catalog_categories",
    ):
        op.drop_table(table)
