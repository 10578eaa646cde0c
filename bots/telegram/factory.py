"""Building the Bot (session, API server, outbound limiter) and the Dispatcher (middlewares,
router tree, error boundary, workflow data).

Every update passes, in order: aiogram's error boundary and user context, deduplication by
`update_id` and per-user throttling (with Redis, one script that also reads the sender's FSM
state), aiogram's FSM context, the actor lookup, then the router tree. Handlers get the
bus as `bus` and the actor cache as `actor_cache` from the dispatcher's workflow data.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage

from bots.telegram import errors
from bots.telegram.binding import bind_bots_directly
from bots.telegram.dedup import (
    DeduplicationMiddleware,
    InMemoryDeduplicator,
    RedisDeduplicator,
    UpdateDeduplicator,
)
from bots.telegram.filters import inline_sync_filters
from bots.telegram.handlers import build_router_tree
from bots.telegram.middlewares import ActorCache, ActorMiddleware
from bots.telegram.ratelimit import (
    InProcessRateLimiter,
    OutboundLimits,
    OutboundRateLimitMiddleware,
    RateLimiter,
)
from bots.telegram.session import BotApiSession
from bots.telegram.throttling import ThrottleLimits, ThrottlingMiddleware
from core.messagebus import MessageBus

PRODUCTION_API_BASE = "https://api.telegram.org"


def build_bot(
    token: str,
    *,
    api_base: str = PRODUCTION_API_BASE,
    limiter: RateLimiter | None = None,
    limits: OutboundLimits | None = None,
) -> Bot:
    """A Bot talking to `api_base` (Telegram, a self-hosted Bot API server, or the stand-in),
    with every send paced by the outbound limiter."""
    bind_bots_directly()
    session = BotApiSession(api_base)
    session.middleware(OutboundRateLimitMiddleware(limiter or InProcessRateLimiter(), limits))
    return Bot(token, session=session)


# -- FSM reads, once per update ---------------------------------------------------------------

class _Reads:
    """One update's FSM reads, kept for the task that handles it (the first to read)."""

    __slots__ = ("owner", "values")

    def __init__(self) -> None:
        self.owner: asyncio.Task[Any] | None = None
        self.values: dict[tuple[StorageKey, str], Any] = {}


_fsm_reads: ContextVar[_Reads | None] = ContextVar("yueban_fsm_reads", default=None)


@contextlib.contextmanager
def fsm_read_scope() -> Iterator[None]:
    """An update handed on inside this block (to a task, which copies the context) remembers
    its FSM reads for itself: see `UpdateScopedStorage`."""
    token = _fsm_reads.set(_Reads())
    try:
        yield
    finally:
        _fsm_reads.reset(token)


def _update_reads() -> dict[tuple[StorageKey, str], Any] | None:
    """This update's remembered reads; None outside an update's scope, and in a task the
    update started (it may outlive the update, so it reads Redis)."""
    scope = _fsm_reads.get()
    if scope is None:
        return None
    task = asyncio.current_task()
    if scope.owner is None:
        scope.owner = task
    elif scope.owner is not task:
        return None
    return scope.values


class UpdateScopedStorage(BaseStorage):
    """FSM storage in Redis that reads a conversation's state and data together, once per
    update: aiogram reads the state for every update, and a handler then reads the state
    again and the data; each was a Redis round trip. Writes go through at once and update
    what the update remembers. Outside an update's scope it reads Redis every time."""

    def __init__(self, inner: RedisStorage) -> None:
        self.inner = inner

    @property
    def redis(self) -> Any:
        return self.inner.redis

    async def _load(self, key: StorageKey) -> dict[tuple[StorageKey, str], Any] | None:
        reads = _update_reads()
        if reads is None or (key, "state") in reads:
            return reads
        builder = self.inner.key_builder
        state, data = await self.inner.redis.mget(
            builder.build(key, "state"), builder.build(key, "data")
        )
        self._keep(reads, key, state, data)
        return reads

    @staticmethod
    def _keep(reads: dict[tuple[StorageKey, str], Any], key: StorageKey,
              state: bytes | str | None, data: bytes | str | None) -> None:
        reads[(key, "state")] = state.decode() if isinstance(state, bytes) else state
        # The data stays the JSON text Redis holds until a handler asks for it (most updates
        # never do), and each ask parses it anew, as the Redis storage itself would.
        if data is None:
            reads[(key, "data")] = {}
        else:
            reads[(key, "data")] = data.decode() if isinstance(data, bytes) else data

    def remember(self, key: StorageKey, state: bytes | str | None,
                 data: bytes | str | None) -> None:
        """Take state and data read elsewhere in this update (by the claim's script) as this
        update's reads. Outside an update's scope, nothing is kept."""
        reads = _update_reads()
        if reads is None:
            return
        self._keep(reads, key, state, data)

    async def get_state(self, key: StorageKey) -> str | None:
        reads = await self._load(key)
        if reads is None:
            return await self.inner.get_state(key)
        state: str | None = reads[(key, "state")]
        return state

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        reads = await self._load(key)
        if reads is None:
            return await self.inner.get_data(key)
        data = reads[(key, "data")]
        if isinstance(data, str):
            return self.inner.json_loads(data)  # type: ignore[no-any-return]
        return copy.deepcopy(data)  # type: ignore[no-any-return]

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self.inner.set_state(key, state)
        reads = _update_reads()
        if reads is not None and (key, "state") in reads:
            reads[(key, "state")] = state.state if isinstance(state, State) else state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self.inner.set_data(key, data)
        reads = _update_reads()
        if reads is not None and (key, "state") in reads:
            reads[(key, "data")] = copy.deepcopy(dict(data))

    async def close(self) -> None:
        await self.inner.close()


