"""The router tree: one router per feature, the fallback last.

Routers are built by functions (a router can belong to one parent only, and tests build many
dispatchers). Product flows add their router to `FEATURES` in the order they should match;
`fallback` stays last so anything unmatched gets a clear answer. The root sends a button tap
only to the routers that could take its callback data (`bots.telegram.routing`), in this
same order.
"""

from __future__ import annotations

from collections.abc import Callable

from aiogram import Router
from aiogram.types import BotCommand

from bots.i18n import gettext
from bots.telegram.handlers import (
    customer,
    fallback,
    membership,
    operator,
    provider,
    relay,
    settings,
    start,
)
from bots.telegram.routing import PrefixRouter

FEATURES: list[Callable[[], Router]] = [start.router, settings.router]
FEATURES.append(provider.router)  # /apply, /workspace and the provider's order buttons
FEATURES.append(operator.router)  # the operators' cards and decisions
# Links, browsing, booking, paying, my orders; first, so `/start <payload>` reaches its links.
FEATURES.insert(0, customer.router)
# Order chats come first: a chat message is most of what the bot receives, and no other
# router takes a plain message outside a form (relay's own handler needs no form state and no
# command, so forms and commands still reach their routers). Its buttons come after the
# other features' buttons, which are most of the taps.
FEATURES.insert(0, relay.router)
FEATURES.append(relay.buttons_router)
FEATURES.append(membership.router)  # blocked by a person, removed from the operators' group

# The commands shown in Telegram's menu, in the order shown.
MENU_COMMANDS = ("start", *customer.COMMANDS, *provider.COMMANDS, "language", "help")


def build_router_tree(*, by_prefix: bool = True) -> Router:
    """The tree under one root; `by_prefix=False` offers a tap to every router in order, as
    aiogram does (the tests compare the two)."""
    root = PrefixRouter(name="yueban", by_prefix=by_prefix)
    for make in FEATURES:
        root.include_router(make())
    root.include_router(fallback.router())
    return root


def menu_commands(locale: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=gettext(f"tg.command.{name}", locale))
        for name in MENU_COMMANDS
    ]
