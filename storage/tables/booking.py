"""Tables of the booking area: orders, slots, dispatch, disputes, timers."""

from storage.tables.base import metadata  # noqa: F401
