"""Tables of the catalog area: categories, provider profiles, offers, availability, applications.

Search walks `ix_catalog_providers_ranking`, one covering index in ranking order carrying the
columns a ranked page filters on and shows, including the row's copies of its tags, its
offers' categories and a quarter-hour map of its week; it narrows by `(lat, lon)` for a
bounding box, by `(tag, provider_id)` for a rare tag, and by `ix_catalog_schedule_windows_moment`
(weekly rules split into single-day pieces, with the provider's zone) for "who works at
21:00 on Friday in Asia/Shanghai". `rank_base` is the search-independent part of the ranking
score (`core/catalog/ranking.py`), recomputed whenever the figures it depends on change.
"""

import sqlalchemy as sa

from storage.tables.base import BigIntPK, JSONType, UTCDateTime, metadata

categories = sa.Table(
    "catalog_categories",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("slug", sa.String(48), nullable=False),
    sa.Column("parent_id", sa.BigInteger, sa.ForeignKey("catalog_categories.id"), nullable=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("pricing_unit", sa.String(20), nullable=False),
    sa.Column("min_units", sa.Integer, nullable=False),
    sa.Column("commission_bps", sa.Integer, nullable=False),
    sa.Column("name_zh", sa.String(40), nullable=False),
    sa.Column("name_en", sa.String(40), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("sort_order", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.UniqueConstraint("slug"),
    sa.CheckConstraint("commission_bps BETWEEN 0 AND 10000", name="commission_range"),
)
sa.Index("ix_catalog_categories_parent_id", categories.c.parent_id)

venues = sa.Table(
    "catalog_venues",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("manager_user_id", sa.BigInteger, nullable=False),
    sa.Column("share_bps", sa.Integer, nullable=False),
    sa.Column("address", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.CheckConstraint("share_bps BETWEEN 0 AND 10000", name="share_range"),
)
sa.Index("ix_catalog_venues_manager_user_id", venues.c.manager_user_id)

RANKING_INDEX_COLUMNS = (
    "status", "rank_base", "user_id", "presence", "tier", "rating_average", "rating_count",
    "timezone", "category_list", "tag_list", "display_name",
)

providers = sa.Table(
    "catalog_providers",
    metadata,
    # The provider's id IS the user id (identity area; no cross-area foreign key).
    sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
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
    sa.Column("venue_id", sa.BigInteger, sa.ForeignKey("catalog_venues.id"), nullable=True),
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
    # Copies kept on the row so a ranked search checks them without a lookup per provider:
    # ",tag,tag," / ",category id,…," of the active offers / the local week in quarter hours
    # (core.catalog.availability.week_slots). The tables below remain the source.
    sa.Column("tag_list", sa.Text, nullable=False),
    sa.Column("category_list", sa.Text, nullable=False),
    sa.Column("week_slots", sa.String(672), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.CheckConstraint("tier BETWEEN 1 AND 5", name="tier_range"),
)
# The ranking, carrying every column a ranked page filters on and shows: a search walks it
# without visiting the table (PostgreSQL index-only scan, SQLite covering index).
sa.Index("ix_catalog_providers_ranking", *(providers.c[name] for name in RANKING_INDEX_COLUMNS))
# "Free at" searches rank each time zone separately (see the provider search).
sa.Index(
    "ix_catalog_providers_status_timezone_rank_base_user_id",
    providers.c.status,
    providers.c.timezone,
    providers.c.rank_base,
    providers.c.user_id,
)
sa.Index("ix_catalog_providers_lat_lon", providers.c.lat, providers.c.lon)
sa.Index("ix_catalog_providers_presence_last_active_at", providers.c.presence, providers.c.last_active_at)
sa.Index("ix_catalog_providers_venue_id", providers.c.venue_id)

provider_tags = sa.Table(
    "catalog_provider_tags",
    metadata,
    sa.Column(
        "provider_id",
        sa.BigInteger,
        sa.ForeignKey("catalog_providers.user_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag", sa.String(24), primary_key=True),
)
sa.Index("ix_catalog_provider_tags_tag_provider_id", provider_tags.c.tag, provider_tags.c.provider_id)

# Every time zone some provider works in, and how many do: "free at" searches ask each zone
# for its local time and weigh a zone's size when choosing how to search it.
timezones = sa.Table(
    "catalog_timezones",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("providers", sa.Integer, nullable=False),
)

offers = sa.Table(
    "catalog_offers",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column(
        "provider_id",
        sa.BigInteger,
        sa.ForeignKey("catalog_providers.user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("category_id", sa.BigInteger, sa.ForeignKey("catalog_categories.id"), nullable=False),
    sa.Column("unit_price", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("per_km_price", sa.BigInteger, nullable=True),
    sa.Column("min_units", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.UniqueConstraint("provider_id", "category_id"),
    sa.CheckConstraint("unit_price > 0", name="unit_price_positive"),
)
sa.Index("ix_catalog_offers_category_id_provider_id", offers.c.category_id, offers.c.provider_id)

schedules = sa.Table(
    "catalog_schedules",
    metadata,
    sa.Column(
        "provider_id",
        sa.BigInteger,
        sa.ForeignKey("catalog_providers.user_id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    # [[weekday, start_minute, end_minute], …] as the provider wrote them (local time).
    sa.Column("rules", JSONType, nullable=False),
    sa.Column("buffer_minutes", sa.Integer, nullable=False),
    sa.Column("min_notice_minutes", sa.Integer, nullable=False),
    sa.Column("horizon_days", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

schedule_windows = sa.Table(
    "catalog_schedule_windows",
    metadata,
    sa.Column(
        "provider_id",
        sa.BigInteger,
        sa.ForeignKey("catalog_schedules.provider_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("weekday", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("start_minute", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("end_minute", sa.SmallInteger, nullable=False),
    # The provider's zone, copied here so "who works at this instant in zone Z" is one range
    # of this index (kept equal to catalog_providers.timezone by the repositories).
    sa.Column("timezone", sa.String(64), nullable=False),
)
sa.Index(
    "ix_catalog_schedule_windows_moment",
    schedule_windows.c.timezone,
    schedule_windows.c.weekday,
    schedule_windows.c.start_minute,
    schedule_windows.c.end_minute,
    schedule_windows.c.provider_id,
)

blocked_dates = sa.Table(
    "catalog_blocked_dates",
    metadata,
    sa.Column(
        "provider_id",
        sa.BigInteger,
        sa.ForeignKey("catalog_schedules.provider_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("day", sa.Date, primary_key=True),
)

applications = sa.Table(
    "catalog_applications",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
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
)
sa.Index("ix_catalog_applications_status_submitted_at", applications.c.status, applications.c.submitted_at)
# At most one pending application per user, even when two arrive at the same moment.
sa.Index(
    "uq_catalog_applications_pending_user_id",
    applications.c.user_id,
    unique=True,
    sqlite_where=applications.c.status == "pending",
    postgresql_where=applications.c.status == "pending",
)
sa.Index("ix_catalog_applications_user_id", applications.c.user_id)

favourites = sa.Table(
    "catalog_favourites",
    metadata,
    sa.Column("customer_id", sa.BigInteger, primary_key=True),
    sa.Column(
        "provider_id",
        sa.BigInteger,
        sa.ForeignKey("catalog_providers.user_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
sa.Index("ix_catalog_favourites_provider_id", favourites.c.provider_id)
