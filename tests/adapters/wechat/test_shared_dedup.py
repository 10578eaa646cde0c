"""Two webhook workers sharing Redis deduplication: a retry hitting either has one effect."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bots.wechat.dedup import InMemoryDeduplicator, RedisDeduplicator
from bots.wechat.standin import WeChatStandIn
from bots.wechat.webhook import DeliveryMode
from tests.adapters.wechat.conftest import AES_KEY, TOKEN, Recorder, ServeWebhook


async def test_retries_spread_over_two_workers_reach_one_callback_once(
    redis: Redis, key_prefix: str, standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    workers = [
        await serve_webhook(encoding_aes_key=AES_KEY, on_message=recorder,
                            dedup=RedisDeduplicator(redis, prefix=f"{key_prefix}:dedup:"))
        for _ in range(2)
    ]
    driver = standin.driver(workers[0][1], token=TOKEN, encoding_aes_key=AES_KEY)
    messages = [driver.text(f"oUser{i}", f"message {i}") for i in range(10)]

    # Every message goes to both workers at once, twice: four racing copies each.
    await asyncio.gather(*(
        driver.deliver(message, url=url, mode=DeliveryMode.SAFE)
        for message in messages for _, url in workers for _ in range(2)
    ))
    for webhook, _ in workers:
        await webhook.drain()

    assert sorted(m.fields["MsgId"] for m in recorder.received) == sorted(
        m["MsgId"] for m in messages)
    assert sum(webhook.stats.duplicates for webhook, _ in workers) == 30


async def test_without_shared_dedup_two_workers_would_both_process(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    """The reason the Redis deduplicator exists: per-process memory is not enough."""
    recorder = Recorder()
    workers = [await serve_webhook(on_message=recorder, dedup=InMemoryDeduplicator())
               for _ in range(2)]
    driver = standin.driver(workers[0][1], token=TOKEN)
    message = driver.text("oUser1", "hi")

    for _, url in workers:
        await driver.deliver(message, url=url)
    for webhook, _ in workers:
        await webhook.drain()

    assert len(recorder.received) == 2


async def test_a_claim_expires_after_its_ttl(redis: Redis, key_prefix: str) -> None:
    dedup = RedisDeduplicator(redis, ttl_seconds=1, prefix=f"{key_prefix}:dedup:")
    assert await dedup.first_time("wx:msg:1") is True
    assert await dedup.first_time("wx:msg:1") is False
    await redis.delete(f"{key_prefix}:dedup:wx:msg:1")  # what the TTL does, without waiting
    assert await dedup.first_time("wx:msg:1") is True


async def test_the_in_memory_claim_expires_after_its_ttl() -> None:
    now = [1000.0]
    dedup = InMemoryDeduplicator(ttl_seconds=300, clock=lambda: now[0])
    assert await dedup.first_time("k") is True
    now[0] += 299
    assert await dedup.first_time("k") is False
    now[0] += 2
    assert await dedup.first_time("k") is True
