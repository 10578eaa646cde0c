"""The sweeper: one leader across workers (advisory lock, Redis lock, file lock), and an
APScheduler job that applies due order timers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from app.scheduler import Sweeper
from core.booking.states import OrderState
from storage.db import create_engine
from storage.locks import FileLock, PostgresAdvisoryLock, RedisLock, leader_lock
from tests.integration.booking.conftest import World


async def test_a_postgres_advisory_lock_has_one_holder_at_a_time(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    first, second = PostgresAdvisoryLock(engine, "t-sweeper"), PostgresAdvisoryLock(engine, "t-sweeper")
    try:
        assert await first.acquire()
        assert await first.acquire(), "the holder keeps it"
        assert not await second.acquire()
        await first.release()
        assert await second.acquire()
    finally:
        await first.release()
        await second.release()
        await engine.dispose()


async def test_a_redis_lock_has_one_holder_and_expires_when_its_holder_dies(redis_url: str) -> None:
    from redis import asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    name = "t-sweeper-redis"
    try:
        first, second = RedisLock(client, name, 0.3), RedisLock(client, name, 0.3)
        assert await first.acquire()
        assert not await second.acquire()
        await asyncio.sleep(0.5)  # first never renewed: it is gone
        assert await second.acquire()
        assert not await first.acquire()
        await first.release()  # not the holder: must not free second's lock
        assert await second.acquire()
        await second.release()
        assert await first.acquire()
        await first.release()
    finally:
        await client.delete(f"yueban:lock:{name}")
        await client.aclose()


async def test_a_file_lock_has_one_holder(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "x.lock"), FileLock(tmp_path / "x.lock")
    assert await first.acquire()
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()
    await second.release()


def test_the_lock_follows_the_configuration(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'y.db'}")
    assert isinstance(leader_lock("s", engine=engine), FileLock)
    assert isinstance(leader_lock("s", engine=engine, redis_url="redis://127.0.0.1:6379/10"),
                      RedisLock)
    assert isinstance(leader_lock("s", engine=create_engine("postgresql+asyncpg://u@h/d")),
                      PostgresAdvisoryLock)


async def test_only_the_leader_sweeps(world: World, tmp_path: Path) -> None:
    order = await world.booked_and_paid()
    world.clock.advance(timedelta(minutes=11))
    path = tmp_path / "sweep.lock"
    leader = Sweeper(world.runtime, FileLock(path), interval_s=1, batch=10)
    follower = Sweeper(world.runtime, FileLock(path), interval_s=1, batch=10)
    first = await leader.tick()
    second = await follower.tick()
    assert first.leader and first.orders is not None and first.orders.fired == 1
    assert not second.leader
    assert (await world.order(order.id)).state is OrderState.EXPIRED
    await leader.stop()
    assert (await follower.tick()).leader


async def test_the_scheduled_job_expires_due_orders_by_itself(world: World, tmp_path: Path) -> None:
    order = await world.booked_and_paid()
    world.clock.advance(timedelta(minutes=11))
    sweeper = Sweeper(world.runtime, FileLock(tmp_path / "job.lock"), interval_s=0.05, batch=10)
    sweeper.extra = []
    sweeper.start()
    try:
        for _ in range(100):
            if (await world.order(order.id)).state is OrderState.EXPIRED:
                break
            await asyncio.sleep(0.05)
    finally:
        await sweeper.stop()
    assert (await world.order(order.id)).state is OrderState.EXPIRED


async def test_a_failing_sweep_of_another_area_does_not_stop_the_order_sweep(
    world: World, tmp_path: Path
) -> None:
    order = await world.booked_and_paid()
    world.clock.advance(timedelta(minutes=11))

    async def broken(now: object) -> None:
        raise RuntimeError("down")

    sweeper = Sweeper(world.runtime, FileLock(tmp_path / "f.lock"), interval_s=1, batch=10)
    sweeper.extra = [("broken", broken)]
    report = await sweeper.tick()
    assert report.failures == ["broken"]
    assert (await world.order(order.id)).state is OrderState.EXPIRED
    await sweeper.stop()
