"""What every benchmark shares: timing, percentiles, and the JSON line each one ends with.

Benchmarks run as scripts (`python bench/<name>.py`) and print progress as they go; their
LAST line is always one JSON object (`emit`), so CI and people can read the figures alike.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def use_repository_root() -> None:
    """Make the project importable when a benchmark is run as `python bench/x.py`."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile (pct in 0..100) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(milliseconds: Sequence[float]) -> dict[str, float | int]:
    """Count, mean and the usual percentiles of latencies in ms, rounded for reading."""
    return {
        "count": len(milliseconds),
        "mean_ms": round(sum(milliseconds) / len(milliseconds), 3),
        "p50_ms": round(percentile(milliseconds, 50), 3),
        "p95_ms": round(percentile(milliseconds, 95), 3),
        "p99_ms": round(percentile(milliseconds, 99), 3),
        "max_ms": round(max(milliseconds), 3),
    }


class Stopwatch:
    """Elapsed wall time in milliseconds, read while running or after."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stopped: float | None = None

    @property
    def ms(self) -> float:
        end = self.stopped if self.stopped is not None else time.perf_counter()
        return (end - self.started) * 1000

    def stop(self) -> float:
        self.stopped = time.perf_counter()
        return self.ms


@contextmanager
def timed() -> Iterator[Stopwatch]:
    watch = Stopwatch()
    try:
        yield watch
    finally:
        watch.stop()


def say(message: str) -> None:
    """A progress line (never the last line: that belongs to `emit`)."""
    print(message, flush=True)


def emit(result: dict[str, Any]) -> None:
    """Print the benchmark's result as one JSON object; call it last."""
    print(json.dumps(result, ensure_ascii=False, separators=(", ", ": ")), flush=True)


@asynccontextmanager
async def scratch_database(server_url: str | None, label: str) -> AsyncIterator[tuple[str, str]]:
    """A migrated, empty database for one run: (URL, "sqlite" | "postgresql").

    None or a SQLite URL (or "sqlite") gives a fresh file; a PostgreSQL server URL gives a
    database `yueban_bench_<label>_<random>` created on that server and dropped afterwards.
    Call after `use_repository_root()`."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from storage import migrate
    from storage.db import create_engine

    if server_url in (None, "sqlite") or make_url(server_url).get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            await asyncio.to_thread(migrate.upgrade, url, "head")
            yield url, "sqlite"
        return

    async def admin(statement: str) -> None:
        engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(sa.text(statement))
        finally:
            await engine.dispose()

    name = f"yueban_bench_{label}_{uuid.uuid4().hex[:10]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await admin(f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(migrate.upgrade, url, "head")
        yield url, "postgresql"
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def forget_redis(redis: Any, namespace: str) -> None:
    """Delete a run's keys (`namespace:*`) and close the client."""
    keys = [key async for key in redis.scan_iter(f"{namespace}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
