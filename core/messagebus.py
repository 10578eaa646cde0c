"""Command and event dispatch: one unit of work (one transaction) per command.

Handlers are plain `async def handler(cmd, uow, **deps)` functions. The bus opens the unit of
work, claims the command's idempotency key inside the same transaction, runs the handler,
commits, and then runs the event handlers for what was committed, each in its own unit of
work. Handlers never commit: the bus does, so a failed handler leaves nothing behind.
A `Query` runs on a read-only unit of work: no transaction to commit, nothing claimed.

Dependencies (clock, policies, gateways, ...) are injected by parameter name from the
mapping given at construction, as in cosmicpython's bootstrap.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from core.ports import UnitOfWork
from core.shared.clock import Clock
from core.shared.errors import AlreadyProcessed, ConcurrencyConflict
from core.shared.messages import Command, Event

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]
UnitOfWorkFactory = Callable[[], UnitOfWork]

# A lost optimistic-concurrency race is retried: on the retry the handler sees the winner's
# state and either succeeds or refuses with a domain error that says what happened.
MAX_CONFLICT_RETRIES = 3


def inject(handler: Handler, dependencies: Mapping[str, Any]) -> Handler:
    params = inspect.signature(handler).parameters
    bound = {name: dep for name, dep in dependencies.items() if name in params}

    async def call(message: Any, uow: UnitOfWork) -> Any:
        return await handler(message, uow, **bound)

    call.__name__ = getattr(handler, "__name__", "handler")
    return call


class MessageBus:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        command_handlers: Mapping[type[Command], Handler],
        event_handlers: Mapping[type[Event], list[Handler]],
        dependencies: Mapping[str, Any],
        read_uow_factory: UnitOfWorkFactory | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        # Queries run on units of work from here (no write transaction), when given.
        self.read_uow_factory = read_uow_factory or uow_factory
        self.dependencies = dict(dependencies)
        self.clock: Clock = self.dependencies["clock"]
        self.command_handlers = {
            t: inject(h, self.dependencies) for t, h in command_handlers.items()
        }
        self.event_handlers = {
            t: [inject(h, self.dependencies) for h in hs] for t, hs in event_handlers.items()
        }
        # Hooks run after each commit with the committed events (e.g. wake the outbox relay).
        self.after_commit: list[Callable[[list[Event]], Awaitable[None]]] = []

    async def handle(self, command: Command) -> Any:
        handler = self.command_handlers.get(type(command))
        if handler is None:
            raise LookupError(f"no handler for {type(command).__name__}")
        if command.read_only:
            # A query writes nothing: no idempotency claim, no retry, no events.
            async with self.read_uow_factory() as uow:
                return await handler(command, uow)
        result, events = await self._run(handler, command, command.idempotency_key)
        await self._publish(events)
        return result

    async def _run(
        self, handler: Handler, message: Any, idempotency_key: str | None
    ) -> tuple[Any, list[Event]]:
        for attempt in range(1, MAX_CONFLICT_RETRIES + 1):
            try:
                async with self.uow_factory() as uow:
                    if idempotency_key:
                        await uow.idempotency.claim(idempotency_key, self.clock.now())
                    result = await handler(message, uow)
                    await uow.commit()
                    return result, uow.committed_events()
            except ConcurrencyConflict:
                if attempt == MAX_CONFLICT_RETRIES:
                    raise
                log.info("concurrency conflict on %s, retry %d", type(message).__name__, attempt)
        raise AssertionError("unreachable")

    async def _publish(self, events: list[Event]) -> None:
        queue = list(events)
        while queue:
            event = queue.pop(0)
            for handler in self.event_handlers.get(type(event), []):
                try:
                    key = f"event:{event.event_id}:{handler.__name__}"
                    _, more = await self._run(handler, event, key)
                    queue.extend(more)
                except AlreadyProcessed:
                    continue
                except Exception:
                    # The event is already durable in the outbox; a failed reaction is logged
                    # and must not undo the command that produced it.
                    log.exception("event handler %s failed for %s", handler.__name__, event.type_name())
        for hook in self.after_commit:
            await hook(events)
