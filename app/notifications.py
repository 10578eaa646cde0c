"""The outbox relay: events become notices, notices reach people through their channels.

Two steps, each safe to run in several processes at once and to crash at any point:

1. Plan. Claim a batch of undispatched outbox rows, ask the areas' notice functions
   (`core.notices.NoticeRegistry`) what each event means for whom, look up each
   recipient's channel accounts, language and time zone (the whole batch's in one read), and
   insert one pending delivery per notice and account, keyed by (event id, recipient, notice
   number, platform), the batch's in one statement; mark the rows dispatched. One
   transaction: all of it happens or none of it.
2. Send. Claim due pending deliveries (they become `sending` in a committed transaction,
   so nobody else takes them), hand each to its platform's Messenger (one chat's notices
   in order, different chats concurrently, paced by the channel's rate limiter), then
   record the outcome: `sent`; a refusal (blocked, chat gone) reported to the core through
   `ReportDeliveryFailure`, which records `NoticeUndelivered`; a transient error retried
   later with a growing delay, at most `max_attempts` times.

A delivery is never sent twice: once `sending` it only moves to `sent` or `failed`. If the
relay dies mid-send, the row stays `sending`; after `stuck_after` it is reported as
`interrupted` instead of being resent (at most once, never silently lost).

A group chat (the operators' group) is served by a `GroupRoute`: its own notice functions
say what the group sees, and its cards are planned like a person's notices, under user id
`GROUP_RECIPIENT` (0, nobody) in the delivery key, so each goes out once as well. For an event
the group gets a card about, the group is the one place operators see it: the notices the
areas address to operators one by one (`Notice.for_operators`, e.g. a new application's
review card) are dropped, so nobody gets two cards with live buttons for one decision. Where
no group covers the event (no group configured, its platform not served, a WeChat-only
deployment), those notices go to each operator as before.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.messagebus import MessageBus
from core.notices import (
    Delivery,
    DeliveryKey,
    NoticeRegistry,
    ReportDeliveryFailure,
    deliveries_for,
    load_area_notices,
    recipients_of,
    retry_delay,
)
from core.ports import ChannelAddress, DeliveryResult, Messenger
from core.shared.clock import Clock
from core.shared.errors import AlreadyProcessed
from core.shared.messages import Event, Notice
from storage.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

# The delivery key's user id for a group chat's cards: no person has id 0.
GROUP_RECIPIENT = 0


@dataclass(frozen=True)
class GroupRoute:
    """A group chat that gets cards of its own: what `registry` says about an event goes to
    `chat_id` on `platform`, written in `locale` with times in `timezone`."""

    platform: str
    chat_id: str
    locale: str
    timezone: str
    registry: NoticeRegistry


@dataclass
class RelayStats:
    """What one pass (or a whole run) did."""

    events: int = 0
    planned: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, other: RelayStats) -> None:
        self.events += other.events
        self.planned += other.planned
        self.sent += other.sent
        self.failed += other.failed
        self.retried += other.retried
        for reason, count in other.failures.items():
            self.failures[reason] = self.failures.get(reason, 0) + count

    @property
    def busy(self) -> bool:
        return bool(self.events or self.planned or self.sent or self.failed or self.retried)


class NotificationRelay:
    def __init__(
        self,
        uow_factory: Callable[[], SqlUnitOfWork],
        bus: MessageBus,
        messengers: Mapping[str, Messenger],
        *,
        clock: Clock,
        registry: NoticeRegistry | None = None,
        batch_size: int = 200,
        concurrency: int = 64,
        max_attempts: int = 5,
        poll_interval: float = 1.0,
        wake_delay: float = 0.05,
        stuck_after: timedelta = timedelta(minutes=10),
        stuck_check_interval: float = 60.0,
        group_routes: Sequence[GroupRoute] = (),
    ) -> None:
        self.uow_factory = uow_factory
        self.bus = bus
        self.messengers = dict(messengers)
        self.clock = clock
        self.registry = registry or load_area_notices()
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        # A commit wakes the relay after this pause, so a burst of commits is one pass
        # (every pass is a few transactions, and SQLite has one writer).
        self.wake_delay = wake_delay
        self.stuck_after = stuck_after
        self.stuck_check_interval = stuck_check_interval
        self.group_routes = list(group_routes)
        self.totals = RelayStats()
        self._wake = asyncio.Event()
        self._last_send_check = -math.inf
        self._last_stuck_check = -math.inf

    # -- running ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def on_commit(self, events: list[Event]) -> None:
        """A `MessageBus.after_commit` hook: new events mean there may be notices to send."""
        if events:
            self.wake()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; a failing pass is logged and retried after a pause."""
        while not stop.is_set():
            try:
                stats = await self.run_once()
            except Exception:
                log.exception("notification relay pass failed")
                stats = RelayStats()
            if stats.busy:
                continue
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                done, _ = await asyncio.wait(
                    {waiter, stopper},
                    timeout=self.poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
                stopper.cancel()
            if waiter in done and not stop.is_set():
                await asyncio.sleep(self.wake_delay)

    async def run_once(self) -> RelayStats:
        """One pass: plan a batch of events, send what is due, now and then report stuck ones.

        Sending is looked at when something was planned, or at most every `poll_interval`
        otherwise (for retries that came due), so an idle pass costs one transaction.
        """
        stats = await self.plan_batch()
        now = time.monotonic()
        if now - self._last_stuck_check >= self.stuck_check_interval:
            self._last_stuck_check = now
            await self.report_stuck()
        if stats.planned or now - self._last_send_check >= self.poll_interval:
            self._last_send_check = now
            stats.add(await self.send_due())
        self.totals.add(stats)
        return stats

    async def drain(self, max_passes: int = 1000) -> RelayStats:
        """Pass until nothing is left to do now (for tests, tools and shutdown)."""
        total = RelayStats()
        for _ in range(max_passes):
            # Look at everything on every pass, however recently it was looked at.
            self._last_send_check = self._last_stuck_check = -math.inf
            stats = await self.run_once()
            total.add(stats)
            if not stats.busy:
                break
        return total

    # -- step 1: plan ----------------------------------------------------------------------

    async def plan_batch(self) -> RelayStats:
        stats = RelayStats()
        now = self.clock.now()
        async with self.uow_factory() as uow:
            records = await uow.outbox.claim_batch(self.batch_size)
            if not records:
                return stats
            done: list[int] = []
            batch: list[tuple[Event, list[Notice], list[Delivery]]] = []
            for record in records:
                try:
                    notices = await self.registry.notices_for(record.event, uow)
                    group_cards = await self._group_deliveries(record.event, uow, now)
                except Exception:
                    # A bug in one area's notice function must not hold up every event
                    # behind it; the event stays in the outbox and the log says why.
                    log.exception("no notices for %s %s", record.event.type_name(), record.event.event_id)
                    continue
                if group_cards:
                    notices = [notice for notice in notices if not notice.for_operators]
                batch.append((record.event, notices, group_cards))
                done.append(record.id)
            # The whole batch's recipients in one read, and its deliveries in one insert.
            recipients = await recipients_of(
                uow, dict.fromkeys(n.recipient_user_id for _, notices, _ in batch for n in notices)
            )
            deliveries: list[Delivery] = []
            for event, notices, group_cards in batch:
                deliveries += deliveries_for(event, notices, recipients, self.messengers, now)
                deliveries += group_cards
            stats.planned = await uow.notice_deliveries.plan_many(deliveries, now)
            await uow.outbox.mark_dispatched(done, now)
            await uow.commit()
        stats.events = len(done)
        return stats

    async def _group_deliveries(
        self, event: Event, uow: SqlUnitOfWork, now: datetime
    ) -> list[Delivery]:
        """One pending delivery per group card; numbered per platform so keys never clash."""
        planned: list[Delivery] = []
        numbers: dict[str, int] = {}
        for route in self.group_routes:
            if route.platform not in self.messengers:
                continue
            for notice in await route.registry.notices_for(event, uow):
                seq = numbers.get(route.platform, 0)
                numbers[route.platform] = seq + 1
                planned.append(Delivery(
                    key=DeliveryKey(event.event_id, GROUP_RECIPIENT, seq, route.platform),
                    chat_id=route.chat_id,
                    locale=route.locale,
                    timezone=route.timezone,
                    notice=notice,
                    next_attempt_at=now,
                ))
        return planned

    # -- step 2: send ----------------------------------------------------------------------

    async def send_due(self) -> RelayStats:
        stats = RelayStats()
        async with self.uow_factory() as uow:
            deliveries = await uow.notice_deliveries.claim_due(self.clock.now(), self.batch_size)
            await uow.commit()
        if not deliveries:
            return stats
        outcomes = await self._deliver_all(deliveries)
        sent: dict[int, str | None] = {}
        refused: list[tuple[Delivery, str]] = []
        retry: list[Delivery] = []
        for delivery, outcome in outcomes:
            if isinstance(outcome, DeliveryResult) and outcome.delivered:
                sent[delivery.id] = outcome.channel_message_id
            elif isinstance(outcome, DeliveryResult):
                refused.append((delivery, outcome.failure or "rejected"))
            elif delivery.attempts >= self.max_attempts:
                refused.append((delivery, "error"))
            else:
                retry.append(delivery)
        now = self.clock.now()
        async with self.uow_factory() as uow:
            await uow.notice_deliveries.mark_sent(sent, now)
            for delivery in retry:
                await uow.notice_deliveries.retry_later(
                    delivery.id, now + retry_delay(delivery.attempts), now
                )
            await uow.commit()
        for delivery, failure in refused:
            await self._report(delivery, failure)
            stats.failures[failure] = stats.failures.get(failure, 0) + 1
        stats.sent, stats.failed, stats.retried = len(sent), len(refused), len(retry)
        return stats

    async def _deliver_all(
        self, deliveries: Sequence[Delivery]
    ) -> list[tuple[Delivery, DeliveryResult | BaseException]]:
        # One chat's notices go in order; different chats go side by side.
        by_chat: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
        for delivery in deliveries:
            by_chat[(delivery.key.platform, delivery.chat_id)].append(delivery)
        slots = asyncio.Semaphore(self.concurrency)
        outcomes: list[tuple[Delivery, DeliveryResult | BaseException]] = []

        async def one_chat(queue: list[Delivery]) -> None:
            async with slots:
                for delivery in queue:
                    outcomes.append((delivery, await self._deliver(delivery)))

        await asyncio.gather(*(one_chat(queue) for queue in by_chat.values()))
        return outcomes

    async def _deliver(self, delivery: Delivery) -> DeliveryResult | BaseException:
        messenger = self.messengers.get(delivery.key.platform)
        if messenger is None:
            return DeliveryResult(delivered=False, failure="error")
        address = ChannelAddress(
            delivery.key.platform, delivery.chat_id, delivery.locale, delivery.timezone
        )
        try:
            return await messenger.deliver(delivery.notice, address)
        except Exception as error:
            # Network trouble, a server error: worth another try later.
            log.warning(
                "delivery %s (%s) failed on attempt %d: %r",
                delivery.id, delivery.notice.key, delivery.attempts, error,
            )
            return error

    async def _report(self, delivery: Delivery, failure: str) -> None:
        try:
            await self.bus.handle(
                ReportDeliveryFailure(
                    delivery_id=delivery.id,
                    failure=failure,
                    idempotency_key=f"notice-delivery:{delivery.id}:failed",
                )
            )
        except AlreadyProcessed:
            pass

    async def report_stuck(self) -> int:
        """Deliveries whose sender died mid-send: reported, never resent."""
        before = self.clock.now() - self.stuck_after
        async with self.uow_factory() as uow:
            stuck = await uow.notice_deliveries.stuck_sending(before, self.batch_size)
        for delivery in stuck:
            await self._report(delivery, "interrupted")
        return len(stuck)
