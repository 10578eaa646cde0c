"""Outbound rate limiting: pace messages under Telegram's flood limits and wait out 429s.

Telegram allows about 30 messages per second per bot, about one per second in a private
chat (short bursts tolerated) and 20 per minute in a group
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this). Going
over earns a 429 with `retry_after`, so we pace ourselves instead: every message-sending
call reserves a slot under the bot's limit and the chat's limit and sleeps until the slot.

The limits are GCRA cells (a token bucket kept as one "theoretical arrival time" per key):
a reservation never fails, it says how long to wait, so concurrent senders queue up fairly.
A send waits for its chat's turn first (reserved, since one chat sees few messages) and
then for a bot-wide turn from the process's `Pacer`, which takes turns when they are used,
so a stalled process never releases a burst over the limit and a message that has to wait
(a busy group) never holds up messages to other chats.
`InProcessRateLimiter` keeps them in memory (one worker); `RedisRateLimiter` keeps them in
Redis with one Lua script per decision, so every worker of one bot shares one budget.

`OutboundRateLimitMiddleware` is an aiogram session middleware: it paces every send,
and when Telegram still answers 429 it waits `retry_after`, pushes that chat's budget back
for the other senders, and tries again, so no message is dropped for flood control.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from bots.telegram.batching import Batcher
from bots.telegram.lua import LuaScript

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import Response
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """`burst` cells at once, then one every `interval` seconds, for `key`."""

    key: str
    interval: float
    burst: int

    @property
    def tolerance(self) -> float:
        return (self.burst - 1) * self.interval

    @classmethod
    def per_second(cls, key: str, rate: float, burst: int) -> Rule:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        return cls(key, 1.0 / rate, burst)


class RateLimiter(Protocol):
    async def reserve(self, rules: Sequence[Rule], cost: int = 1) -> float:
        """Take `cost` cells under every rule; returns the seconds to wait before acting."""
        ...

    async def try_acquire(self, rules: Sequence[Rule], cost: int = 1) -> float:
        """Take the cells only if free now: 0.0 when taken, else the seconds until they are."""
        ...

    async def take(self, rule: Rule, wanted: int) -> tuple[int, float]:
        """Up to `wanted` cells free now: (cells taken, seconds until the next one is free)."""
        ...

    async def penalize(self, rules: Sequence[Rule], seconds: float) -> None:
        """Nothing passes `rules` for `seconds` (after a 429 from the server)."""
        ...

    async def reserve_then_try(self, reserved: Rule, tried: Rule, cost: int = 1) -> float | None:
        """`reserve` under `reserved`; when that needs no wait, also `try_acquire` under
        `tried`. Returns the wait for `reserved` (> 0: nothing tried), 0.0 when both were
        taken, or None when `reserved` is taken but `tried` was not free."""
        ...


def _take(tat: float, now: float, rule: Rule, wanted: int) -> tuple[int, float, float]:
    """GCRA: (cells taken, new arrival time, seconds until the next free cell)."""
    tat = max(tat, now)
    free = min(rule.burst, math.floor((now + rule.tolerance - tat) / rule.interval + 1e-9) + 1)
    taken = max(0, min(free, wanted))
    tat += taken * rule.interval
    return taken, tat, max(0.0, tat - rule.tolerance - now)


def _start_time(tat: float, now: float, rule: Rule, cost: int) -> float:
    # A cost above the burst could never pass; let it drain the whole burst instead.
    cost = min(cost, rule.burst)
    return max(now, tat + (cost - 1) * rule.interval - rule.tolerance)


class InProcessRateLimiter:
    """GCRA cells in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}
        self._decisions = 0

    def _decide(self, rules: Sequence[Rule], cost: int, *, reserve_if_late: bool) -> float:
        now = self._clock()
        tats = [max(self._tat.get(rule.key, now), now) for rule in rules]
        start = max(
            (_start_time(tat, now, rule, cost) for tat, rule in zip(tats, rules, strict=True)),
            default=now,
        )
        wait = start - now
        if wait > 0 and not reserve_if_late:
            return wait
        for tat, rule in zip(tats, rules, strict=True):
            self._tat[rule.key] = max(tat, start) + min(cost, rule.burst) * rule.interval
        self._purge(now)
        return wait

    def _purge(self, now: float) -> None:
        # Keys whose arrival time has passed hold no information; drop them now and then so
        # one message to each of a million chats does not keep a million entries.
        self._decisions += 1
        if self._decisions % 10_000 == 0:
            self._tat = {key: tat for key, tat in self._tat.items() if tat > now}

    async def reserve(self, rules: Sequence[Rule], cost: int = 1) -> float:
        return self._decide(rules, cost, reserve_if_late=True)

    async def try_acquire(self, rules: Sequence[Rule], cost: int = 1) -> float:
        return self._decide(rules, cost, reserve_if_late=False)

    async def take(self, rule: Rule, wanted: int) -> tuple[int, float]:
        now = self._clock()
        taken, tat, wait = _take(self._tat.get(rule.key, now), now, rule, wanted)
        self._tat[rule.key] = tat
        return taken, wait

    async def penalize(self, rules: Sequence[Rule], seconds: float) -> None:
        until = self._clock() + seconds
        for rule in rules:
            self._tat[rule.key] = max(self._tat.get(rule.key, until), until)

    async def reserve_then_try(self, reserved: Rule, tried: Rule, cost: int = 1) -> float | None:
        wait = self._decide([reserved], cost, reserve_if_late=True)
        if wait > 0:
            return wait
        return 0.0 if self._decide([tried], cost, reserve_if_late=False) <= 0 else None


