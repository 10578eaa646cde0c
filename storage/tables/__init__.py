"""All tables, one module per area, on one MetaData (imported here so Alembic sees them)."""

from storage.tables import (  # noqa: F401
    booking,
    catalog,
    identity,
    infra,
    notifications,
    relay,
    relay_pending,
    reviews,
    wallet,
)
from storage.tables.base import metadata

__all__ = ["metadata"]
