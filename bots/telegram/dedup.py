"""Deduplication of updates by `update_id`, so a redelivered update has exactly one effect.

Telegram redelivers a webhook update it thinks failed, and a restarted poller may fetch an
update again; with several workers the copy can reach another process. The first claim of
`<bot id>:<update_id>` wins: in Redis (`SET NX EX`, shared by all workers) when configured,
otherwise in a per-process set with a time to live. The middleware runs first on every
update and drops the copies before anything else sees them. When the per-user throttle's
cells live in the same Redis, the claim takes the update's cell in the same script and hands
the verdict to `ThrottlingMiddleware`, and given the keys of the sender's FSM state and data
(an `FsmPrefetch`) it reads them too: one round trip for all three. That is why the
middleware runs before aiogram's FSM middleware, which would otherwise read the state first.
Under load many updates arrive in one pass of the event loop; their claims go to Redis as one
script call (`bots.telegram.batching`), run in arrival order.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

from bots.telegram.batching import Batcher
from bots.telegram.lua import LuaScript
from bots.telegram.ratelimit import RedisRateLimiter, Rule
from bots.telegram.throttling import THROTTLE_WAIT, ThrottlingMiddleware

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# Telegram keeps retrying a failed webhook for a while and keeps updates for 24 hours; an
# hour covers redeliveries in practice while keeping the set small.
DEFAULT_TTL_SECONDS = 3600


class UpdateDeduplicator(Protocol):
    async def first_time(self, key: str) -> bool:
        """Claim `key`; True only for the first claim within the time to live."""
        ...


class InMemoryDeduplicator:
    """Claims in this process, expiring after `ttl_seconds`, at most `max_keys` remembered."""

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        *,
        max_keys: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_keys <= 0:
            raise ValueError("ttl_seconds and max_keys must be positive")
        self._ttl = ttl_seconds
        self._max_keys = max_keys
        self._clock = clock
        # Insertion order is expiry order (one TTL for all), so purging looks at the front.
        self._expiry: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, key: str) -> bool:
        now = self._clock()
        while self._expiry:
            oldest, expires_at = next(iter(self._expiry.items()))
            if expires_at > now and len(self._expiry) < self._max_keys:
                break
            del self._expiry[oldest]
        if key in self._expiry:
            return False
        self._expiry[key] = now + self._ttl
        return True

    def __len__(self) -> int:
        return len(self._expiry)


# Claims made in one pass of the event loop, in order. Each claim has 2 keys (the update's
# claim, the sender's throttle cell: the GCRA arrival time `RedisRateLimiter` keeps) or 4
# (and the sender's FSM state and data). ARGV: the claims' time to live, then per claim its
# key count and the rule's interval and tolerance. A claim already held answers -1 and takes
# nothing; otherwise the claim is held and the cell taken if free now (0), else left (the
# seconds until free), exactly as `RedisRateLimiter.try_acquire` would decide. Each answer is
# {verdict, state, data}; state and data nil when not asked for.
_CLAIMS_THEN_TRY = """
local ttl = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local answers = {}
local k = 1
local a = 2
while a <= #ARGV do
  local count = tonumber(ARGV[a])
  local interval = tonumber(ARGV[a + 1])
  local tolerance = tonumber(ARGV[a + 2])
  if not redis.call('SET', KEYS[k], '1', 'NX', 'EX', ttl) then
    answers[#answers + 1] = {'-1'}
  else
    local state = false
    local data = false
    if count >= 4 then
      state = redis.call('GET', KEYS[k + 2])
      data = redis.call('GET', KEYS[k + 3])
    end
    local stored = redis.call('GET', KEYS[k + 1])
    local tat = stored and tonumber(stored) or now
    if tat < now then tat = now end
    local wait = tat - tolerance - now
    -- Arrival times are stored to the microsecond: within one call (one `now`) a cell
    -- taken a moment ago must not read as a hair late.
    if wait > 1e-6 then
      answers[#answers + 1] = {tostring(wait), state, data}
    else
      tat = tat + interval
      redis.call('SET', KEYS[k + 1], string.format('%.6f', tat), 'PX',
                 math.ceil((tat - now) * 1000) + 1000)
      answers[#answers + 1] = {'0', state, data}
    end
  end
  k = k + count
  a = a + 3
end
return answers
"""

Claim = tuple[list[str], Rule]  # (its keys, the throttle rule)
ClaimAnswer = tuple[float | None, bytes | None, bytes | None]


class FsmPrefetch(Protocol):
    """Where an update's FSM state and data live, so the claim can read them on its way."""

    def redis_keys(self, bot: Any, data: dict[str, Any]) -> tuple[Any, str, str] | None:
        """(the storage key, the state's Redis key, the data's), or None (no FSM context)."""
        ...

    def remember(self, key: Any, state: bytes | str | None, data: bytes | str | None) -> None:
        """Hand what was read to this update's FSM reads."""
        ...


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class RedisDeduplicator:
    """Claims shared by every worker: `SET <prefix><key> 1 NX EX ttl`. Given the throttle's
    key prefix (the `RedisRateLimiter`'s, in the same Redis), a claim can also take the
    sender's throttle cell in the same script."""

    def __init__(
        self,
        redis: Redis,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        *,
        prefix: str = "yueban:tg:update:",
        throttle_prefix: str | None = None,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._redis = redis
        self._ttl = int(ttl_seconds)
        self._prefix = prefix
        self._throttle_prefix = throttle_prefix
        self._claims_then_try = LuaScript(redis, _CLAIMS_THEN_TRY)
        # Updates arrive together under load: their claims share a round trip.
        self._claims: Batcher[Claim, ClaimAnswer] = Batcher(self._claim_all)

    async def first_time(self, key: str) -> bool:
        return bool(await self._redis.set(self._prefix + key, b"1", nx=True, ex=self._ttl))

    @property
    def throttles(self) -> bool:
        """Whether a claim can take a throttle cell too (`throttle_prefix` was given)."""
        return self._throttle_prefix is not None

    @property
    def redis(self) -> Redis:
        return self._redis

    async def first_time_then_try(self, key: str, rule: Rule) -> float | None:
        """Claim `key` and, if it is the first claim, take a cell under the throttle `rule`
        if free now, in one round trip: None for a copy, else the seconds until the cell is
        free (0: taken)."""
        wait, _, _ = await self.claim(key, rule)
        return wait

    async def claim(
        self, key: str, rule: Rule, fsm_keys: tuple[str, str] | None = None
    ) -> tuple[float | None, bytes | None, bytes | None]:
        """`first_time_then_try`, reading the FSM state and data under `fsm_keys` as well
        (unless the update is a copy): (wait or None, state, data)."""
        assert self._throttle_prefix is not None
        keys = [self._prefix + key, self._throttle_prefix + rule.key]
        if fsm_keys is not None:
            keys.extend(fsm_keys)
        return await self._claims.submit((keys, rule))

    async def _claim_all(self, claims: Sequence[Claim]) -> list[ClaimAnswer]:
        keys: list[str] = []
        args: list[Any] = [self._ttl]
        for claim_keys, rule in claims:
            keys.extend(claim_keys)
            args.extend([len(claim_keys), repr(rule.interval), repr(rule.tolerance)])
        answers = await self._claims_then_try(keys=keys, args=args)
        return [_claim_answer(answer) for answer in answers]


def _claim_answer(answer: list[Any]) -> ClaimAnswer:
    wait = float(_text(answer[0]) or 0)
    state = answer[1] if len(answer) > 1 else None
    data = answer[2] if len(answer) > 2 else None
    return (None if wait < 0 else wait), state, data


class DeduplicationMiddleware(BaseMiddleware):
    """Outer update middleware: a copy of an update already seen goes no further."""

    def __init__(
        self,
        deduplicator: UpdateDeduplicator,
        throttling: ThrottlingMiddleware | None = None,
        fsm: FsmPrefetch | None = None,
    ) -> None:
        self.deduplicator = deduplicator
        self.duplicates = 0
        self._fsm = fsm
        # With the claims and the throttle's cells in one Redis, the claim takes the cell too
        # and leaves the verdict to the throttling middleware in the handler data.
        self._throttling = (
            throttling
            if throttling is not None
            and isinstance(deduplicator, RedisDeduplicator)
            and deduplicator.throttles
            and isinstance(throttling.limiter, RedisRateLimiter)
            else None
        )

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Update):
            bot = data.get("bot")
            key = f"{bot.id if bot else 0}:{event.update_id}"
            user: User | None = data.get("event_from_user")
            throttling = self._throttling
            if throttling is not None and bot is not None and user is not None:
                assert isinstance(self.deduplicator, RedisDeduplicator)
                fsm = self._fsm.redis_keys(bot, data) if self._fsm is not None else None
                wait, state, fsm_data = await self.deduplicator.claim(
                    key, throttling.rule_for(bot.id, user.id),
                    None if fsm is None else (fsm[1], fsm[2]),
                )
                first = wait is not None
                if first:
                    data[THROTTLE_WAIT] = wait
                    if fsm is not None and self._fsm is not None:
                        self._fsm.remember(fsm[0], state, fsm_data)
            else:
                first = await self.deduplicator.first_time(key)
            if not first:
                self.duplicates += 1
                log.info("dropped duplicate update %s", key)
                return None
        return await handler(event, data)
