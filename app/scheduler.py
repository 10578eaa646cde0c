"""The sweeper: an APScheduler job that turns due database rows into idempotent commands.

Every deadline lives in a row (order timers, matured earnings, idle providers, refunds to
retry); each tick the one worker holding the leader lock (`storage.locks`) sends the
commands that apply what is due. The scheduler keeps no state of its own, so a restart or
a second worker changes nothing: a tick either holds the lock and sweeps, or does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.bootstrap import Runtime
from core.booking.timers import SweepReport, sweep_due_orders
from core.catalog.commands import GoOfflineIfIdle
from core.relay.commands import CloseIdleConversations
from core.relay.pending import ExpirePendingRelays
from core.wallet.commands import ProcessRefunds, SettleMatured
from storage.locks import LeaderLock, leader_lock

log = logging.getLogger(__name__)

LOCK_NAME = "sweeper"
STOP_GRACE_S = 10.0


@dataclass
class TickReport:
    leader: bool
    orders: SweepReport | None = None
    failures: list[str] = field(default_factory=list)


class Sweeper:
    def __init__(self, runtime: Runtime, lock: LeaderLock, *, interval_s: float,
                 batch: int) -> None:
        self.runtime = runtime
        self.lock = lock
        self.interval_s = interval_s
        self.batch = batch
        self.scheduler: AsyncIOScheduler | None = None
        self._ticking = asyncio.Lock()
        # Other areas' periodic commands, given "now"; each runs in its own transaction.
        self.extra: list[tuple[str, Callable[[datetime], Awaitable[object]]]] = [
            ("catalog.idle_providers", lambda now: runtime.bus.handle(GoOfflineIfIdle(now=now))),
            ("wallet.settle_matured", lambda now: runtime.bus.handle(SettleMatured(now=now))),
            ("wallet.retry_refunds", lambda now: runtime.bus.handle(ProcessRefunds(now=now))),
            ("relay.close_idle",
             lambda now: runtime.bus.handle(CloseIdleConversations(now=now))),
            ("relay.expire_queued",
             lambda now: runtime.bus.handle(ExpirePendingRelays(now=now))),
        ]

    async def tick(self) -> TickReport:
        # stop() waits on this lock, so shutdown never tears the engine down mid-sweep.
        async with self._ticking:
            return await self._tick()

    async def _tick(self) -> TickReport:
        try:
            leader = await self.lock.acquire()
        except Exception:
            log.exception("sweeper lock unavailable; skipping this tick")
            return TickReport(leader=False)
        if not leader:
            return TickReport(leader=False)
        now = self.runtime.clock.now()
        report = TickReport(leader=True)
        try:
            report.orders = await sweep_due_orders(self.runtime.bus, now, self.batch)
        except Exception:
            log.exception("order sweep failed")
            report.failures.append("booking.orders")
        for name, run in self.extra:
            try:
                await run(now)
            except Exception:
                log.exception("sweep %s failed", name)
                report.failures.append(name)
        return report

    def start(self) -> AsyncIOScheduler:
        """Tick every `interval_s` (the first tick at once); overlapping ticks are skipped."""
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(
            self.tick, "interval", seconds=self.interval_s, id="sweeper", max_instances=1,
            coalesce=True, next_run_time=datetime.now(UTC) + timedelta(milliseconds=10),
        )
        scheduler.start()
        self.scheduler = scheduler
        return scheduler

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        # Let a sweep in flight finish (its commands are short) before the caller closes
        # the engine; a sweep still stuck after the grace period is abandoned.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_GRACE_S):
                async with self._ticking:
                    pass
        await self.lock.release()


@contextlib.asynccontextmanager
async def sweeping(runtime: Runtime) -> AsyncIterator[Sweeper]:
    """Run the sweeper for as long as the block runs (what `yueban run` serves under)."""
    sweeper = build_sweeper(runtime)
    sweeper.start()
    try:
        yield sweeper
    finally:
        await sweeper.stop()


def build_sweeper(runtime: Runtime) -> Sweeper:
    settings = runtime.settings
    lock = leader_lock(LOCK_NAME, engine=runtime.engine, redis_url=settings.redis_url,
                       ttl_s=max(30.0, settings.booking_sweep_interval_s * 4))
    return Sweeper(runtime, lock, interval_s=settings.booking_sweep_interval_s,
                   batch=settings.booking_sweep_batch)
