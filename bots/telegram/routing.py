"""Button taps go straight to the routers and handlers that could take them.

aiogram offers a callback query to every router in tree order until a handler's filters
pass, and a `CallbackData` filter learns it cannot match only by unpacking the data; a tap
went through a dozen feature routers that could never take it. `PrefixRouter`, the root of
the tree, reads the tree once and compiles, for each `CallbackData` prefix, the walk a tap
with that prefix takes: the routers that could match it (those with a handler filtered on
that prefix, those with a handler it cannot classify (no `CallbackData` filter: a catch-all
for stale buttons, an `F.data` filter) or an outer middleware, and their ancestors) and, in
each, the handlers that could (filtered on that prefix, or not classifiable). A tap takes
that walk through the same steps aiogram takes (outer middlewares, router-level filters,
handlers with their inner middlewares, sub-routers), with the same copies of its data at
each level, so the first handler to match is the one aiogram's walk would reach. What is
left out could not accept the tap; filters are taken to be free of side effects, which
aiogram assumes too (it stops evaluating at the first that fails). A router with no outer
middleware is not wrapped, one with no router-level filter is not checked, and a handler
with no inner middleware is called directly: aiogram's wrapping and checking would pass the
data through unchanged, at a few microseconds each, on every level of every tap.

The walk mirrors aiogram's `Router.propagate_event` and `TelegramEventObserver.trigger`;
`check_aiogram` pins the aiogram code the mirror and the index rely on. An aiogram that
changed it is routed by aiogram's own walk (with a warning at startup) instead of
differently, and the tests fail until this module is checked against it.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import REJECTED, UNHANDLED, SkipHandler
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.dispatcher.middlewares.manager import MiddlewareManager
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.types import CallbackQuery, TelegramObject

log = logging.getLogger(__name__)

UPDATE_TYPE = "callback_query"
SEPARATOR = ":"

# sha256 of the source of the aiogram code this module mirrors or relies on (aiogram 3.31):
# the walk below is `propagate_event` + `_propagate_event` + `trigger` (and a call without
# inner middlewares is what `wrap_middlewares` of none does); the index assumes a
# CallbackQueryFilter passes only for non-empty data whose text before the class's separator
# is the class's prefix.
_PINNED = {
    "Router.propagate_event": "78ee00b916f43e055d2ef074978ae7a6703fe3cb50155e7d046f9852dd3a9908",
    "Router._propagate_event": "76fc938efce3eacf9dba64d150d6370d4f506adb68ed143a25dddbc752ee0670",
    "CallbackQueryFilter.__call__":
        "f366a7bc025775c707dbb206f7071ecf22133fee5f1090fcc4f266a1b3f79d6d",
    "CallbackData.unpack": "a2f432bd62043f05bd7ce030f7ac022bae7f44706b81b70a1bcc14f97ec66837",
    "TelegramEventObserver.trigger":
        "fdd6943a8bb91fb6eb2ea56d8d4cdd3f7adc60025c37175273e8e3f6801d3ef4",
    "MiddlewareManager.wrap_middlewares":
        "be6ee962b6ba69a0e222fc7691ad4e55118573e27c6fea87198c22057f09c57a",
}


def _fingerprints() -> dict[str, str]:
    sources = {
        "Router.propagate_event": Router.propagate_event,
        "Router._propagate_event": Router._propagate_event,
        "CallbackQueryFilter.__call__": CallbackQueryFilter.__call__,
        "CallbackData.unpack": CallbackData.unpack,
        "TelegramEventObserver.trigger": TelegramEventObserver.trigger,
        "MiddlewareManager.wrap_middlewares": MiddlewareManager.wrap_middlewares,
    }
    return {
        name: hashlib.sha256(inspect.getsource(code).encode()).hexdigest()
        for name, code in sources.items()
    }


@cache
def check_aiogram() -> None:
    """Refuse to route by prefix on an aiogram whose propagation or CallbackData matching
    is not the one this module mirrors."""
    changed = sorted(name for name, digest in _fingerprints().items() if _PINNED[name] != digest)
    if changed:
        raise RuntimeError(
            f"aiogram changed {', '.join(changed)}: check bots/telegram/routing.py against "
            "it and update its pinned fingerprints"
        )
    observer = Router().callback_query
    for attribute in ("handlers", "outer_middleware", "check_root_filters", "trigger",
                      "wrap_outer_middleware", "_resolve_middlewares", "_handler"):
        if not hasattr(observer, attribute):
            raise RuntimeError(f"aiogram's TelegramEventObserver has no {attribute!r}")


def _handler_prefix(handler: HandlerObject) -> str | None:
    """The prefix callback data needs for `handler` to match; None if it cannot be told."""
    for filter_object in handler.filters or ():
        check = filter_object.callback
        if type(check) is CallbackQueryFilter:
            factory = check.callback_data
            if factory.__separator__ == SEPARATOR:
                return factory.__prefix__
            return None
    return None


@dataclass(frozen=True)
class _Node:
    router: Router
    prefixes: frozenset[str]  # the prefixes its own handlers are filtered on
    always: bool  # visited for every tap: a handler with no known prefix, an outer middleware
    children: tuple[_Node, ...]

    def could_take(self, prefix: str | None) -> bool:
        return (
            self.always
            or prefix in self.prefixes
            or any(child.could_take(prefix) for child in self.children)
        )


def _read(router: Router) -> _Node:
    observer = router.callback_query
    prefixes = [_handler_prefix(handler) for handler in observer.handlers]
    return _Node(
        router=router,
        prefixes=frozenset(p for p in prefixes if p is not None),
        always=None in prefixes or bool(list(observer.outer_middleware)),
        children=tuple(_read(child) for child in router.sub_routers),
    )


@dataclass(frozen=True)
class _Step:
    """One router on a prefix's walk: what aiogram would do there, less what cannot matter."""

    router: Router
    observer: TelegramEventObserver
    outer: bool  # it has outer middlewares, which run around its part of the walk
    filtered: bool  # it has router-level filters
    handlers: tuple[HandlerObject, ...]  # its handlers that could take the prefix, in order
    children: tuple[_Step, ...]  # its sub-routers that could take the prefix, in order


