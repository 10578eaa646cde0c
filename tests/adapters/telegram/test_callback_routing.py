"""A button tap reaches the handler aiogram's walk of every router would reach, while visiting
only the routers that could take its callback data."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update, User

from bots.telegram import routing
from bots.telegram.filters import inline_sync_filters
from bots.telegram.handlers import build_router_tree
from bots.telegram.routing import PrefixRouter

USER = User(id=5, is_bot=False, first_name="Ann", language_code="en")
PRIVATE = Chat(id=5, type="private")
GROUP = Chat(id=-100, type="supergroup")

GARBAGE = [
    None, "", ":", "::", "a", "a:", "a::", "a:unknown.kind:1", "cb", "cb:", "cb:x:y:z:1:2",
    "cp:1", "zz:1", "zz", "lang", "lang:en:extra", "cb|0|1", " cb:0:1", "x" * 64, "ods:1",
]


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, set | frozenset | list | tuple):
        for item in value:
            yield from _strings(item)
    else:
        for slot in getattr(type(value), "__slots__", ()):
            yield from _strings(getattr(value, slot, None))


def _rule_words(each: CallbackQueryFilter) -> Iterator[tuple[str, str]]:
    """(field, word) for every word a rule compares a field with (`F.action == "book"`,
    `F.kind.in_({...})`)."""
    field = ""
    for operation in each.rule._operations if each.rule is not None else ():
        if type(operation).__name__ == "GetAttributeOperation":
            field = operation.name
        else:
            for word in _strings(operation):
                yield field, word


def _callback_filters(root: Router) -> Iterator[CallbackQueryFilter]:
    for router in root.chain_tail:
        for handler in router.callback_query.handlers:
            for filter_object in handler.filters or ():
                if isinstance(filter_object.callback, CallbackQueryFilter):
                    yield filter_object.callback


def _states(root: Router) -> list[str | None]:
    states: set[str | None] = {None}
    for router in root.chain_tail:
        for handler in router.callback_query.handlers:
            for filter_object in handler.filters or ():
                check = filter_object.callback
                if isinstance(check, State):
                    states.add(check.state)
                elif isinstance(check, StateFilter):
                    for each in check.states:
                        if isinstance(each, State):
                            states.add(each.state)
                        elif isinstance(each, type) and issubclass(each, StatesGroup):
                            states.update(s.state for s in each.__all_states__)
                        else:
                            states.add(each)
    states.discard("*")
    return sorted(states, key=str)


def _callback_data(root: Router) -> list[str | None]:
    """Data for every registered CallbackData class: each field in turn takes every word the
    tree's rules compare it with, and one no rule names, so every rule is met and missed."""
    words: dict[tuple[str, str], set[str]] = {}
    for each in _callback_filters(root):
        for field, word in _rule_words(each):
            words.setdefault((each.callback_data.__prefix__, field), set()).add(word)
    packed: list[str | None] = list(GARBAGE)
    for factory in _subclasses(CallbackData):
        candidates: dict[str, list[Any]] = {}
        for name, field in factory.model_fields.items():
            if field.annotation is str:
                candidates[name] = ["x", *sorted(words.get((factory.__prefix__, name), ()))]
            elif field.annotation is int:
                candidates[name] = [1, 0]
            else:
                candidates[name] = [1, None]
        base = {name: values[0] for name, values in candidates.items()}
        variants = [base] + [
            {**base, name: value} for name, values in candidates.items() for value in values
        ]
        for values in variants:
            try:
                packed.append(factory(**values).pack())
            except ValueError:  # a word with the separator in it, or over 64 bytes
                continue
    return list(dict.fromkeys(packed))


def _tap(update_id: int, data: str | None, chat: Chat | None) -> Update:
    message = None
    if chat is not None:
        message = Message(message_id=1, date=datetime.now(UTC), chat=chat, from_user=USER,
                          text="card")
    query = CallbackQuery(id=str(update_id), from_user=USER, chat_instance="c", data=data,
                          message=message, inline_message_id=None if message else "inline")
    return Update(update_id=update_id, callback_query=query)


