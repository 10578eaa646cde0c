"""Button taps go straight to the routers that could take them.

aiogram offers a callback query to every router in tree order until a handler's filters
pass, and a `CallbackData` filter learns it cannot match only by unpacking the data; a tap
went through a dozen feature routers that could never take it. `PrefixRouter`, the root of
the tree, reads the tree once and keeps, for each `CallbackData` prefix, the routers that
could match it: those with a handler filtered on that prefix, those with a handler it cannot
classify (no `CallbackData` filter: a catch-all for stale buttons, an `F.data` filter) or an
outer middleware, and their ancestors. A tap visits only those, in tree order, through the
same steps aiogram takes (outer middlewares, router-level filters, handlers, sub-routers),
so the first handler to match is the one aiogram's walk would reach. A router left out holds
no handler that could accept the tap; filters are taken to be free of side effects, which
aiogram assumes too (it stops evaluating at the first that fails).

The walk mirrors aiogram's `Router.propagate_event`; `check_aiogram` pins the aiogram code
the mirror and the index rely on. An aiogram that changed it is routed by aiogram's own
walk (with a warning at startup) instead of differently, and the tests fail until this
module is checked against it.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import REJECTED, UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.types import CallbackQuery, TelegramObject

log = logging.getLogger(__name__)

UPDATE_TYPE = "callback_query"
SEPARATOR = ":"

# sha256 of the source of the aiogram code this module mirrors or relies on (aiogram 3.31):
# the walk below is `propagate_event` + `_propagate_event`; the index assumes a
# CallbackQueryFilter passes only for non-empty data whose text before the class's separator
# is the class's prefix.
_PINNED = {
    "Router.propagate_event": "78ee00b916f43e055d2ef074978ae7a6703fe3cb50155e7d046f9852dd3a9908",
    "Router._propagate_event": "76fc938efce3eacf9dba64d150d6370d4f506adb68ed143a25dddbc752ee0670",
    "CallbackQueryFilter.__call__":
        "f366a7bc025775c707dbb206f7071ecf22133fee5f1090fcc4f266a1b3f79d6d",
    "CallbackData.unpack": "a2f432bd62043f05bd7ce030f7ac022bae7f44706b81b70a1bcc14f97ec66837",
}


def _fingerprints() -> dict[str, str]:
    sources = {
        "Router.propagate_event": Router.propagate_event,
        "Router._propagate_event": Router._propagate_event,
        "CallbackQueryFilter.__call__": CallbackQueryFilter.__call__,
        "CallbackData.unpack": CallbackData.unpack,
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
                      "wrap_outer_middleware"):
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


# For one prefix: the routers to visit under each router whose sub-routers are not all
# visited. A router absent from the plan is walked by aiogram itself, all of it.
Plan = dict[Router, tuple[Router, ...]]


def _plan(node: _Node, prefix: str | None, plan: Plan) -> None:
    kept = [child for child in node.children if child.could_take(prefix)]
    if len(kept) < len(node.children):
        plan[node.router] = tuple(child.router for child in kept)
    for child in kept:
        _plan(child, prefix, plan)


@dataclass(frozen=True)
class CallbackRoutes:
    """For each known prefix (and None: any other data), where a tap goes."""

    plans: dict[str | None, Plan]

    @classmethod
    def read(cls, root: Router) -> CallbackRoutes:
        tree = _read(root)
        prefixes: set[str | None] = {None}
        stack = [tree]
        while stack:
            node = stack.pop()
            prefixes |= node.prefixes
            stack.extend(node.children)
        plans: dict[str | None, Plan] = {}
        for prefix in prefixes:
            plan: Plan = {}
            _plan(tree, prefix, plan)
            plans[prefix] = plan
        return cls(plans)

    def plan_for(self, data: str | None) -> Plan:
        prefix = data.split(SEPARATOR, 1)[0] if data else None
        plan = self.plans.get(prefix)
        return self.plans[None] if plan is None else plan


async def _visit(router: Router, plan: Plan, event: TelegramObject, kwargs: dict[str, Any]) -> Any:
    children = plan.get(router)
    if children is None:
        return await router.propagate_event(update_type=UPDATE_TYPE, event=event, **kwargs)
    # What aiogram's Router.propagate_event and _propagate_event do, over `children` only.
    observer: TelegramEventObserver = router.callback_query
    context = {**kwargs, "event_router": router}

    async def walk(telegram_event: TelegramObject, **data: Any) -> Any:
        passed, extra = await observer.check_root_filters(telegram_event, **data)
        if not passed:
            return UNHANDLED
        data.update(extra)
        response = await observer.trigger(telegram_event, **data)
        if response is REJECTED:
            return UNHANDLED
        if response is not UNHANDLED:
            return response
        for child in children:
            response = await _visit(child, plan, telegram_event, data)
            if response is not UNHANDLED:
                break
        return response

    return await observer.wrap_outer_middleware(walk, event=event, data=context)


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
        plan = self.callback_routes.plan_for(event.data)
        if self not in plan:  # every sub-router could take it
            return await super().propagate_event(update_type, event, **kwargs)
        return await _visit(self, plan, event, kwargs)