def _compile(node: _Node, prefix: str | None) -> _Step:
    observer = node.router.callback_query
    return _Step(
        router=node.router,
        observer=observer,
        outer=bool(list(observer.outer_middleware)),
        filtered=bool(observer._handler.filters),
        handlers=tuple(
            handler for handler in observer.handlers
            if _handler_prefix(handler) in (None, prefix)
        ),
        children=tuple(
            _compile(child, prefix) for child in node.children if child.could_take(prefix)
        ),
    )


@dataclass(frozen=True)
class CallbackRoutes:
    """For each known prefix (and None: any other data), the walk a tap takes."""

    walks: dict[str | None, _Step]

    @classmethod
    def read(cls, root: Router) -> CallbackRoutes:
        tree = _read(root)
        prefixes: set[str | None] = {None}
        stack = [tree]
        while stack:
            node = stack.pop()
            prefixes |= node.prefixes
            stack.extend(node.children)
        return cls({prefix: _compile(tree, prefix) for prefix in prefixes})

    def walk_for(self, data: str | None) -> _Step:
        prefix = data.split(SEPARATOR, 1)[0] if data else None
        walk = self.walks.get(prefix)
        return self.walks[None] if walk is None else walk


async def _propagate(step: _Step, event: TelegramObject, data: dict[str, Any]) -> Any:
    """What aiogram's `Router.propagate_event` does at `step.router`, given a dict of its own.

    The same steps in the same order, with the same copies of the data at each level, but
    only over the handlers and sub-routers that could take the tap; a router with no outer
    middleware, or no router-level filter, skips the wrapping or the check that would pass
    the data through unchanged."""
    data["event_router"] = step.router
    if step.outer:
        return await step.observer.wrap_outer_middleware(
            _inside_for(step), event=event, data=data)
    return await _inside(step, event, data)


def _inside_for(step: _Step) -> Any:
    async def inside(telegram_event: TelegramObject, **data: Any) -> Any:
        return await _inside(step, telegram_event, data)
    return inside


async def _inside(step: _Step, event: TelegramObject, data: dict[str, Any]) -> Any:
    """`Router._propagate_event`, over `step`'s handlers and sub-routers."""
    if step.filtered:
        passed, extra = await step.observer.check_root_filters(event, **data)
        if not passed:
            return UNHANDLED
        data.update(extra)
    response = UNHANDLED
    if step.handlers:
        response = await _trigger(step, event, dict(data))
        if response is REJECTED:
            return UNHANDLED
        if response is not UNHANDLED:
            return response
    for child in step.children:
        response = await _propagate(child, event, dict(data))
        if response is not UNHANDLED:
            break
    return response


async def _trigger(step: _Step, event: TelegramObject, data: dict[str, Any]) -> Any:
    """`TelegramEventObserver.trigger`, over the handlers that could take the tap."""
    observer = step.observer
    for handler in step.handlers:
        data["handler"] = handler
        result, extra = await handler.check(event, **data)
        if result:
            data.update(extra)
            try:
                middlewares = observer._resolve_middlewares()
                if not middlewares:
                    return await handler.call(event, **data)
                wrapped = observer.outer_middleware.wrap_middlewares(middlewares, handler.call)
                return await wrapped(event, data)
            except SkipHandler:
                continue
    return UNHANDLED


class PrefixRouter(Router):
    """A root router that sends each callback query only to the routers that could take it
    (see the module's docstring); every other update is propagated as by any router.

    The tree is read on the first callback query, once everything is included and wired.
    """

    def __init__(self, *, name: str | None = None, by_prefix: bool = True) -> None:
        super().__init__(name=name)
        if by_prefix:
            try:
                check_aiogram()
            except RuntimeError as drift:
                log.warning("taps take aiogram's full walk: %s", drift)
                by_prefix = False
        self.by_prefix = by_prefix
        self._routes: CallbackRoutes | None = None

    @property
    def callback_routes(self) -> CallbackRoutes:
        if self._routes is None:
            self._routes = CallbackRoutes.read(self)
        return self._routes

    async def propagate_event(self, update_type: str, event: TelegramObject, **kwargs: Any) -> Any:
        if update_type != UPDATE_TYPE or not self.by_prefix or not isinstance(event, CallbackQuery):
            return await super().propagate_event(update_type, event, **kwargs)
        return await _propagate(self.callback_routes.walk_for(event.data), event, kwargs)
