"""All tables, one module per area, on one MetaData (imported here so Alembic sees them)."""

from storage.tables import booking, catalog, identity, infra, notifications, relay, reviews, wallet  # noqa: F401
from storage.tables.base import metadata

__all__ = ["metadata"]
