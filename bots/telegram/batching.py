"""Requests made in one pass of the event loop go to the server in one round trip.

Every update is claimed in Redis and every sent message asks Redis for its turn: one round
trip each, and under load a dozen of them are asked for in the same pass of the event loop.
A `Batcher` collects what is submitted during one pass and hands it to its `send` function
as one list at the start of the next pass (`loop.call_soon`): each caller waits at most one
pass longer (a lone request too), and a busy process makes one round trip where it made
several.

`send` gets the items in submission order and returns one result per item, in that order; if
it raises, every caller of that batch gets the error. A caller that stops waiting (cancelled)
does not cancel the batch: the others still get their answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    def __init__(
        self, send: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]], *, max_batch: int = 64
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._send = send
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.round_trips = 0  # batches sent, for tests and monitoring

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A loop that ended before its flush ran (its callers cancelled at shutdown) left
            # its requests here and its flush unscheduled: they can never be answered.
            self._loop, self._pending, self._scheduled = loop, [], False
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.append((item, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._max_batch):
            task = asyncio.ensure_future(self._run(pending[start:start + self._max_batch]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        self.round_trips += 1
        try:
            results = await self._send([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(results)} answers")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as error:  # every waiting caller hears of it
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