# KEYS: the rule keys. ARGV: mode ("reserve" | "try" | "take" | "penalize"), cost, cells
# wanted or seconds, then interval and tolerance per key; "reserve_then_try" takes pairs of
# keys (see there). Redis's own clock keeps every worker on one time line.
_GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local mode = ARGV[1]
local amount = tonumber(ARGV[2])
-- The i-th rule's cell: interval, tolerance, burst and arrival time (not before now).
local function cell(i)
  local interval = tonumber(ARGV[1 + 2 * i])
  local tolerance = tonumber(ARGV[2 + 2 * i])
  local burst = math.floor(tolerance / interval + 0.5) + 1
  local stored = redis.call('GET', KEYS[i])
  local tat = stored and tonumber(stored) or now
  if tat < now then tat = now end
  return interval, tolerance, burst, tat
end
local function store(i, tat)
  redis.call('SET', KEYS[i], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
if mode == 'take' then
  local interval, tolerance, burst, tat = cell(1)
  local free = math.min(burst, math.floor((now + tolerance - tat) / interval + 1e-9) + 1)
  local taken = math.max(0, math.min(free, amount))
  tat = tat + taken * interval
  if taken > 0 then
    store(1, tat)
  end
  return {taken, tostring(math.max(0, tat - tolerance - now))}
end
if mode == 'penalize' then
  for i, key in ipairs(KEYS) do
    local stored = redis.call('GET', key)
    local tat = stored and tonumber(stored) or now
    store(i, math.max(tat, now + amount))
  end
  return '0'
end
if mode == 'reserve_then_try' then
  -- Pairs of keys, in order: KEYS[2p-1] reserved (its wait answered if any), then KEYS[2p]
  -- taken only if free now. ARGV from 2 on: per pair its cost, then interval and tolerance
  -- of each key. One answer per pair: the wait, '0' (both taken) or '-1' (the second not free).
  local answers = {}
  for p = 1, #KEYS / 2 do
    local base = 2 + (p - 1) * 5
    local answer = '0'
    for i = 1, 2 do
      local key = KEYS[2 * (p - 1) + i]
      local interval = tonumber(ARGV[base + 2 * i - 1])
      local tolerance = tonumber(ARGV[base + 2 * i])
      local burst = math.floor(tolerance / interval + 0.5) + 1
      local stored = redis.call('GET', key)
      local tat = stored and tonumber(stored) or now
      if tat < now then tat = now end
      local cost = math.min(tonumber(ARGV[base]), burst)
      local start = tat + (cost - 1) * interval - tolerance
      -- Arrival times are stored to the microsecond: within one call (one `now`) a cell
      -- stored a moment ago must not read as a hair late.
      if start < now + 1e-6 then start = now end
      if i == 2 and start > now then
        answer = '-1'
        break
      end
      local next_tat = math.max(tat, start) + cost * interval
      redis.call('SET', key, string.format('%.6f', next_tat), 'PX',
                 math.ceil((next_tat - now) * 1000) + 1000)
      if start > now then
        answer = tostring(start - now)
        break
      end
    end
    answers[p] = answer
  end
  return answers
end
local start = now
local cells = {}
for i = 1, #KEYS do
  local interval, tolerance, burst, tat = cell(i)
  cells[i] = {interval, burst, tat}
  local earliest = tat + (math.min(amount, burst) - 1) * interval - tolerance
  if earliest > start then start = earliest end
end
local wait = start - now
if mode == 'try' and wait > 0 then
  return tostring(wait)
end
for i = 1, #KEYS do
  local interval, burst, tat = cells[i][1], cells[i][2], cells[i][3]
  store(i, math.max(tat, start) + math.min(amount, burst) * interval)
end
return tostring(wait)
"""


class RedisRateLimiter:
    """GCRA cells in Redis, shared by every worker; one round trip per decision."""

    def __init__(self, redis: Redis, *, prefix: str = "yueban:tg:rate:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = LuaScript(redis, _GCRA_SCRIPT)
        # A send's turn is asked for on every message; sends started in one pass of the event
        # loop ask together.
        self._pairs: Batcher[tuple[Rule, Rule, int], float | None] = Batcher(self._reserve_pairs)

    async def _run(self, mode: str, rules: Sequence[Rule], amount: float) -> float:
        if not rules:
            return 0.0
        args: list[Any] = [mode, amount]
        for rule in rules:
            args.extend([repr(rule.interval), repr(rule.tolerance)])
        result = await self._script(keys=[self._prefix + r.key for r in rules], args=args)
        return float(result.decode() if isinstance(result, bytes) else result)

    async def reserve(self, rules: Sequence[Rule], cost: int = 1) -> float:
        return await self._run("reserve", rules, cost)

    async def try_acquire(self, rules: Sequence[Rule], cost: int = 1) -> float:
        return await self._run("try", rules, cost)

    async def take(self, rule: Rule, wanted: int) -> tuple[int, float]:
        args = ["take", wanted, repr(rule.interval), repr(rule.tolerance)]
        taken, wait = await self._script(keys=[self._prefix + rule.key], args=args)
        return int(taken), float(wait.decode() if isinstance(wait, bytes) else wait)

    async def penalize(self, rules: Sequence[Rule], seconds: float) -> None:
        await self._run("penalize", rules, seconds)

    async def reserve_then_try(self, reserved: Rule, tried: Rule, cost: int = 1) -> float | None:
        return await self._pairs.submit((reserved, tried, cost))

    async def _reserve_pairs(self, pairs: Sequence[tuple[Rule, Rule, int]]) -> list[float | None]:
        keys: list[str] = []
        args: list[Any] = ["reserve_then_try"]
        for reserved, tried, cost in pairs:
            keys.extend([self._prefix + reserved.key, self._prefix + tried.key])
            args.extend([cost, repr(reserved.interval), repr(reserved.tolerance),
                         repr(tried.interval), repr(tried.tolerance)])
        answers = await self._script(keys=keys, args=args)
        waits = [float(a.decode() if isinstance(a, bytes) else a) for a in answers]
        return [None if wait < 0 else wait for wait in waits]


@dataclass(frozen=True)
class OutboundLimits:
    """Our own pace under Telegram's limits.

    The bot-wide burst is how far the pacer may catch up after the process was held up:
    by default 50 ms worth of messages (at least 5), well inside what a server allowing
    that rate tolerates, and enough that a busy event loop does not lose its pace.
    """

    per_bot_per_second: float = 30.0
    per_bot_burst: int | None = None
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    per_group_per_minute: float = 20.0
    per_group_burst: int = 3

    def bot_rule(self, bot_id: int) -> Rule:
        burst = self.per_bot_burst or max(5, math.ceil(self.per_bot_per_second * 0.05))
        return Rule.per_second(f"{bot_id}:bot", self.per_bot_per_second, burst)

    def chat_rule(self, bot_id: int, chat_id: int | str) -> Rule:
        key = f"{bot_id}:chat:{chat_id}"
        if is_private_chat(chat_id):
            return Rule.per_second(key, self.per_chat_per_second, self.per_chat_burst)
        return Rule.per_second(key, self.per_group_per_minute / 60.0, self.per_group_burst)


def is_private_chat(chat_id: int | str) -> bool:
    """Private chats have the user's (positive) id; groups and channels are negative or @name."""
    try:
        return int(chat_id) > 0
    except ValueError:
        return False


# Calls that put a message into a chat; chat actions, edits and answers are not counted.
_SENDING_METHODS = frozenset(
    {"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"}
)


def message_cost(method: TelegramMethod[Any]) -> int:
    """How many messages `method` puts into a chat (0 for calls that send none)."""
    name = method.__api_method__
    if name == "sendChatAction" or not (name.startswith("send") or name in _SENDING_METHODS):
        return 0
    if name == "sendMediaGroup":
        return max(1, len(getattr(method, "media", ()) or ()))
    if name in {"copyMessages", "forwardMessages"}:
        return max(1, len(getattr(method, "message_ids", ()) or ()))
    return 1


Sleep = Callable[[float], Awaitable[None]]


class OutboundRateLimitMiddleware(BaseRequestMiddleware):
    """Paces sends through a RateLimiter and retries after Telegram's 429 `retry_after`."""

    def __init__(
        self,
        limiter: RateLimiter,
        limits: OutboundLimits | None = None,
        *,
        max_retries: int = 10,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limiter = limiter
        self.limits = limits or OutboundLimits()
        self.max_retries = max_retries
        self.sleep = sleep
        self.retries = 0  # 429s waited out, for monitoring and tests
        self._pacers: dict[int, Pacer] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = getattr(method, "chat_id", None)
        cost = message_cost(method) if chat_id is not None else 0
        attempt = 0
        while True:
            if cost:
                await self._pace(bot.id, chat_id, cost)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                self.retries += 1
                log.warning(
                    "429 on %s (chat %s): waiting %s s, retry %d",
                    method.__api_method__, chat_id, error.retry_after, attempt,
                )
                if chat_id is not None:
                    rule = self.limits.chat_rule(bot.id, chat_id)
                    await self.limiter.penalize([rule], float(error.retry_after))
                await self.sleep(float(error.retry_after))

    async def _pace(self, bot_id: int, chat_id: int | str, cost: int) -> None:
        # The chat's turn first, then a bot-wide turn: a bot-wide slot reserved for a
        # message that must wait (a busy group, a 429'd chat) would hold up every other chat.
        pacer = self._pacers.get(bot_id)
        if pacer is None:
            pacer = self._pacers[bot_id] = Pacer(
                self.limiter, self.limits.bot_rule(bot_id), self.sleep
            )
        chat = self.limits.chat_rule(bot_id, chat_id)
        if pacer.idle:
            # Nobody in this process waits for a turn: ask for the chat's turn and, if it is
            # now, a bot-wide one as well, in one decision (one round trip with Redis).
            wait = await self.limiter.reserve_then_try(chat, pacer.rule, cost)
            if wait == 0.0:
                return
        else:
            wait = await self.limiter.reserve([chat], cost)
        if wait is not None and wait > 0:
            await self.sleep(wait)
        await pacer.turn(cost)


class Pacer:
    """Hands out one process's turns under a shared rule, in arrival order, at the pace the
    rule allows at the moment of sending.

    Turns are taken when they are used (GCRA `try_acquire`), not reserved ahead: if the
    process stalls (a busy event loop, a garbage collection), the messages it owes do not
    all leave at once afterwards; at most the rule's burst does, and the server never sees
    more than its limit. One task per process asks the limiter, so a thousand waiting
    sends cost one question per turn, not a thousand.
    """

    def __init__(self, limiter: RateLimiter, rule: Rule, sleep: Sleep = asyncio.sleep) -> None:
        self.limiter = limiter
        self.rule = rule
        self.sleep = sleep
        self._waiting: deque[tuple[asyncio.Future[None], int]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._banked = 0  # cells taken for sends still waiting for more

    @property
    def idle(self) -> bool:
        """No send of this process is waiting for a turn."""
        return not self._waiting

    async def turn(self, cost: int = 1) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((turn, cost))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._hand_out())
        await turn

    async def _hand_out(self) -> None:
        while self._waiting:
            while self._waiting and self._waiting[0][0].done():  # senders that gave up
                self._waiting.popleft()
            if not self._waiting:
                return
            # Ask for every cell the queue could use at once: one round trip per burst.
            needed = sum(min(c, self.rule.burst) for _, c in self._waiting) - self._banked
            try:
                taken, wait = await self.limiter.take(self.rule, min(self.rule.burst, needed))
            except Exception as error:
                # The limiter is unreachable: fail the waiting sends rather than hang them.
                while self._waiting:
                    waiting, _ = self._waiting.popleft()
                    if not waiting.done():
                        waiting.set_exception(error)
                return
            self._banked += taken
            while self._waiting:
                turn, cost = self._waiting[0]
                cost = min(cost, self.rule.burst)
                if cost > self._banked:
                    break  # an album waits until enough cells are banked for it
                self._waiting.popleft()
                self._banked -= cost
                if not turn.done():
                    turn.set_result(None)
            if self._waiting and wait > 0:
                await self.sleep(wait)