Chosen = list[tuple[str, str]]


def _recording_dispatcher(root: Router) -> tuple[Dispatcher, Chosen]:
    """A dispatcher that records which handler (and under which router) would run, instead
    of running it."""
    chosen: Chosen = []

    async def record(handler: Callable[..., Awaitable[Any]], event: TelegramObject,
                     data: dict[str, Any]) -> Any:
        callback = data["handler"].callback
        chosen.append((f"{callback.__module__}.{callback.__qualname__}",
                       data["event_router"].name))
        return True

    root.callback_query.middleware(record)
    dispatcher = Dispatcher()
    dispatcher.include_router(root)
    inline_sync_filters(dispatcher)
    return dispatcher, chosen


async def test_every_tap_reaches_the_handler_aiograms_walk_reaches() -> None:
    indexed, by_index = _recording_dispatcher(build_router_tree())
    walked, by_walk = _recording_dispatcher(build_router_tree(by_prefix=False))
    assert isinstance(indexed.sub_routers[0], PrefixRouter)
    assert indexed.sub_routers[0].by_prefix and not walked.sub_routers[0].by_prefix
    reference = build_router_tree(by_prefix=False)
    taps = _callback_data(reference)
    bot = Bot("42:TEST")
    update_ids = itertools.count(1)
    try:
        for state in _states(reference):
            for dispatcher in (indexed, walked):
                for chat in (PRIVATE, GROUP):
                    key = StorageKey(bot_id=bot.id, chat_id=chat.id, user_id=USER.id)
                    await dispatcher.fsm.storage.set_state(key, state)
            for data, chat in itertools.product(taps, (PRIVATE, GROUP, None)):
                for dispatcher in (indexed, walked):
                    await dispatcher.feed_update(bot, _tap(next(update_ids), data, chat))
                assert by_index[-1:] == by_walk[-1:], (data, chat and chat.type, state)
                assert len(by_index) == len(by_walk)
    finally:
        await bot.session.close()

    assert by_index == by_walk
    # The taps reached every callback handler of the bot (the stale-button one included),
    # and private-only routers turned group taps away.
    every_handler = {
        f"{h.callback.__module__}.{h.callback.__qualname__}"
        for router in reference.chain_tail for h in router.callback_query.handlers
    }
    assert {name for name, _ in by_walk} == every_handler
    assert ("bots.telegram.handlers.fallback.on_stale_button", "fallback") in by_walk


async def test_a_browse_tap_unpacks_only_the_data_of_the_router_that_takes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    indexed, by_index = _recording_dispatcher(build_router_tree())
    walked, by_walk = _recording_dispatcher(build_router_tree(by_prefix=False))
    unpacked: list[str] = []
    unpack = CallbackData.unpack.__func__  # type: ignore[attr-defined]

    def counting(cls: type[CallbackData], value: str) -> CallbackData:
        unpacked.append(cls.__prefix__)
        return unpack(cls, value)  # type: ignore[no-any-return]

    monkeypatch.setattr(CallbackData, "unpack", classmethod(counting))
    bot = Bot("42:TEST")
    counts = {}
    try:
        for name, dispatcher in (("index", indexed), ("walk", walked)):
            unpacked.clear()
            await dispatcher.feed_update(bot, _tap(1, "cb:0:1", PRIVATE))
            counts[name] = list(unpacked)
    finally:
        await bot.session.close()
    assert by_index == by_walk == [("bots.telegram.handlers.customer.browse.on_browse_tap",
                                    "customer.browse")]
    # aiogram's walk tries the links, paying and details routers' buttons first.
    assert counts == {"index": ["cb"], "walk": ["cy", "ck", "ck", "ck", "cb"]}


class Probe(CallbackData, prefix="p"):
    n: int


