"""Relayed messages waiting for a recipient WeChat will not take right now.

A copy refused because the recipient's customer-service window is closed (or its quota is
spent) is not lost: the relay's `RelayUndelivered` event queues it here, per recipient
address, with what to send (masked text, media refs or a placeholder). The recipient hears
once, by template, that messages wait for them; the sender hears once that theirs are
kept. When the recipient interacts with the account again, the WeChat adapter asks
whether anything waits (`AnyPendingRelays`, a read), claims the queue
(`ClaimPendingRelays`, in order, leased so that a second worker or a repeated event claims
nothing while a delivery is under way), sends each, and reports each with
`MarkPendingDelivered` (the pair row the relay keeps for replies is written then) or gives
the rest back with `ReleasePendingRelays`. A message whose conversation closed, or that
waited longer than `PendingPolicy.max_age`, expires and its sender is told.

Edits: a message edited while it waits is claimed with its newest text; an edit of a
delivered message that WeChat refuses (`QueueRefusedEdit`) waits in the same queue.

Storage: `storage/repositories/relay_pending.py`, attribute `uow.relay_pending`.
Dependencies by parameter name: `clock`, `relay_queue_policy`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from core.identity.guards import acting_user
from core.identity.model import Role
from core.messagebus import Handler
from core.ports import UnitOfWork
from core.relay import events as ev
from core.relay import routing
from core.relay.commands import EditPlan, EditTarget, RelayPlan, RelayTarget
from core.relay.model import (
    Conversation,
    DeliveryMode,
    Location,
    MessageKind,
    MessagePair,
    ParticipantRole,
)
from core.shared.clock import Clock
from core.shared.errors import DomainError, Forbidden, NotFound
from core.shared.messages import Command, Event, Notice, Query

# Only WeChat refuses for these reasons, and only until the person interacts again.
WINDOW_FAILURES = frozenset({"window_closed", "quota"})
QUEUE_PLATFORM = "wechat"
MAX_SWEEP = 5_000
MAX_CLAIM = 100
# A message that fails for a reason other than the window this often stops blocking the
# queue behind it: it expires and its sender is told.
MAX_ATTEMPTS = 3


class PendingStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by one worker until `claimed_until`
    DELIVERED = "delivered"
    EXPIRED = "expired"


class ExpiryReason(StrEnum):
    TOO_OLD = "too_old"  # waited longer than the policy allows
    CLOSED = "closed"  # the conversation closed (or the recipient left it) first
    UNREACHABLE = "unreachable"  # the recipient has no WeChat address to wait for
    FAILED = "failed"  # sending it failed for another reason, time after time


@dataclass(frozen=True)
class PendingPolicy:
    # How long a message waits for the recipient's window before its sender is told.
    max_age: timedelta = timedelta(days=7)
    # How long a claim holds before another worker may take the messages again.
    claim_lease: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0) or self.claim_lease <= timedelta(0):
            raise ValueError("max_age and claim_lease must be positive")


DEFAULT_PENDING_POLICY = PendingPolicy()


@dataclass(frozen=True, kw_only=True)
class PendingRelay:
    """One relayed message waiting for one recipient, and what to send them."""

    conversation_id: int
    order_id: int
    order_number: str
    relayed_message_id: int
    sender_id: int
    sender_role: ParticipantRole
    recipient_id: int
    recipient_role: ParticipantRole
    platform: str  # where the recipient waits
    chat_id: str
    locale: str
    from_platform: str  # where the files live
    kind: MessageKind
    # SEND (text, or media through the media API), PLACEHOLDER, or EDIT (a corrected text)
    mode: DeliveryMode
    text: str | None  # masked, with placeholders
    files: tuple[str, ...]
    location: Location | None
    queued_at: datetime
    status: PendingStatus = PendingStatus.QUEUED
    claimed_until: datetime | None = None
    attempts: int = 0
    last_failure: str | None = None
    settled_at: datetime | None = None  # delivered or expired at
    expiry_reason: str | None = None
    id: int = 0

    def claimable(self, now: datetime) -> bool:
        """Queued, or claimed by a worker whose lease ran out (it stopped mid-way)."""
        if self.status is PendingStatus.QUEUED:
            return True
        return (self.status is PendingStatus.SENDING and self.claimed_until is not None
                and self.claimed_until <= now)

    @property
    def is_edit(self) -> bool:
        return self.mode is DeliveryMode.EDIT

    def edit_plan(self) -> tuple[EditPlan, EditTarget]:
        """An edit waiting: the plan a carrier sends as a new message marked edited."""
        target = EditTarget(user_id=self.recipient_id, platform=self.platform,
                            chat_id=self.chat_id, message_id="", locale=self.locale,
                            mode=DeliveryMode.SEND)
        plan = EditPlan(
            relayed_message_id=self.relayed_message_id, edit_id=self.relayed_message_id,
            conversation_id=self.conversation_id, order_id=self.order_id,
            order_number=self.order_number, sender_id=self.sender_id, kind=self.kind,
            text=self.text, leak_kinds=(), location=self.location, targets=(target,),
        )
        return plan, target

    def plan(self) -> tuple[RelayPlan, RelayTarget]:
        """The relay plan and target a carrier delivers, as if the message were new."""
        target = RelayTarget(user_id=self.recipient_id, role=self.recipient_role,
                             platform=self.platform, chat_id=self.chat_id, locale=self.locale,
                             mode=self.mode)
        plan = RelayPlan(
            relayed_message_id=self.relayed_message_id, conversation_id=self.conversation_id,
            order_id=self.order_id, order_number=self.order_number, sender_id=self.sender_id,
            sender_role=self.sender_role, platform=self.from_platform, chat_id="",
            message_id="", kind=self.kind, text=self.text, leak_kinds=(), leak_count=0,
            files=self.files, media_group_id=None, location=self.location,
            targets=(target,),
        )
        return plan, target


class PendingRelayRepository(Protocol):
    """Implemented in `storage/repositories/relay_pending.py` as `uow.relay_pending`."""

    async def add(self, item: PendingRelay) -> PendingRelay | None:
        """Queue `item`; None when this message already waits for this recipient."""
        ...

    async def get(self, pending_id: int) -> PendingRelay | None: ...

    async def live_for(self, platform: str, chat_id: str, *,
                       for_update: bool = False) -> list[PendingRelay]:
        """Queued and claimed messages for one address, in the order they were sent."""
        ...

    async def live_of_conversation(self, conversation_id: int, *,
                                   for_update: bool = False) -> list[PendingRelay]: ...

    async def any_live(self, platform: str, chat_id: str) -> bool:
        """Whether anything is queued or claimed for this address."""
        ...

    async def of_conversation(self, conversation_id: int) -> list[PendingRelay]:
        """Every message that ever waited in this conversation, whatever became of it."""
        ...

    async def due_to_expire(self, queued_before: datetime, now: datetime,
                            limit: int) -> list[PendingRelay]:
        """Claimable messages queued before `queued_before`, oldest first."""
        ...

    async def claim(self, pending_ids: Sequence[int], until: datetime) -> None: ...

    async def mark_delivered(self, pending_id: int, at: datetime) -> None: ...

    async def release(self, pending_ids: Sequence[int], failure: str) -> list[PendingRelay]:
        """Give claimed messages back to the queue, counting an attempt (and `failure`) on
        the first, the one that was tried; returns those that were claimed, as they were."""
        ...

    async def expire(self, pending_ids: Sequence[int], at: datetime, reason: str) -> None: ...


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RelayQueued(Event):
    """A relayed message waits for its recipient's WeChat window."""

    conversation_id: int
    order_id: int
    order_number: str
    relayed_message_id: int
    sender_id: int
    recipient_id: int
    queued: int  # messages now waiting for this recipient in this conversation
    first_for_recipient: bool  # the queue was empty: tell the recipient once
    first_for_sender: bool  # none of the sender's were waiting: tell the sender once
    max_age_days: int
    at: datetime


