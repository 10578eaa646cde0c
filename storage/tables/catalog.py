"""Tables of the catalog area: categories, provider profiles, offers, availability, applications."""

from storage.tables.base import metadata  # noqa: F401
