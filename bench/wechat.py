"""Benchmark the WeChat webhook through the stand-in driver at a steady message rate.

Every message is posted twice at once (as a WeChat retry racing the original would be),
modes rotate through plaintext, compatible and safe, and the callback counts what it
was given. Reports response-time percentiles against WeChat's 5-second limit and how
many duplicates got through to the callback (must be 0). The last line is JSON.

    python bench/wechat.py [--quick] [--rate 300] [--seconds 20] [--redis URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bots.wechat.dedup import Deduplicator, InMemoryDeduplicator, RedisDeduplicator
from bots.wechat.standin import LocalServer, WeChatDriver
from bots.wechat.webhook import DeliveryMode, InboundMessage, WeChatWebhook

TOKEN = "benchtoken"
APP_ID = "wxbench000000001"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
MODES = (DeliveryMode.PLAINTEXT, DeliveryMode.COMPATIBLE, DeliveryMode.SAFE)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def run(rate: float, seconds: float, redis_url: str | None) -> dict[str, object]:
    processed: Counter[str] = Counter()

    async def on_message(inbound: InboundMessage) -> None:
        processed[inbound.dedup_key] += 1

    redis = None
    dedup: Deduplicator
    if redis_url:
        from storage.redis_client import redis_client

        redis = redis_client(redis_url)
        dedup = RedisDeduplicator(redis, prefix=f"yueban:bench:{time.time_ns()}:")
    else:
        dedup = InMemoryDeduplicator()

    plain = WeChatWebhook(token=TOKEN, app_id=APP_ID, encoding_aes_key=None,
                          on_message=on_message, dedup=dedup)
    encrypted = WeChatWebhook(token=TOKEN, app_id=APP_ID, encoding_aes_key=AES_KEY,
                              on_message=on_message, dedup=dedup)
    servers = [LocalServer(plain.make_app()), LocalServer(encrypted.make_app())]
    for server in servers:
        await server.start()
    drivers = {
        DeliveryMode.PLAINTEXT: WeChatDriver(webhook_url=servers[0].base_url + "wechat",
                                             token=TOKEN, app_id=APP_ID, connection_limit=400),
        DeliveryMode.COMPATIBLE: WeChatDriver(webhook_url=servers[1].base_url + "wechat",
                                              token=TOKEN, app_id=APP_ID,
                                              encoding_aes_key=AES_KEY, connection_limit=400),
    }
    drivers[DeliveryMode.SAFE] = drivers[DeliveryMode.COMPATIBLE]

    latencies: list[float] = []
    statuses: Counter[int | None] = Counter()

    async def send_twice(index: int) -> None:
        mode = MODES[index % len(MODES)]
        driver = drivers[mode]
        message = driver.text(f"oBench{index % 997:04d}", f"message {index}")
        for delivery in await asyncio.gather(driver.deliver(message, mode=mode),
                                             driver.deliver(message, mode=mode)):
            for attempt in delivery.attempts:
                latencies.append(attempt.elapsed_ms)
                statuses[attempt.status] += 1

    total = int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for index in range(total):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send_twice(index)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for webhook in (plain, encrypted):
        await webhook.drain()
    for driver in {id(d): d for d in drivers.values()}.values():
        await driver.close()
    for server in servers:
        await server.stop()
    if redis is not None:
        await redis.aclose()

    return {
        "bench": "wechat",
        "messages": total,
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "rate_per_s": round(total / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
        "limit_ms": 5000,
        "processed": len(processed),
        "duplicates_processed": sum(count - 1 for count in processed.values()),
        "lost": total - len(processed),
        "non_200": sum(n for status, n in statuses.items() if status != 200),
        "modes": [str(mode) for mode in MODES],
        "dedup": "redis" if redis_url else "memory",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seconds instead of 20")
    parser.add_argument("--rate", type=float, default=300.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--redis", default=None, help="share dedup through this Redis URL")
    args = parser.parse_args()
    if args.rate <= 0:
        parser.error("--rate must be positive")
    seconds = args.seconds if args.seconds is not None else (3.0 if args.quick else 20.0)
    if seconds <= 0:
        parser.error("--seconds must be positive")
    result = asyncio.run(run(args.rate, seconds, args.redis))
    print(f"{result['messages']} messages x2 in {result['seconds']} s "
          f"({result['rate_per_s']}/s): p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
          f"{result['duplicates_processed']} duplicates processed, {result['lost']} lost")
    print(json.dumps(result))
    if result["duplicates_processed"] or result["lost"] or result["non_200"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
