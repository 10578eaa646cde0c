"""Telegram's flood limits for sending messages, as token buckets.

https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this: about
30 messages per second per bot overall, about one message per second in a private chat
(short bursts tolerated), at most 20 messages per minute in a group. Over a limit the
stand-in answers 429 with ``parameters.retry_after`` like Telegram. A refused message
takes no token, so a bot that waits ``retry_after`` seconds always gets through.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RateLimits:
    """Rates per second/minute and bucket sizes; ``enabled=False`` turns all limits off."""

    enabled: bool = True
    per_bot_per_second: float = 30.0
    per_bot_burst: int = 30
    per_private_chat_per_second: float = 1.0
    per_private_chat_burst: int = 5
    per_group_per_minute: float = 20.0
    per_group_burst: int = 20

    @classmethod
    def off(cls) -> RateLimits:
        return cls(enabled=False)

    @classmethod
    def telegram(cls) -> RateLimits:
        return cls()

    def with_changes(self, **changes: float | int | bool) -> RateLimits:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass
class _Bucket:
    rate_per_second: float
    capacity: float
    tokens: float
    updated_at: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_second)
        self.updated_at = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` tokens are available (0 when they are now)."""
        missing = amount - self.tokens
        if missing <= 1e-9:
            return 0.0
        if self.rate_per_second <= 0:
            return math.inf
        return missing / self.rate_per_second


class RateLimiter:
    """Decides whether one more message may go to a chat now, and if not, for how long."""

    def __init__(
        self, limits: RateLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: dict[object, _Bucket] = {}

    def reconfigure(self, limits: RateLimits) -> None:
        self.limits = limits
        self._buckets.clear()

    def _bucket(self, key: object, rate: float, capacity: int, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            capacity_f = float(max(1, capacity))
            bucket = _Bucket(rate, capacity_f, capacity_f, now)
            self._buckets[key] = bucket
        bucket.refill(now)
        return bucket

    def try_acquire(self, chat_id: int, chat_type: str, count: int = 1) -> int | None:
        """Take ``count`` message slots; returns None when allowed, else retry_after seconds."""
        limits = self.limits
        if not limits.enabled:
            return None
        now = self._clock()
        buckets = [self._bucket("bot", limits.per_bot_per_second, limits.per_bot_burst, now)]
        if chat_type == "private":
            buckets.append(
                self._bucket(
                    ("chat", chat_id),
                    limits.per_private_chat_per_second,
                    limits.per_private_chat_burst,
                    now,
                )
            )
        else:
            buckets.append(
                self._bucket(
                    ("chat", chat_id),
                    limits.per_group_per_minute / 60.0,
                    limits.per_group_burst,
                    now,
                )
            )
        # An album bigger than a bucket could never pass; let it drain the bucket instead.
        waits = [bucket.wait_for(min(float(count), bucket.capacity)) for bucket in buckets]
        longest = max(waits)
        if longest > 0:
            return max(1, math.ceil(longest))
        for bucket in buckets:
            bucket.tokens -= min(float(count), bucket.capacity)
        return None