@dataclass(frozen=True, kw_only=True)
class RelayQueueWaiting(Event):
    """A delivery of the queue stopped (the quota ran out): the rest still waits."""

    conversation_id: int
    order_id: int
    order_number: str
    recipient_id: int
    queued: int
    at: datetime


@dataclass(frozen=True, kw_only=True)
class RelayQueueExpired(Event):
    """Messages of one sender will not reach the recipient: their sender is told."""

    conversation_id: int
    order_id: int
    order_number: str
    sender_id: int
    recipient_id: int
    relayed_message_ids: tuple[int, ...]
    reason: str  # ExpiryReason
    max_age_days: int
    at: datetime


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClaimPendingRelays(Command):
    """The person at (platform, chat_id) interacted: claim what waits for them, in order."""

    platform: str
    chat_id: str
    limit: int = MAX_CLAIM


@dataclass(frozen=True, kw_only=True)
class QueueRefusedEdit(Command):
    """WeChat refused an edit (`edit_id`, its transcript entry) for want of a window."""

    edit_id: int
    recipient_user_id: int
    failure: str


@dataclass(frozen=True, kw_only=True)
class AnyPendingRelays(Query):
    """Whether anything waits for (platform, chat_id): the cheap look every interaction
    takes before claiming (no write transaction, no lock)."""

    platform: str
    chat_id: str