class FsmPrefetcher:
    """Tells the update's claim (`DeduplicationMiddleware`) which FSM keys to read with it,
    as aiogram's FSM middleware would resolve them, and hands what it read to the storage."""

    def __init__(self, fsm: FSMContextMiddleware, storage: UpdateScopedStorage) -> None:
        self.fsm = fsm
        self.storage = storage

    def redis_keys(self, bot: Any, data: dict[str, Any]) -> tuple[StorageKey, str, str] | None:
        context = self.fsm.resolve_event_context(bot, data)
        if context is None:
            return None
        builder = self.storage.inner.key_builder
        return context.key, builder.build(context.key, "state"), builder.build(context.key, "data")

    def remember(self, key: StorageKey, state: bytes | str | None,
                 data: bytes | str | None) -> None:
        self.storage.remember(key, state, data)


def register_before_fsm(dispatcher: Dispatcher, *middlewares: Any) -> None:
    """Register update middlewares to run before aiogram's FSM middleware (which reads the
    state): a copy or a throttled update then costs no FSM read, and the claim can fetch the
    state for the rest."""
    registered = dispatcher.update.outer_middleware._middlewares
    at = registered.index(dispatcher.fsm) if dispatcher.fsm in registered else len(registered)
    registered[at:at] = middlewares


@dataclass
class DispatcherParts:
    """What the dispatcher shares with the rest of the process (and tests look at)."""

    deduplication: DeduplicationMiddleware
    throttling: ThrottlingMiddleware
    actor_cache: ActorCache = field(default_factory=ActorCache)


def build_dispatcher(
    bus: MessageBus,
    *,
    storage: BaseStorage | None = None,
    deduplicator: UpdateDeduplicator | None = None,
    limiter: RateLimiter | None = None,
    throttle: ThrottleLimits | None = None,
    actor_cache: ActorCache | None = None,
) -> Dispatcher:
    """The dispatcher with Yueban's middlewares and routers; `dp["parts"]` holds its pieces."""
    dispatcher = Dispatcher(storage=storage or MemoryStorage())
    throttling = ThrottlingMiddleware(limiter or InProcessRateLimiter(), throttle)
    prefetch = None
    if (isinstance(storage, UpdateScopedStorage) and isinstance(deduplicator, RedisDeduplicator)
            and storage.redis is deduplicator.redis):
        prefetch = FsmPrefetcher(dispatcher.fsm, storage)
    parts = DispatcherParts(
        deduplication=DeduplicationMiddleware(
            deduplicator or InMemoryDeduplicator(), throttling=throttling, fsm=prefetch
        ),
        throttling=throttling,
        actor_cache=actor_cache or ActorCache(),
    )
    dispatcher["bus"] = bus
    dispatcher["actor_cache"] = parts.actor_cache
    dispatcher["parts"] = parts
    register_before_fsm(dispatcher, parts.deduplication, parts.throttling)
    dispatcher.update.outer_middleware(ActorMiddleware(bus, parts.actor_cache))
    errors.install(dispatcher)
    dispatcher.include_router(build_router_tree())
    inline_sync_filters(dispatcher)
    return dispatcher
