"""Run synchronous filters inline.

aiogram runs every synchronous filter callable, `F.…` magic filters included, through
`asyncio.to_thread`: one worker-thread hop per filter per update, for checks that take
microseconds. A relayed message passes a few dozen of them on its way down the router tree,
which cost more CPU than the relay itself. `inline_sync_filters` makes each synchronous
filter of a router tree awaitable so it is evaluated on the event loop; the filters stay
what they were (same callable, same arguments).
"""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject


def _inline(filter_object: FilterObject) -> None:
    check = filter_object.callback

    async def inline(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    filter_object.callback = inline
    filter_object.awaitable = True


def inline_sync_filters(router: Router) -> int:
    """Make every synchronous filter in `router` and the routers under it run inline;
    returns how many were changed."""
    changed = 0
    for each in router.chain_tail:
        for observer in each.observers.values():
            handlers = [observer._handler, *observer.handlers]  # router-level filters too
            for handler in handlers:
                for filter_object in handler.filters or ():
                    if not filter_object.awaitable:
                        _inline(filter_object)
                        changed += 1
    return changed