@dataclass(frozen=True, kw_only=True)
class MarkPendingDelivered(Command):
    """A claimed message was delivered as `to_message_id`."""

    pending_id: int
    to_message_id: str


@dataclass(frozen=True, kw_only=True)
class ReleasePendingRelays(Command):
    """Claimed messages were not delivered: the first failed (`failure`), the rest waited
    behind it. They wait for the next chance."""

    pending_ids: tuple[int, ...]
    failure: str


@dataclass(frozen=True, kw_only=True)
class ExpirePendingRelays(Command):
    """Sweep: messages that waited longer than the policy allows expire; senders are told."""

    now: datetime | None = None
    limit: int = 500


@dataclass(frozen=True, kw_only=True)
class ListPendingRelays(Query):
    """Every message that waited in an order's chat, for the transcript."""

    order_id: int | None = None
    order_number: str | None = None


# --- handlers -----------------------------------------------------------------------------------


def _address(conversation: Conversation, recipient_id: int,
             accounts: Sequence[tuple[str, str]]) -> str | None:
    """The recipient's WeChat chat: where they last wrote in this chat, else their account."""
    participant = next((p for p in conversation.participants if p.user_id == recipient_id), None)
    if participant is not None and participant.platform == QUEUE_PLATFORM and participant.chat_id:
        return participant.chat_id
    return next((chat for platform, chat in accounts if platform == QUEUE_PLATFORM), None)


async def queue_undelivered(event: ev.RelayUndelivered, uow: UnitOfWork, clock: Clock,
                            relay_queue_policy: PendingPolicy = DEFAULT_PENDING_POLICY) -> None:
    """A copy WeChat refused for want of a window waits for the recipient."""
    if event.failure in WINDOW_FAILURES:
        await _queue(uow, event.relayed_message_id, event.recipient_id, relay_queue_policy,
                     clock.now())


async def queue_refused_edit(cmd: QueueRefusedEdit, uow: UnitOfWork, clock: Clock,
                             relay_queue_policy: PendingPolicy = DEFAULT_PENDING_POLICY) -> None:
    """An edit WeChat refused for want of a window waits like a message, after it."""
    if cmd.failure not in WINDOW_FAILURES:
        raise DomainError("error.relay.unknown_failure", failure=cmd.failure,
                          failures=", ".join(sorted(WINDOW_FAILURES)))
    edit = await uow.relay_messages.get(cmd.edit_id)
    if edit is None or edit.edit_of is None:
        raise NotFound("error.relay.unknown_message")
    await _queue(uow, edit.id, cmd.recipient_user_id, relay_queue_policy, clock.now())


