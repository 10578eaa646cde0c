"""In-memory fakes of the core's ports, for unit tests that need no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from core.ports import ChannelAddress, DeliveryResult
from core.shared.audit import AuditEntry
from core.shared.errors import AlreadyProcessed
from core.shared.messages import Event, Notice


@dataclass
class FakeOutboxRecord:
    id: int
    event: Event
    created_at: datetime


class FakeOutbox:
    def __init__(self) -> None:
        self.records: list[FakeOutboxRecord] = []
        self.dispatched: set[int] = set()

    async def add(self, event: Event, created_at: datetime) -> None:
        self.records.append(FakeOutboxRecord(len(self.records) + 1, event, created_at))

    async def claim_batch(self, limit: int) -> list[FakeOutboxRecord]:
        return [r for r in self.records if r.id not in self.dispatched][:limit]

    async def mark_dispatched(self, record_ids: list[int], at: datetime) -> None:
        self.dispatched.update(record_ids)


class FakeIdempotencyKeys:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.pending: set[str] = set()

    async def claim(self, key: str, at: datetime) -> None:
        if key in self.keys or key in self.pending:
            raise AlreadyProcessed(key)
        self.pending.add(key)


class FakeAuditLog:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def add(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def for_entity(self, entity: str, entity_id: str) -> list[AuditEntry]:
        return [e for e in self.entries if e.entity == entity and e.entity_id == entity_id]


class FakeUnitOfWork:
    """Shares its stores across instances made by one factory, like one database would.

    Writes are not isolated (these are fakes), but the idempotency keys, the outbox and the
    `committed` flag behave as the SQL unit of work does.
    """

    def __init__(self, stores: dict[str, Any] | None = None) -> None:
        self.stores = stores if stores is not None else {}
        self.outbox = self.stores.setdefault("outbox", FakeOutbox())
        self.idempotency = self.stores.setdefault("idempotency", FakeIdempotencyKeys())
        self.audit = self.stores.setdefault("audit", FakeAuditLog())
        self.committed = False
        self._tracked: list[Any] = []
        self._emitted: list[Event] = []
        self._committed_events: list[Event] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.idempotency.pending.clear()

    def track(self, aggregate: Any) -> None:
        self._tracked.append(aggregate)

    def emit(self, event: Event) -> None:
        self._emitted.append(event)

    async def commit(self) -> None:
        events = [e for a in self._tracked for e in a.events] + self._emitted
        for aggregate in self._tracked:
            aggregate.events.clear()
        self._emitted = []
        for event in events:
            await self.outbox.add(event, datetime.now())
        self.idempotency.keys |= self.idempotency.pending
        self.idempotency.pending.clear()
        self._committed_events = events
        self.committed = True

    async def rollback(self) -> None:
        self._emitted = []

    def committed_events(self) -> list[Event]:
        return list(self._committed_events)


@dataclass
class FakeMessenger:
    """Records the notices it is asked to deliver; can pretend a user blocked the bot."""

    platform: str = "telegram"
    sent: list[tuple[Notice, ChannelAddress]] = field(default_factory=list)
    blocked_chats: set[str] = field(default_factory=set)

    async def deliver(self, notice: Notice, address: ChannelAddress) -> DeliveryResult:
        if address.chat_id in self.blocked_chats:
            return DeliveryResult(delivered=False, failure="blocked")
        self.sent.append((notice, address))
        return DeliveryResult(delivered=True, channel_message_id=str(len(self.sent)))

    def keys_for(self, chat_id: str) -> list[str]:
        return [n.key for n, a in self.sent if a.chat_id == chat_id]


class ManualClock:
    """Monotonic seconds (a `time.monotonic` stand-in) that move only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
