"""The customer-service window: when WeChat lets us message a user, and how many times.

An official account may only send customer-service messages to a user after that user
interacted with it, within a quota and a time limit that depend on the interaction
(rules in force since 12 June 2023): a message from the user allows 5 sends within
48 hours; a menu click, a follow or a QR scan allows 3 sends within 1 minute. A new
interaction never lowers what is left: the count and the deadline each take the larger
value. Outside the window WeChat answers 45015, past the quota 45047; we track both per
openid so a caller can fall back to a template message without burning an API call.

Messages relayed to a person while their window was closed wait in the core's queue;
`ReopeningWindows` lets them through whenever an interaction is recorded.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import WatchError

log = logging.getLogger(__name__)


class Interaction(StrEnum):
    MESSAGE = "message"
    MENU_CLICK = "menu_click"
    SUBSCRIBE = "subscribe"
    SCAN = "scan"


class WindowStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # no interaction, or its time limit passed: WeChat says 45015
    EXHAUSTED = "exhausted"  # within time, but the quota is spent: WeChat says 45047


@dataclass(frozen=True)
class WindowRule:
    quota: int
    ttl_seconds: float


DEFAULT_RULES: Mapping[Interaction, WindowRule] = {
    Interaction.MESSAGE: WindowRule(quota=5, ttl_seconds=48 * 3600),
    Interaction.MENU_CLICK: WindowRule(quota=3, ttl_seconds=60),
    Interaction.SUBSCRIBE: WindowRule(quota=3, ttl_seconds=60),
    Interaction.SCAN: WindowRule(quota=3, ttl_seconds=60),
}

_MESSAGE_TYPES = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link"})
# Only these menu button types open the window; VIEW (a link) does not.
_MENU_EVENTS = frozenset({"click", "scancode_push", "scancode_waitmsg"})


def interaction_of(fields: Mapping[str, str]) -> Interaction | None:
    """Which window-opening interaction a pushed message is, if any."""
    msg_type = fields.get("MsgType", "").lower()
    if msg_type in _MESSAGE_TYPES:
        return Interaction.MESSAGE
    if msg_type != "event":
        return None
    event = fields.get("Event", "").lower()
    if event == "subscribe":
        return Interaction.SUBSCRIBE
    if event == "scan":
        return Interaction.SCAN
    if event in _MENU_EVENTS:
        return Interaction.MENU_CLICK
    return None


@dataclass(frozen=True)
class Allowance:
    remaining: int
    expires_at: float
    last_interaction_at: float

    def status(self, now: float) -> WindowStatus:
        if now >= self.expires_at:
            return WindowStatus.CLOSED
        if self.remaining <= 0:
            return WindowStatus.EXHAUSTED
        return WindowStatus.OPEN

    def after(self, rule: WindowRule, at: float, now: float) -> Allowance:
        """The allowance once an interaction under `rule` happened at `at`."""
        live = now < self.expires_at
        return Allowance(
            remaining=max(self.remaining if live else 0, rule.quota),
            expires_at=max(self.expires_at if live else 0.0, at + rule.ttl_seconds),
            last_interaction_at=max(self.last_interaction_at, at),
        )

    def to_json(self) -> str:
        return json.dumps(
            {"r": self.remaining, "e": self.expires_at, "l": self.last_interaction_at}
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Allowance:
        data = json.loads(raw)
        return cls(remaining=int(data["r"]), expires_at=float(data["e"]),
                   last_interaction_at=float(data["l"]))


_NONE = Allowance(remaining=0, expires_at=0.0, last_interaction_at=0.0)


class ServiceWindows(Protocol):
    async def record(self, openid: str, interaction: Interaction, at: float) -> None:
        """The user interacted at `at` (epoch seconds)."""
        ...

    async def status(self, openid: str) -> WindowStatus: ...

    async def reserve(self, openid: str) -> WindowStatus:
        """Take one send from the quota if the window is open; report the status either way."""
        ...

    async def release(self, openid: str) -> None:
        """Give back a reserved send that WeChat did not count (the call failed otherwise)."""
        ...

    async def mark(self, openid: str, status: WindowStatus) -> None:
        """WeChat said closed (45015) or exhausted (45047): believe it over our own count."""
        ...

    async def last_interaction(self, openid: str) -> float | None: ...


class _AllowanceWindows(ABC):
    """The rules, written once over load/compare-and-store primitives."""

    def __init__(self, rules: Mapping[Interaction, WindowRule], clock: Callable[[], float]):
        self._rules = dict(rules)
        self._clock = clock

    @abstractmethod
    async def _update(self, openid: str, change: Callable[[Allowance], Allowance | None]) -> None:
        """Apply `change` to the stored allowance atomically (None: delete it)."""

    @abstractmethod
    async def _load(self, openid: str) -> Allowance:
        """The stored allowance, or a fresh one."""

    async def record(self, openid: str, interaction: Interaction, at: float) -> None:
        rule = self._rules[interaction]
        now = self._clock()
        await self._update(openid, lambda current: current.after(rule, at, now))

    async def status(self, openid: str) -> WindowStatus:
        return (await self._load(openid)).status(self._clock())

    async def reserve(self, openid: str) -> WindowStatus:
        now = self._clock()
        seen: list[WindowStatus] = []

        def take(current: Allowance) -> Allowance | None:
            status = current.status(now)
            seen.append(status)
            if status is not WindowStatus.OPEN:
                return None
            return Allowance(current.remaining - 1, current.expires_at,
                             current.last_interaction_at)

        await self._update(openid, take)
        return seen[-1]

    async def release(self, openid: str) -> None:
        now = self._clock()

        def give_back(current: Allowance) -> Allowance | None:
            if now >= current.expires_at:
                return None
            return Allowance(current.remaining + 1, current.expires_at,
                             current.last_interaction_at)

        await self._update(openid, give_back)

    async def mark(self, openid: str, status: WindowStatus) -> None:
        now = self._clock()

        def believe(current: Allowance) -> Allowance | None:
            if status is WindowStatus.CLOSED:
                return Allowance(0, min(current.expires_at, now), current.last_interaction_at)
            if status is WindowStatus.EXHAUSTED:
                return Allowance(0, current.expires_at, current.last_interaction_at)
            return None

        await self._update(openid, believe)

    async def last_interaction(self, openid: str) -> float | None:
        allowance = await self._load(openid)
        return allowance.last_interaction_at or None


class InMemoryServiceWindows(_AllowanceWindows):
    """Per-process window tracking for a single worker."""

    def __init__(
        self,
        rules: Mapping[Interaction, WindowRule] = DEFAULT_RULES,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(rules, clock)
        self._allowances: dict[str, Allowance] = {}

    async def _load(self, openid: str) -> Allowance:
        return self._allowances.get(openid, _NONE)

    async def _update(self, openid: str, change: Callable[[Allowance], Allowance | None]) -> None:
        # No await between read and write: atomic on one event loop.
        new = change(self._allowances.get(openid, _NONE))
        if new is not None:
            self._allowances[openid] = new


class RedisServiceWindows(_AllowanceWindows):
    """Window tracking shared by all workers; each change is a WATCH/MULTI transaction."""

    def __init__(
        self,
        redis: Redis,
        app_id: str,
        rules: Mapping[Interaction, WindowRule] = DEFAULT_RULES,
        *,
        clock: Callable[[], float] = time.time,
        prefix: str = "yueban:wechat",
    ) -> None:
        super().__init__(rules, clock)
        self._redis = redis
        self._prefix = f"{prefix}:{app_id}:window:"

    async def _load(self, openid: str) -> Allowance:
        raw = await self._redis.get(self._prefix + openid)
        return Allowance.from_json(raw) if raw else _NONE

    async def _update(self, openid: str, change: Callable[[Allowance], Allowance | None]) -> None:
        key = self._prefix + openid
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    new = change(Allowance.from_json(raw) if raw else _NONE)
                    if new is None:
                        await pipe.unwatch()
                        return
                    # Keep the record a day past the window so "last interaction" outlives it.
                    ttl = max(1, int(new.expires_at - self._clock()) + 86400)
                    pipe.multi()
                    pipe.set(key, new.to_json(), ex=ttl)
                    await pipe.execute()
                    return
                except WatchError:
                    continue


class ReopeningWindows:
    """Service windows that, once an interaction is recorded, hand the openid to
    `on_interaction` (which delivers what waited for that person, in order).

    The webhook records every interaction before `on_message`, so waiting messages go out
    before any customer-service answer to what the person just sent (a passive reply,
    which costs no quota, may come first). A failure there is logged and never stops the
    message itself from being handled; what was not delivered stays queued for the next
    interaction.
    """

    def __init__(self, inner: ServiceWindows,
                 on_interaction: Callable[[str], Awaitable[object]]) -> None:
        self.inner = inner
        self._on_interaction = on_interaction

    async def record(self, openid: str, interaction: Interaction, at: float) -> None:
        await self.inner.record(openid, interaction, at)
        try:
            await self._on_interaction(openid)
        except Exception:
            log.exception("delivering what waited for %s failed", openid)

    async def status(self, openid: str) -> WindowStatus:
        return await self.inner.status(openid)

    async def reserve(self, openid: str) -> WindowStatus:
        return await self.inner.reserve(openid)

    async def release(self, openid: str) -> None:
        await self.inner.release(openid)

    async def mark(self, openid: str, status: WindowStatus) -> None:
        await self.inner.mark(openid, status)

    async def last_interaction(self, openid: str) -> float | None:
        return await self.inner.last_interaction(openid)