async def _queue(uow: UnitOfWork, relayed_message_id: int, recipient_id: int,
                 policy: PendingPolicy, now: datetime) -> None:
    message = await uow.relay_messages.get(relayed_message_id)
    if message is None:
        return
    # Locked, so two refusals queued at once agree on which was first (one template).
    conversation = await uow.conversations.get(message.conversation_id, for_update=True)
    if not conversation.ever_took_part(recipient_id) or recipient_id == message.sender_id:
        raise Forbidden("error.relay.not_participant", order_number=conversation.order_number)
    recipient = await uow.users.get(recipient_id)
    chat_id = _address(conversation, recipient.id,
                       [(a.platform, a.chat_id) for a in recipient.accounts])
    participant = conversation.participant(recipient.id)
    if chat_id is None or participant is None or not conversation.is_open:
        reason = ExpiryReason.UNREACHABLE if chat_id is None else ExpiryReason.CLOSED
        uow.emit(_expired(conversation, message.sender_id, recipient.id, (message.id,),
                          reason, policy, now))
        return
    mode, _ = routing.delivery_mode(message.kind, message.platform, QUEUE_PLATFORM,
                                    message.leak_count)
    if message.edit_of is not None:
        mode = DeliveryMode.EDIT  # sent as a new message marked edited: WeChat cannot edit
    elif mode is not DeliveryMode.PLACEHOLDER:
        mode = DeliveryMode.SEND
    waiting = await uow.relay_pending.live_of_conversation(conversation.id)
    mine = [w for w in waiting if w.recipient_id == recipient.id]
    added = await uow.relay_pending.add(PendingRelay(
        conversation_id=conversation.id, order_id=conversation.order_id,
        order_number=conversation.order_number, relayed_message_id=message.id,
        sender_id=message.sender_id, sender_role=message.sender_role,
        recipient_id=recipient.id, recipient_role=participant.role, platform=QUEUE_PLATFORM,
        chat_id=chat_id, locale=participant.locale or recipient.locale,
        from_platform=message.platform, kind=message.kind,
        mode=mode,
        text=message.text, files=message.files, location=message.location, queued_at=now,
    ))
    if added is None:
        return  # this copy waits already (a repeated report)
    uow.emit(RelayQueued(
        conversation_id=conversation.id, order_id=conversation.order_id,
        order_number=conversation.order_number, relayed_message_id=message.id,
        sender_id=message.sender_id, recipient_id=recipient.id, queued=len(mine) + 1,
        first_for_recipient=not mine,
        first_for_sender=not any(w.sender_id == message.sender_id for w in mine),
        max_age_days=policy.max_age.days, at=now,
    ))


def _expired(conversation: Conversation, sender_id: int, recipient_id: int,
             message_ids: tuple[int, ...], reason: str, policy: PendingPolicy,
             now: datetime) -> RelayQueueExpired:
    return RelayQueueExpired(
        conversation_id=conversation.id, order_id=conversation.order_id,
        order_number=conversation.order_number, sender_id=sender_id, recipient_id=recipient_id,
        relayed_message_ids=message_ids, reason=str(reason), max_age_days=policy.max_age.days,
        at=now,
    )


async def _expire(uow: UnitOfWork, items: Sequence[PendingRelay], reason: str,
                  policy: PendingPolicy, now: datetime) -> None:
    """Expire `items` and tell each sender once per conversation and recipient."""
    if not items:
        return
    await uow.relay_pending.expire([i.id for i in items], now, str(reason))
    groups: dict[tuple[int, int, int], list[PendingRelay]] = {}
    for item in items:
        groups.setdefault((item.conversation_id, item.sender_id, item.recipient_id),
                          []).append(item)
    for (_, sender_id, recipient_id), group in groups.items():
        first = group[0]
        uow.emit(RelayQueueExpired(
            conversation_id=first.conversation_id, order_id=first.order_id,
            order_number=first.order_number, sender_id=sender_id, recipient_id=recipient_id,
            relayed_message_ids=tuple(i.relayed_message_id for i in group), reason=str(reason),
            max_age_days=policy.max_age.days, at=now,
        ))


async def claim_pending(cmd: ClaimPendingRelays, uow: UnitOfWork, clock: Clock,
                        relay_queue_policy: PendingPolicy = DEFAULT_PENDING_POLICY,
                        ) -> tuple[PendingRelay, ...]:
    """What to deliver now, oldest first; nothing while another claim on it is live."""
    if not 1 <= cmd.limit <= MAX_CLAIM:
        raise DomainError("error.relay.invalid_limit", limit=cmd.limit, most=MAX_CLAIM)
    now = clock.now()
    policy = relay_queue_policy
    live = await uow.relay_pending.live_for(cmd.platform, cmd.chat_id, for_update=True)
    if not live or any(not item.claimable(now) for item in live):
        return ()  # empty, or somebody is delivering it now: order matters, so wait
    conversations: dict[int, Conversation] = {}
    closed: list[PendingRelay] = []
    old: list[PendingRelay] = []
    ready: list[PendingRelay] = []
    for item in live:
        if item.conversation_id not in conversations:
            conversations[item.conversation_id] = await uow.conversations.get(item.conversation_id)
        conversation = conversations[item.conversation_id]
        if not conversation.is_open or conversation.participant(item.recipient_id) is None:
            closed.append(item)
        elif item.queued_at <= now - policy.max_age:
            old.append(item)
        else:
            ready.append(item)
    await _expire(uow, closed, ExpiryReason.CLOSED, policy, now)
    await _expire(uow, old, ExpiryReason.TOO_OLD, policy, now)
    ready = ready[:cmd.limit]
    if not ready:
        return ()
    until = now + policy.claim_lease
    await uow.relay_pending.claim([i.id for i in ready], until)
    latest = await _latest_edits(uow, ready)
    return tuple(dataclasses.replace(i, status=PendingStatus.SENDING, claimed_until=until,
                                     text=latest.get(i.relayed_message_id, i.text))
                 for i in ready)


