"""Webhook delivery: POSTing updates to the bot's URL the way Telegram does.

Each update is POSTed as JSON with ``X-Telegram-Bot-Api-Secret-Token`` when a secret was
set. Up to ``max_connections`` requests run at once, but updates of one chat go one at a
time and in order, so a conversation is never reordered. A failed delivery (connection
error, timeout or a non-2xx answer) is retried after a growing delay and recorded as
``last_error_date``/``last_error_message`` in getWebhookInfo; after ``max_attempts`` the
update is given up. A bot may answer a webhook with a method call in the response body
(JSON or multipart, as aiogram does); the stand-in executes it like Telegram, silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp

from bots.telegram.standin.errors import BotApiError
from bots.telegram.standin.methods import BotApi
from bots.telegram.standin.spec import UploadedFile
from bots.telegram.standin.world import BotWorld, PendingUpdate, WebhookConfig

log = logging.getLogger("yueban.telegram.standin")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookDelivery:
    """Runs the delivery workers of every bot that has a webhook set."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        retry_delays: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
        max_attempts: int = 8,
        max_workers: int = 40,
    ) -> None:
        self.api: BotApi | None = None
        self.timeout = timeout
        self.retry_delays = retry_delays
        self.max_attempts = max_attempts
        self.max_workers = max_workers
        self._session: aiohttp.ClientSession | None = None
        self._workers: dict[str, list[asyncio.Task[None]]] = {}
        # Workers also stop on their own when their generation is over, so a stop never
        # depends on a cancellation arriving.
        self._generation: dict[str, int] = {}

    def webhook_changed(self, world: BotWorld) -> None:
        self._stop(world)
        config = world.webhook
        if config is None:
            return
        count = max(1, min(config.max_connections, self.max_workers))
        generation = self._generation.get(world.token, 0)
        self._workers[world.token] = [
            asyncio.create_task(self._dispatch(world, config, generation, count),
                                name=f"webhook-{world.bot_id}")
        ]

    def _stop(self, world: BotWorld) -> None:
        self._generation[world.token] = self._generation.get(world.token, 0) + 1
        world.updates_changed.notify()
        for task in self._workers.pop(world.token, []):
            task.cancel()
        for entry in world.pending:
            entry.in_flight = False

    async def close(self) -> None:
        for token in self._workers:
            self._generation[token] = self._generation.get(token, 0) + 1
        tasks = [task for tasks in self._workers.values() for task in tasks]
        self._workers.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def _dispatch(self, world: BotWorld, config: WebhookConfig, generation: int,
                        connections: int) -> None:
        """One task hands updates out, each to a delivery of its own, at most `connections`
        at a time. (Idle delivery workers all waiting for the next update would each wake,
        scan the queue and go back to sleep for every update: a herd per update.)"""
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(connections)
        deliveries: set[asyncio.Task[None]] = set()
        try:
            while world.webhook is config and self._generation.get(world.token, 0) == generation:
                await slots.acquire()
                entry, wait = _claim(world.pending, loop.time())
                if entry is None:
                    slots.release()
                    await world.updates_changed.wait(wait)
                    continue
                entry.in_flight = True
                task = loop.create_task(self._deliver_in(slots, world, config, entry))
                deliveries.add(task)
                task.add_done_callback(deliveries.discard)
        finally:
            for task in deliveries:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.gather(*deliveries, return_exceptions=True)

    async def _deliver_in(self, slots: asyncio.Semaphore, world: BotWorld,
                          config: WebhookConfig, entry: PendingUpdate) -> None:
        try:
            await self._deliver(world, config, entry)
        finally:
            entry.in_flight = False
            slots.release()
            world.updates_changed.notify()

    async def _deliver(self, world: BotWorld, config: WebhookConfig,
                       entry: PendingUpdate) -> None:
        headers = {SECRET_HEADER: config.secret_token} if config.secret_token else {}
        error: str | None = None
        reply: tuple[str, dict[str, Any], dict[str, UploadedFile]] | None = None
        try:
            async with self._client().post(config.url, json=entry.update,
                                           headers=headers) as response:
                if 200 <= response.status < 300:
                    reply = await _method_in_reply(response)
                else:
                    error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientError as failure:
            error = f"Connection failed: {type(failure).__name__}: {failure}"
        loop = asyncio.get_running_loop()
        if error is None:
            _remove(world, entry)
            if reply is not None and self.api is not None:
                method, params, files = reply
                with contextlib.suppress(BotApiError):
                    await self.api.call(world, method, params, files, via="webhook-reply")
            return
        entry.attempts += 1
        config.last_error_date = world.now()
        config.last_error_message = error
        if entry.attempts >= self.max_attempts:
            log.warning("giving up update %s after %s attempts: %s", entry.update_id,
                        entry.attempts, error)
            _remove(world, entry)
            world.dropped_updates.append(entry.update)
            return
        delay = self.retry_delays[min(entry.attempts - 1, len(self.retry_delays) - 1)]
        entry.not_before = loop.time() + delay


def _claim(pending: list[PendingUpdate], now: float) -> tuple[PendingUpdate | None, float | None]:
    """The first deliverable update, keeping each chat's updates in order.

    Returns (None, seconds to wait) when nothing can go now; None seconds means "until
    something changes".
    """
    held_chats: set[int] = set()
    wait: float | None = None
    for entry in pending:
        chat = entry.chat_key
        if entry.in_flight or entry.not_before > now:
            if entry.not_before > now:
                delay = entry.not_before - now
                wait = delay if wait is None else min(wait, delay)
            if chat is not None:
                held_chats.add(chat)
            continue
        if chat is not None and chat in held_chats:
            continue
        return entry, None
    return None, wait


def _remove(world: BotWorld, entry: PendingUpdate) -> None:
    for index, candidate in enumerate(world.pending):
        if candidate is entry:
            del world.pending[index]
            return


async def _method_in_reply(
    response: aiohttp.ClientResponse,
) -> tuple[str, dict[str, Any], dict[str, UploadedFile]] | None:
    content_type = response.content_type
    if content_type == "application/json":
        try:
            body = await response.json()
        except (ValueError, aiohttp.ContentTypeError):
            return None
        if isinstance(body, dict) and isinstance(body.get("method"), str):
            params = {k: v for k, v in body.items() if k != "method"}
            return body["method"], params, {}
        return None
    if content_type.startswith("multipart/"):
        reader = aiohttp.MultipartReader.from_response(response)
        fields: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            data = await part.read()
            if part.filename:
                files[part.name] = UploadedFile(part.name, part.filename,
                                                part.headers.get("Content-Type",
                                                                 "application/octet-stream"),
                                                bytes(data))
            else:
                fields[part.name] = bytes(data).decode("utf-8")
        method = fields.pop("method", None)
        if isinstance(method, str):
            return method, fields, files
    return None
