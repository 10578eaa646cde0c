"""Every command and event handler of the core, by message type (merged from each area)."""

from __future__ import annotations

from core import notices
from core.booking import handlers as booking
from core.catalog import handlers as catalog
from core.identity import handlers as identity
from core.messagebus import Handler
from core.relay import handlers as relay
from core.reviews import handlers as reviews
from core.shared.messages import Command, Event
from core.wallet import handlers as wallet

COMMAND_HANDLERS: dict[type[Command], Handler] = {}
EVENT_HANDLERS: dict[type[Event], list[Handler]] = {}


def _merge(commands: dict[type[Command], Handler], events: dict[type[Event], list[Handler]]) -> None:
    for command_type, handler in commands.items():
        if command_type in COMMAND_HANDLERS:
            raise TypeError(f"two handlers for {command_type.__name__}")
        COMMAND_HANDLERS[command_type] = handler
    for event_type, handlers in events.items():
        EVENT_HANDLERS.setdefault(event_type, []).extend(handlers)


# Each area exposes COMMAND_HANDLERS and EVENT_HANDLERS in its `handlers` module and is
# merged here, one line per area, e.g.:
#   from core.identity import handlers as identity  (at the top)
#   _merge(identity.COMMAND_HANDLERS, identity.EVENT_HANDLERS)

_merge(identity.COMMAND_HANDLERS, identity.EVENT_HANDLERS)
_merge(catalog.COMMAND_HANDLERS, catalog.EVENT_HANDLERS)
_merge(reviews.COMMAND_HANDLERS, reviews.EVENT_HANDLERS)
_merge(notices.COMMAND_HANDLERS, notices.EVENT_HANDLERS)
_merge(booking.COMMAND_HANDLERS, booking.EVENT_HANDLERS)
_merge(wallet.COMMAND_HANDLERS, wallet.EVENT_HANDLERS)
_merge(relay.COMMAND_HANDLERS, relay.EVENT_HANDLERS)