async def _latest_edits(uow: UnitOfWork, items: Sequence[PendingRelay]) -> dict[int, str | None]:
    """The newest text of messages that were edited while they waited (no copy existed to
    edit then): the recipient reads what the sender meant in the end."""
    waiting = {i.relayed_message_id for i in items if not i.is_edit}
    latest: dict[int, str | None] = {}
    for conversation_id in {i.conversation_id for i in items if not i.is_edit}:
        for message in await uow.relay_messages.of_conversation(conversation_id):
            if message.edit_of in waiting and message.text is not None:
                latest[message.edit_of] = message.text  # oldest first: the last one wins
    return latest


async def any_pending(cmd: AnyPendingRelays, uow: UnitOfWork) -> bool:
    return await uow.relay_pending.any_live(cmd.platform, cmd.chat_id)


async def mark_delivered(cmd: MarkPendingDelivered, uow: UnitOfWork, clock: Clock) -> bool:
    """True when this report was news; the pair row lets replies to the copy find the chat."""
    item = await uow.relay_pending.get(cmd.pending_id)
    if item is None:
        raise NotFound("error.relay.unknown_message")
    if item.status is PendingStatus.DELIVERED:
        return False
    now = clock.now()
    # Even an expired one: it did arrive, and the transcript says what happened.
    await uow.relay_pending.mark_delivered(item.id, now)
    message = await uow.relay_messages.get(item.relayed_message_id)
    if message is not None:
        await uow.relay_pairs.add(MessagePair(
            conversation_id=item.conversation_id, relayed_message_id=message.id,
            from_platform=message.platform, from_chat_id=message.chat_id,
            from_message_id=message.message_id, to_user_id=item.recipient_id,
            to_platform=item.platform, to_chat_id=item.chat_id,
            to_message_id=cmd.to_message_id, created_at=now,
        ))
    return True


async def release_pending(cmd: ReleasePendingRelays, uow: UnitOfWork, clock: Clock,
                          relay_queue_policy: PendingPolicy = DEFAULT_PENDING_POLICY) -> int:
    """How many went back to the queue; past the window the recipient hears the rest waits."""
    if not cmd.pending_ids:
        return 0
    released = await uow.relay_pending.release(cmd.pending_ids, cmd.failure)
    if not released:
        return 0
    now = clock.now()
    if cmd.failure not in WINDOW_FAILURES:
        tried = next((i for i in released if i.id == cmd.pending_ids[0]), None)
        if tried is not None and tried.attempts + 1 >= MAX_ATTEMPTS:
            await _expire(uow, [tried], ExpiryReason.FAILED, relay_queue_policy, now)
        return len(released)
    by_conversation: dict[int, PendingRelay] = {}
    for item in released:
        by_conversation.setdefault(item.conversation_id, item)
    for conversation_id, item in by_conversation.items():
        waiting = await uow.relay_pending.live_of_conversation(conversation_id)
        uow.emit(RelayQueueWaiting(
            conversation_id=conversation_id, order_id=item.order_id,
            order_number=item.order_number, recipient_id=item.recipient_id,
            queued=sum(1 for w in waiting if w.recipient_id == item.recipient_id), at=now,
        ))
    return len(released)


async def expire_pending(cmd: ExpirePendingRelays, uow: UnitOfWork, clock: Clock,
                         relay_queue_policy: PendingPolicy = DEFAULT_PENDING_POLICY) -> int:
    """How many messages this sweep expired."""
    if not 1 <= cmd.limit <= MAX_SWEEP:
        raise DomainError("error.relay.invalid_limit", limit=cmd.limit, most=MAX_SWEEP)
    now = cmd.now or clock.now()
    policy = relay_queue_policy
    due = await uow.relay_pending.due_to_expire(now - policy.max_age, now, cmd.limit)
    await _expire(uow, due, ExpiryReason.TOO_OLD, policy, now)
    return len(due)


