"""Collecting a Telegram album's parts before it is relayed as one media group.

Telegram delivers an album as separate messages sharing a `media_group_id`, one update
each. The relay courier (`bots.telegram.handlers.relay.RelayCourier`) hands every part's
plan to an `AlbumCollector`; the one part told it claimed the album waits the album wait,
then takes every part collected so far and sends the album once.

- `InProcessAlbums`: the parts live in this process (one worker).
- `RedisAlbums`: with several workers the parts of one album reach different processes, so
  they meet in Redis. The first part claims the album (`SET … NX PX`), every part is
  appended to a list as JSON, and the claimer reads the list and deletes both keys in one
  transaction. Both keys expire, so a claimer that dies leaves nothing behind for long. A
  part that arrives after the album was taken claims a new one and goes alone.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, Protocol

from core.relay.commands import RelayPlan, RelayTarget
from core.relay.model import DeliveryMode, Location, MessageKind, ParticipantRole

if TYPE_CHECKING:
    from redis.asyncio import Redis


class AlbumCollector(Protocol):
    async def add(self, plan: RelayPlan) -> bool:
        """Collect one part; True for the one part that claimed the album (it sends it)."""
        ...

    async def take(self, plan: RelayPlan) -> list[RelayPlan]:
        """Every part of `plan`'s album collected so far, forgotten once taken."""
        ...


def album_key(plan: RelayPlan) -> str:
    return f"{plan.chat_id}:{plan.media_group_id or ''}"


class InProcessAlbums:
    """Albums collected in this process."""

    def __init__(self) -> None:
        self._parts: dict[str, list[RelayPlan]] = {}

    async def add(self, plan: RelayPlan) -> bool:
        parts = self._parts.setdefault(album_key(plan), [])
        parts.append(plan)
        return len(parts) == 1

    async def take(self, plan: RelayPlan) -> list[RelayPlan]:
        return self._parts.pop(album_key(plan), [])


class RedisAlbums:
    """Albums collected in Redis, shared by every worker: `<prefix><chat>:<group>:claim`
    (the claim) and `…:parts` (the parts as JSON, in arrival order)."""

    def __init__(self, redis: Redis, *, prefix: str = "yueban:tg:album:",
                 ttl_seconds: float = 60.0) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = int(ttl_seconds * 1000)

    def _keys(self, plan: RelayPlan) -> tuple[str, str]:
        base = self._prefix + album_key(plan)
        return f"{base}:claim", f"{base}:parts"

    async def add(self, plan: RelayPlan) -> bool:
        claim, parts = self._keys(plan)
        # One transaction: a `take` between the push and the claim would leave this part
        # in the album just sent and then claim an album of nothing.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(parts, plan_to_json(plan))
            pipe.pexpire(parts, self._ttl_ms)
            pipe.set(claim, b"1", nx=True, px=self._ttl_ms)
            _, _, claimed = await pipe.execute()
        return bool(claimed)

    async def take(self, plan: RelayPlan) -> list[RelayPlan]:
        claim, parts = self._keys(plan)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(parts, 0, -1)
            pipe.delete(parts, claim)
            raw, _ = await pipe.execute()
        return [plan_from_json(item) for item in raw]


# -- RelayPlan as JSON --------------------------------------------------------------------------


def plan_to_json(plan: RelayPlan) -> str:
    # Enums are str enums, tuples become lists; anything else would fail here, loudly.
    return json.dumps(dataclasses.asdict(plan), ensure_ascii=False, separators=(",", ":"))


def plan_from_json(raw: str | bytes) -> RelayPlan:
    data: dict[str, Any] = json.loads(raw)
    location = data["location"]
    return RelayPlan(**{
        **data,
        "sender_role": ParticipantRole(data["sender_role"]),
        "kind": MessageKind(data["kind"]),
        "leak_kinds": tuple(data["leak_kinds"]),
        "files": tuple(data["files"]),
        "location": Location(**location) if location is not None else None,
        "targets": tuple(_target(target) for target in data["targets"]),
    })


def _target(data: dict[str, Any]) -> RelayTarget:
    return RelayTarget(**{**data, "role": ParticipantRole(data["role"]),
                          "mode": DeliveryMode(data["mode"])})
