"""Tables of the identity area: users, channel accounts, link codes, blocks."""

from storage.tables.base import metadata  # noqa: F401