async def expire_on_close(event: ev.ConversationClosed, uow: UnitOfWork, clock: Clock,
                          relay_queue_policy: PendingPolicy = DEFAULT_PENDING_POLICY) -> None:
    """A chat that closed delivers nothing more: what waited in it expires."""
    now = clock.now()
    live = await uow.relay_pending.live_of_conversation(event.conversation_id, for_update=True)
    await _expire(uow, [i for i in live if i.claimable(now)], ExpiryReason.CLOSED,
                  relay_queue_policy, now)


async def list_pending(cmd: ListPendingRelays, uow: UnitOfWork,
                       clock: Clock) -> list[PendingRelay]:
    if (cmd.order_id is None) == (cmd.order_number is None):
        raise DomainError("error.relay.order_required")
    if cmd.order_id is not None:
        conversation = await uow.conversations.for_order(cmd.order_id)
    else:
        conversation = await uow.conversations.for_order_number(
            (cmd.order_number or "").strip().upper())
    if conversation is None:
        raise NotFound("error.relay.conversation_not_found",
                       order_id=cmd.order_id or cmd.order_number)
    if cmd.actor_id is not None:
        reader = await acting_user(uow, cmd.actor_id, clock.now())
        if not reader.has_role(Role.OPERATOR) and not conversation.ever_took_part(reader.id):
            raise Forbidden("error.relay.transcript_forbidden",
                            order_number=conversation.order_number)
    return await uow.relay_pending.of_conversation(conversation.id)


COMMAND_HANDLERS: dict[type[Command], Handler] = {
    AnyPendingRelays: any_pending,
    QueueRefusedEdit: queue_refused_edit,
    ClaimPendingRelays: claim_pending,
    MarkPendingDelivered: mark_delivered,
    ReleasePendingRelays: release_pending,
    ExpirePendingRelays: expire_pending,
    ListPendingRelays: list_pending,
}

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {
    ev.RelayUndelivered: [queue_undelivered],
    ev.ConversationClosed: [expire_on_close],
}


# --- notices ----------------------------------------------------------------------------------


def _notice(event: Event, recipient: int, key: str, params: dict[str, Any]) -> Notice:
    return Notice(recipient, key, params, (), dedup_key=f"{event.event_id}:{recipient}:{key}")


def _queued(e: RelayQueued) -> list[Notice]:
    notices = []
    if e.first_for_recipient:
        # Outside the window this goes out as a template: short, and it asks for a reply,
        # which reopens the window and lets the messages through.
        notices.append(_notice(e, e.recipient_id, "notice.relay.queued_for_you",
                               {"number": e.order_number, "count": e.queued}))
    if e.first_for_sender:
        notices.append(_notice(e, e.sender_id, "notice.relay.queued",
                               {"number": e.order_number, "days": e.max_age_days}))
    return notices


def _waiting(e: RelayQueueWaiting) -> list[Notice]:
    if not e.queued:
        return []
    return [_notice(e, e.recipient_id, "notice.relay.queued_for_you",
                    {"number": e.order_number, "count": e.queued})]


_EXPIRED_KEYS = {
    ExpiryReason.TOO_OLD: "notice.relay.queue_expired",
    ExpiryReason.CLOSED: "notice.relay.queue_expired_closed",
    ExpiryReason.UNREACHABLE: "notice.relay.queue_unreachable",
    ExpiryReason.FAILED: "notice.relay.undelivered",
}


def _expired_notice(e: RelayQueueExpired) -> list[Notice]:
    key = _EXPIRED_KEYS.get(ExpiryReason(e.reason), "notice.relay.queue_expired")
    return [_notice(e, e.sender_id, key, {"number": e.order_number,
                                         "count": len(e.relayed_message_ids),
                                         "days": e.max_age_days})]


NOTICE_BUILDERS: dict[type[Event], Callable[..., list[Notice]]] = {
    RelayQueued: _queued,
    RelayQueueWaiting: _waiting,
    RelayQueueExpired: _expired_notice,
}
