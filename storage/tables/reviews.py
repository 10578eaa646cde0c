"""Tables of the reviews area: reviews and review invitations."""

from storage.tables.base import metadata  # noqa: F401
