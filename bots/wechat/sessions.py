"""The small conversation state kept per openid between two WeChat messages.

An official account has no buttons that carry data (msgmenu choices aside), so a multi-step
flow ("pick a category, a provider, a slot, confirm") keeps its place here: the current
`step`, the flow's `data` (ids picked so far) and the numbered `choices` of the last prompt,
so that a reply of "2" means the second line the person was shown. A choice is a token
(`cat:5`, `slot:1767924000`, `act:order.accept:42`) the handlers understand.

State lives in memory for one worker (`InMemorySessionStore`) or in Redis shared by all
workers (`RedisSessionStore`), expires after `ttl_seconds` of silence, and never holds
anything a person could not see anyway: only ids and the labels they were shown.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis

# Half an hour of silence ends a flow: the person has moved on, and a stale "2" must not
# book something they no longer have on screen.
DEFAULT_SESSION_TTL_SECONDS = 30 * 60
# A prompt never offers more than this many numbered lines.
MAX_CHOICES = 12


@dataclass
class Session:
    """Where one person is in a flow; `step == ""` means no flow is waiting for them."""

    step: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    choices: list[tuple[str, str]] = field(default_factory=list)  # (token, label)

    @property
    def idle(self) -> bool:
        return not self.step and not self.choices

    def choice(self, number: int) -> str | None:
        """The token behind the `number`th line (1-based), or None if there is none."""
        if 1 <= number <= len(self.choices):
            return self.choices[number - 1][0]
        return None

    def reset(self) -> None:
        self.step = ""
        self.data = {}
        self.choices = []

    def to_json(self) -> str:
        return json.dumps(
            {"s": self.step, "d": self.data, "c": [list(c) for c in self.choices]},
            ensure_ascii=False, separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Session:
        data = json.loads(raw)
        return cls(
            step=str(data.get("s", "")),
            data=dict(data.get("d", {})),
            choices=[(str(token), str(label)) for token, label in data.get("c", [])],
        )


class SessionStore(Protocol):
    async def load(self, openid: str) -> Session:
        """The person's session, or a fresh idle one."""
        ...

    async def save(self, openid: str, session: Session) -> None:
        """Keep `session` (an idle one is forgotten)."""
        ...


class InMemorySessionStore:
    """Sessions of one worker, bounded in number, each forgotten after its TTL."""

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_SESSION_TTL_SECONDS,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def load(self, openid: str) -> Session:
        entry = self._entries.get(openid)
        if entry is None:
            return Session()
        expires_at, raw = entry
        if expires_at <= self._clock():
            del self._entries[openid]
            return Session()
        return Session.from_json(raw)

    async def save(self, openid: str, session: Session) -> None:
        self._entries.pop(openid, None)
        if session.idle and not session.data:
            return
        self._entries[openid] = (self._clock() + self._ttl, session.to_json())
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class RedisSessionStore:
    """Sessions shared by every worker: one JSON value per openid with an expiry."""

    def __init__(
        self,
        redis: Redis,
        app_id: str,
        ttl_seconds: int = DEFAULT_SESSION_TTL_SECONDS,
        *,
        prefix: str = "yueban:wechat",
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._redis = redis
        self._ttl = ttl_seconds
        self._prefix = f"{prefix}:{app_id}:session:"

    async def load(self, openid: str) -> Session:
        raw = await self._redis.get(self._prefix + openid)
        return Session.from_json(raw) if raw else Session()

    async def save(self, openid: str, session: Session) -> None:
        key = self._prefix + openid
        if session.idle and not session.data:
            await self._redis.delete(key)
            return
        await self._redis.set(key, session.to_json(), ex=self._ttl)
