"""Handing updates to the dispatcher: one conversation in order, conversations side by side.

Both intakes (the webhook and long polling) accept updates faster than they are handled and
hand each to an `UpdateFeeder`. Updates of one chat (or, without a chat, of one sender) are
handled one after another in the order they came, so a quick second tap never overtakes
the first, a form's steps keep their order and replies come out in order; different
conversations run side by side, at most `max_concurrent_updates` at a time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.types import Update

log = logging.getLogger(__name__)


def conversation_of(update: Update) -> int | None:
    """The chat an update belongs to (or its sender), to keep one conversation in order."""
    context = UserContextMiddleware.resolve_event_context(update)
    if context.chat is not None:
        return context.chat.id
    if context.user is not None:
        return context.user.id
    return None


class UpdateFeeder:
    def __init__(self, dispatcher: Dispatcher, bot: Bot, *, max_concurrent_updates: int = 100) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._tasks: set[asyncio.Task[Any]] = set()
        # The last task of each conversation; the next update of that conversation waits for it.
        self._tails: dict[int, asyncio.Task[Any]] = {}

    def submit(self, update: Update) -> asyncio.Task[None]:
        """Hand `update` on; the task handling it (it runs in a copy of the caller's context)."""
        conversation = conversation_of(update)
        previous = self._tails.get(conversation) if conversation is not None else None
        task = asyncio.create_task(self._process(update, previous))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if conversation is not None:
            self._tails[conversation] = task
            task.add_done_callback(lambda done: self._forget(conversation, done))
        return task

    def _forget(self, conversation: int, task: asyncio.Task[Any]) -> None:
        if self._tails.get(conversation) is task:
            del self._tails[conversation]

    async def _process(self, update: Update, previous: asyncio.Task[Any] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        async with self._slots:
            try:
                await self.dispatcher.feed_update(self.bot, update)
            except Exception:
                # The error boundary already answered the person; this is the log of last
                # resort for an update that failed outside it.
                log.exception("update %s failed", update.update_id)

    async def drain(self) -> None:
        """Wait for every update in flight (at shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)