class Other(CallbackData, prefix="q"):
    n: int


def _probe_tree(root: Router, trace: list[str]) -> Router:
    """Routers with what the bot's tree does not have yet: an outer middleware on a router
    without the tapped prefix, a router-level filter that adds data, a skipped handler, a
    data filter no prefix can describe, nesting under a pruned router."""

    def outer(name: str) -> Callable[..., Awaitable[Any]]:
        async def middleware(handler: Callable[..., Awaitable[Any]], event: TelegramObject,
                             data: dict[str, Any]) -> Any:
            trace.append(f"outer {name}")
            return await handler(event, data)
        return middleware

    def handler(name: str, *, skip: bool = False) -> Callable[..., Awaitable[Any]]:
        async def handle(event: CallbackQuery, event_router: Router, **data: Any) -> str:
            trace.append(f"{name} in {event_router.name} with {data.get('flag')}")
            if skip:
                raise SkipHandler
            return name
        return handle

    async def flag(event: CallbackQuery) -> dict[str, Any] | bool:
        return False if event.data and event.data.endswith("4") else {"flag": "set"}

    watched = Router(name="watched")
    watched.callback_query.outer_middleware(outer("watched"))
    watched.callback_query.register(handler("other"), Other.filter(F.n == 1))
    flagged = Router(name="flagged")
    flagged.callback_query.filter(flag)
    flagged.callback_query.register(handler("skipped", skip=True), Probe.filter(F.n == 1))
    unrelated = Router(name="unrelated")
    unrelated.callback_query.register(handler("unrelated"), Other.filter(F.n == 9))
    nested = Router(name="nested")
    nested.callback_query.register(handler("nested"), Probe.filter(F.n == 2))
    catch = Router(name="catch")
    catch.callback_query.register(handler("catch"), Probe.filter(F.n != 5))
    flagged.include_routers(unrelated, nested, catch)
    other = Router(name="other")
    other.callback_query.register(handler("other"), Other.filter())
    by_text = Router(name="by-text")
    by_text.callback_query.register(handler("text"), F.data.in_({"p:4", "p:5"}))
    last = Router(name="last")
    last.callback_query.register(handler("probe"), Probe.filter())
    root.include_routers(watched, flagged, other, by_text, last)
    return root


@pytest.mark.parametrize(
    "data", ["p:1", "p:2", "p:3", "p:4", "p:5", "p:6", "q:1", "q:9", "z:1", "", None]
)
async def test_middlewares_router_filters_and_skips_apply_as_in_aiograms_walk(
    data: str | None,
) -> None:
    traces: dict[str, list[str]] = {}
    results: dict[str, Any] = {}
    for name, root in (("index", PrefixRouter(name="root")), ("walk", Router(name="root"))):
        trace: list[str] = []
        _probe_tree(root, trace)
        event = _tap(1, data, PRIVATE).callback_query
        results[name] = await root.propagate_event("callback_query", event, bot=None)
        traces[name] = trace
    assert traces["index"] == traces["walk"]
    assert str(results["index"]) == str(results["walk"])
    assert "outer watched" in traces["index"]  # the outer middleware runs for every tap


def test_the_installed_aiogram_is_the_one_the_walk_mirrors() -> None:
    routing.check_aiogram()  # an upgrade that changed it fails here, not in production
    assert build_router_tree().by_prefix


def test_an_aiogram_whose_propagation_changed_gets_its_own_walk(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(routing._PINNED, "Router._propagate_event", "0" * 64)
    routing.check_aiogram.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"aiogram changed Router\._propagate_event"):
            routing.check_aiogram()
        with caplog.at_level(logging.WARNING, logger="bots.telegram.routing"):
            root = build_router_tree()
        assert isinstance(root, PrefixRouter) and not root.by_prefix
        assert "taps take aiogram's full walk" in caplog.text
    finally:
        routing.check_aiogram.cache_clear()
