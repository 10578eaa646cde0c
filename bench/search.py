"""Search benchmark: filtered, ranked provider searches over 100,000 providers.

It bulk-loads a synthetic marketplace (providers in twenty cities, one to three offers each
across the seeded catalog, tags, weekly hours in several time zones, ratings and service
figures), then runs a mix of searches through the production repository
(`uow.provider_search`): by category with the ranking order, with price range and minimum
rating, with tags and tier, online now, free at a given time, near a point, a deep page,
and everything at once. Latencies include opening and closing the unit of work.

It runs on SQLite (a fresh temporary file, deleted afterwards) and on PostgreSQL
(`YUEBAN_BENCH_DATABASE_URL`, default postgresql+asyncpg://postgres@127.0.0.1:5432/test) in
a scratch schema that is dropped at the end, so it never leaves data behind.

    python bench/search.py [--quick] [--providers N] [--queries Q] [--no-postgres]

The last line is JSON: {"bench": "search", "providers": N, "sqlite_p95_ms": …,
"postgres_p95_ms": …, …}. Target: p95 under 50 ms on PostgreSQL at 100k providers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from bench.common import emit, say, summary, timed
from core.catalog.availability import WeeklyRule, check_no_overlap, week_slots
from core.catalog.commands import ListCategories, SeedCatalog
from core.catalog.model import Category, GeoPoint, ServiceKind
from core.catalog.ranking import bayesian_average, quality
from core.catalog.search import SearchCriteria
from core.shared.errors import DomainError
from core.shared.money import Money
from storage import migrate
from storage.db import create_engine
from storage.repositories.catalog import tag_list
from storage.tables.catalog import (
    blocked_dates,
    offers,
    provider_tags,
    providers,
    schedule_windows,
    schedules,
    timezones,
)

DEFAULT_PROVIDERS = 100_000
QUICK_PROVIDERS = 10_000
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CHUNK = 5_000
SEED = 20260105

CITIES = [
    ("Shanghai", 31.2304, 121.4737), ("Beijing", 39.9042, 116.4074), ("Guangzhou", 23.1291, 113.2644),
    ("Shenzhen", 22.5431, 114.0579), ("Chengdu", 30.5728, 104.0668), ("Hangzhou", 30.2741, 120.1551),
    ("Wuhan", 30.5928, 114.3055), ("Xi'an", 34.3416, 108.9398), ("Chongqing", 29.4316, 106.9123),
    ("Nanjing", 32.0603, 118.7969), ("Tianjin", 39.3434, 117.3616), ("Suzhou", 31.2989, 120.5853),
    ("Changsha", 28.2282, 112.9388), ("Zhengzhou", 34.7466, 113.6254), ("Qingdao", 36.0671, 120.3826),
    ("Xiamen", 24.4798, 118.0894), ("Kunming", 25.0389, 102.7183), ("Dalian", 38.9140, 121.6147),
    ("Hong Kong", 22.3193, 114.1694), ("Taipei", 25.0330, 121.5654),
]
ZONES = [("Asia/Shanghai", 0.86), ("Asia/Hong_Kong", 0.05), ("Asia/Taipei", 0.04),
         ("Europe/London", 0.02), ("America/Los_Angeles", 0.02), ("Asia/Tokyo", 0.01)]
TAGS = (
    [f"rank:{r}" for r in ("bronze", "silver", "gold", "platinum", "diamond", "master", "king")]
    + [f"position:{p}" for p in ("jungle", "mid", "top", "support", "adc", "sniper", "rusher")]
    + ["lang:en", "lang:ja", "lang:yue", "gender:female", "gender:male", "voice:sweet", "voice:deep"]
    + [f"speciality:{s}" for s in ("deep-clean", "windows", "plumbing", "electrics", "nails", "lashes",
                                   "tuina", "sports", "snooker", "eight-ball", "trick-shots", "kids")]
)
SHIFTS = [  # (weekdays, start minute, end minute): typical weekly patterns
    (range(0, 5), 9 * 60, 18 * 60), (range(0, 7), 19 * 60, 23 * 60), (range(4, 7), 20 * 60, 2 * 60),
    (range(5, 7), 10 * 60, 22 * 60), (range(0, 7), 12 * 60, 24 * 60), (range(0, 5), 7 * 60, 11 * 60),
]


def pick_zone(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for zone, weight in ZONES:
        total += weight
        if roll < total:
            return zone
    return ZONES[0][0]


def near_city(rng: random.Random) -> tuple[float, float]:
    _, lat, lon = rng.choice(CITIES)
    # Most providers live within ~25 km of the centre.
    return lat + rng.gauss(0, 0.12), lon + rng.gauss(0, 0.14)


def rows(count: int, leaves: list[Category], now: datetime) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """The synthetic marketplace, CHUNK providers at a time (deterministic for a given seed)."""
    rng = random.Random(SEED)
    games = [c for c in leaves if c.kind is ServiceKind.ONLINE_SESSION]
    local = [c for c in leaves if c.kind is not ServiceKind.ONLINE_SESSION]
    for first in range(1, count + 1, CHUNK):
        batch: dict[str, list[dict[str, Any]]] = {
            "providers": [], "offers": [], "tags": [], "schedules": [], "windows": [], "blocked": []
        }
        for user_id in range(first, min(first + CHUNK, count + 1)):
            gamer = rng.random() < 0.6
            chosen = rng.sample(games if gamer else local, k=min(rng.choice((1, 1, 2, 3)), len(games)))
            located = not gamer or rng.random() < 0.3
            lat, lon = near_city(rng) if located else (None, None)
            count_ratings = int(rng.expovariate(1 / 25))
            average = round(min(5.0, max(1.0, rng.gauss(4.5, 0.35))), 2) if count_ratings else 0.0
            bayes = bayesian_average(count_ratings, average)
            completion = round(min(1.0, max(0.5, rng.gauss(0.93, 0.06))), 3)
            response = int(min(3600, rng.expovariate(1 / 240)))
            zone = pick_zone(rng)
            roll = rng.random()
            presence = "online" if roll < 0.2 else "busy" if roll < 0.25 else "vacation" if roll < 0.3 else "offline"
            batch["providers"].append({
                "user_id": user_id, "display_name": f"provider {user_id}", "bio": "", "photos": [],
                "voice_intro": None, "status": "suspended" if rng.random() < 0.02 else "approved",
                "presence": presence, "tier": rng.choices((1, 2, 3, 4, 5), (40, 30, 18, 9, 3))[0],
                "lat": lat, "lon": lon, "service_radius_km": rng.choice((3, 5, 10, 15, 30)) if located else None,
                "venue_id": None, "timezone": zone, "rating_count": count_ratings, "rating_average": average,
                "rating_bayesian": bayes, "completion_rate": completion, "response_time_s": response,
                "rank_base": quality(bayes, completion, response),
                "last_active_at": now - timedelta(minutes=rng.randint(0, 600)), "approved_at": now,
                "suspended_reason": None, "version": 1,
                "category_list": "," + "".join(f"{c.id}," for c in sorted(chosen, key=lambda c: c.id)),
            })
            for category in chosen:
                per_km = category.pricing_unit.value == "base_per_km"
                batch["offers"].append({
                    "provider_id": user_id, "category_id": category.id,
                    "unit_price": rng.randrange(1_000, 30_000, 100), "currency": "CNY",
                    "per_km_price": rng.randrange(100, 500, 10) if per_km else None,
                    "min_units": category.min_units, "description": "", "active": True, "version": 1,
                })
            tags = set(rng.sample(TAGS, k=rng.choice((0, 1, 2, 3, 4))))
            if rng.random() < 0.8:
                tags.add("lang:zh")
            batch["tags"].extend({"provider_id": user_id, "tag": tag} for tag in sorted(tags))
            shifts = rng.sample(SHIFTS, k=rng.choice((1, 1, 2)))
            rules = [WeeklyRule(day, start, end) for days, start, end in shifts for day in days]
            if len(shifts) == 2 and _overlap(rules):
                rules = [WeeklyRule(day, shifts[0][1], shifts[0][2]) for day in shifts[0][0]]
            batch["schedules"].append({
                "provider_id": user_id, "buffer_minutes": 15, "min_notice_minutes": 60, "horizon_days": 30,
                "rules": [[r.weekday, r.start_minute, r.end_minute] for r in rules], "version": 1,
            })
            batch["windows"].extend(
                {"provider_id": user_id, "weekday": d, "start_minute": start, "end_minute": end, "timezone": zone}
                for rule in rules
                for d, start, end in rule.day_pieces()  # overnight rules split at midnight
            )
            batch["providers"][-1].update(tag_list=tag_list(frozenset(tags)), week_slots=week_slots(rules))
            if rng.random() < 0.1:
                day = (now + timedelta(days=rng.randint(0, 14))).date()
                batch["blocked"].append({"provider_id": user_id, "day": day})
        yield batch


def _overlap(rules: list[WeeklyRule]) -> bool:
    try:
        check_no_overlap(rules)
    except DomainError:
        return True
    return False


TABLES = (
    (providers, "providers"), (offers, "offers"), (provider_tags, "tags"),
    (schedules, "schedules"), (schedule_windows, "windows"), (blocked_dates, "blocked"),
)


async def insert(connection: AsyncConnection, table: sa.Table, records: list[dict[str, Any]]) -> None:
    """Bulk insert: COPY on PostgreSQL (asyncpg), multi-row INSERTs on SQLite."""
    if connection.dialect.name != "postgresql":
        await connection.execute(table.insert(), records)
        return
    columns = [c.name for c in table.columns if c.name in records[0]]
    json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    rows = [
        tuple(json.dumps(r[c]) if c in json_columns else r[c] for c in columns) for r in records
    ]
    raw = await connection.get_raw_connection()
    schema = (await connection.execute(sa.text("select current_schema()"))).scalar()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, records=rows, columns=columns, schema_name=schema
    )


async def load(runtime: Runtime, count: int) -> list[Category]:
    await runtime.bus.handle(SeedCatalog())
    categories: list[Category] = await runtime.bus.handle(ListCategories())
    parents = {c.parent_id for c in categories}
    leaves = [c for c in categories if c.id not in parents]
    now = runtime.clock.now()
    loaded = 0
    with timed() as watch:
        async with runtime.engine.begin() as connection:
            for batch in rows(count, leaves, now):
                for table, key in TABLES:
                    if batch[key]:
                        await insert(connection, table, batch[key])
                loaded += len(batch["providers"])
            zones = sa.select(providers.c.timezone, sa.func.count()).group_by(providers.c.timezone)
            await connection.execute(
                timezones.insert(),
                [{"name": zone, "providers": n} for zone, n in (await connection.execute(zones)).all()],
            )
    say(f"  loaded {loaded:,} providers in {watch.ms / 1000:.1f} s")
    # Statistics as a database in service would have them (autovacuum keeps them fresh).
    async with runtime.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table, _ in TABLES:
                await connection.execute(sa.text(f"VACUUM ANALYZE {table.name}"))
        else:
            await connection.execute(sa.text("ANALYZE"))
            await connection.commit()
    return categories


Scenario = Callable[[random.Random], SearchCriteria]


def scenarios(categories: list[Category], now: datetime) -> dict[str, Scenario]:
    by_slug = {c.slug: c for c in categories}
    games = by_slug["games"].id
    game_ids = [c.id for c in categories if c.parent_id == games]
    local_ids = [by_slug[s].id for s in ("home-cleaning", "home-repair", "massage-tuina", "errand-buy")]

    def point(rng: random.Random) -> GeoPoint:
        _, lat, lon = rng.choice(CITIES)
        return GeoPoint(lat + rng.gauss(0, 0.05), lon + rng.gauss(0, 0.05))

    def moment(rng: random.Random) -> datetime:
        return now + timedelta(days=rng.randint(0, 6), minutes=rng.randrange(0, 24 * 60, 30))

    return {
        "category_ranked": lambda rng: SearchCriteria(category_id=rng.choice([games, *game_ids])),
        "price_and_rating": lambda rng: SearchCriteria(
            category_id=games, price_min=Money(rng.randrange(1_000, 8_000, 500), "CNY"),
            price_max=Money(rng.randrange(10_000, 25_000, 500), "CNY"), min_rating=rng.choice((4.0, 4.5)),
        ),
        "tags_and_tier": lambda rng: SearchCriteria(
            category_id=rng.choice(game_ids), tags=frozenset([*rng.sample(TAGS[:14], 1), "lang:zh"]),
            tier_min=rng.choice((2, 3)),
        ),
        "online_now": lambda rng: SearchCriteria(category_id=rng.choice([games, *game_ids]), online_now=True),
        "free_at": lambda rng: SearchCriteria(category_id=rng.choice(game_ids), free_at=moment(rng)),
        "near_me": lambda rng: SearchCriteria(
            category_id=rng.choice(local_ids), near=point(rng), radius_km=rng.choice((3.0, 5.0, 10.0)),
        ),
        "deep_page": lambda rng: SearchCriteria(category_id=games, page=rng.randint(5, 20)),
        "everything": lambda rng: SearchCriteria(
            category_id=rng.choice(local_ids), near=point(rng), radius_km=10.0, free_at=moment(rng),
            min_rating=4.0, price_max=Money(25_000, "CNY"), tags=frozenset({"lang:zh"}),
        ),
    }


async def measure(runtime: Runtime, categories: list[Category], queries: int) -> dict[str, Any]:
    rng = random.Random(SEED + 1)
    mix = scenarios(categories, runtime.clock.now())
    latencies: dict[str, list[float]] = {name: [] for name in mix}
    empty = 0

    async def one(criteria: SearchCriteria) -> float:
        nonlocal empty
        with timed() as watch:
            async with runtime.uow_factory() as uow:
                page = await uow.provider_search.search(criteria)
        empty += not page.hits
        return watch.ms

    for make in mix.values():  # warm caches and prepared statements
        for _ in range(3):
            await one(make(rng))
    empty = 0
    for _ in range(queries):
        for name, make in mix.items():
            latencies[name].append(await one(make(rng)))
    everything = [ms for values in latencies.values() for ms in values]
    return {
        "all": summary(everything),
        "by_scenario": {name: summary(values)["p95_ms"] for name, values in latencies.items()},
        "empty_pages": empty,
    }


def _upgrade(connection: sa.Connection, url: str) -> None:
    config = migrate.alembic_config(url)
    config.attributes["connection"] = connection  # migrate on this connection (its schema)
    command.upgrade(config, "head")


async def run_on(url: str, count: int, queries: int, engine: AsyncEngine) -> dict[str, Any]:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, url)
    settings = Settings(_env_file=None, mode="demo", database_url=url)  # type: ignore[call-arg]
    runtime = bootstrap(settings, engine=engine)
    categories = await load(runtime, count)
    result = await measure(runtime, categories, queries)
    say(f"  p50 {result['all']['p50_ms']} ms, p95 {result['all']['p95_ms']} ms, "
        f"p99 {result['all']['p99_ms']} ms over {result['all']['count']} searches")
    say(f"  p95 by scenario (ms): {result['by_scenario']}")
    return result


async def sqlite(count: int, queries: int) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="yueban-bench-search-")
    url = f"sqlite+aiosqlite:///{Path(folder) / 'search.db'}"
    engine = create_engine(url)
    try:
        return await run_on(url, count, queries, engine)
    finally:
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


async def postgres(url: str, count: int, queries: int) -> dict[str, Any]:
    schema = f"bench_search_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    try:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine = create_engine(url, connect_args={"server_settings": {"search_path": schema}})
        try:
            return await run_on(url, count, queries, engine)
        finally:
            await engine.dispose()
    finally:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


async def reachable(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("select 1"))
        return None
    except Exception as exc:  # any failure to connect means "not there"
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PROVIDERS:,} providers, fewer queries")
    parser.add_argument("--providers", type=int, default=None, help=f"default {DEFAULT_PROVIDERS:,}")
    parser.add_argument("--queries", type=int, default=None, help="searches per scenario (default 100; quick 25)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    count = args.providers or (QUICK_PROVIDERS if args.quick else DEFAULT_PROVIDERS)
    queries = args.queries or (25 if args.quick else 100)
    if count < 100:
        parser.error("--providers must be at least 100")
    pg_url = os.environ.get("YUEBAN_BENCH_DATABASE_URL", DEFAULT_PG_URL)
    say(f"search benchmark: {count:,} providers{' (quick)' if args.quick else ''}, "
        f"{queries} searches per scenario")
    started = time.perf_counter()

    say("SQLite")
    lite = await sqlite(count, queries)
    pg: dict[str, Any] | None = None
    problem = "disabled with --no-postgres" if args.no_postgres else await reachable(pg_url)
    if problem is None:
        say("PostgreSQL")
        pg = await postgres(pg_url, count, queries)
    else:
        say(f"PostgreSQL skipped: {problem}")
    emit({
        "bench": "search",
        "providers": count,
        "queries": lite["all"]["count"],
        "sqlite_p50_ms": lite["all"]["p50_ms"],
        "sqlite_p95_ms": lite["all"]["p95_ms"],
        "sqlite_p99_ms": lite["all"]["p99_ms"],
        "postgres_p50_ms": pg["all"]["p50_ms"] if pg else None,
        "postgres_p95_ms": pg["all"]["p95_ms"] if pg else None,
        "postgres_p99_ms": pg["all"]["p99_ms"] if pg else None,
        "postgres_target_p95_ms": 50,
        "sqlite_p95_by_scenario_ms": lite["by_scenario"],
        "postgres_p95_by_scenario_ms": pg["by_scenario"] if pg else None,
        "seconds": round(time.perf_counter() - started, 1),
        "date": datetime.now(UTC).date().isoformat(),
    })


if __name__ == "__main__":
    asyncio.run(main())
