"""What the core tells people: events turned into Notices, planned as deliveries, and the
deliveries a channel refused, reported back as events.

Each area that wants people told about its events provides `core/<area>/notices.py` with a
function `notices_for(event) -> Sequence[Notice]` (returning nothing for events it does not
know), or `async notices_for(event, uow)` when it must look something up. `NoticeRegistry`
finds them (`load_area_notices`) and asks each in turn; a test or a new module may also
`register` a function for one event type.

The outbox relay (`app/notifications.py`) plans one `Delivery` per notice and channel
account of the recipient, keyed by (event id, recipient, notice number, platform) so a
notice is planned at most once however often its event is read, then hands each to its
platform's Messenger. A batch of events reads all its recipients in one round trip
(`recipients_of`) and inserts all its deliveries in one (`NoticeDeliveries.plan_many`).
A channel that refuses one (the person blocked the bot, the chat is gone) yields
`ReportDeliveryFailure`, whose handler closes the delivery and records `NoticeUndelivered`
in the same transaction, so a refused notice is never silently lost.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from core.shared.audit import AuditEntry
from core.shared.clock import Clock
from core.shared.errors import DomainError, NotFound
from core.shared.messages import Action, Command, Event, Notice
from core.shared.money import Money

if TYPE_CHECKING:
    from core.messagebus import Handler
    from core.ports import UnitOfWork

log = logging.getLogger(__name__)

# Areas whose `core/<area>/notices.py` is consulted, in this order.
AREAS = ("identity", "catalog", "booking", "reviews", "wallet", "relay")

# Why a channel did not take a notice. "interrupted": the sender stopped mid-delivery, so
# we cannot know whether it arrived and do not send it twice.
DELIVERY_FAILURES = frozenset(
    {"blocked", "chat_not_found", "rejected", "window_closed", "error", "interrupted"}
)


class DeliveryStatus:
    PENDING = "pending"  # planned, due at next_attempt_at
    SENDING = "sending"  # handed to a messenger; never sent a second time
    SENT = "sent"
    FAILED = "failed"


NoticeFunction = Callable[..., Sequence[Notice] | Awaitable[Sequence[Notice]]]


class NoticeRegistry:
    """Event -> the notices it causes, from every area that says something about it."""

    # Each function is kept with whether it takes the unit of work too, read from its
    # signature once (reading a signature costs more than most notice functions).

    def __init__(self) -> None:
        self._by_type: dict[type[Event], list[tuple[NoticeFunction, bool]]] = {}
        self._any: list[tuple[NoticeFunction, bool]] = []

    def register(self, event_type: type[Event], function: NoticeFunction) -> None:
        self._by_type.setdefault(event_type, []).append((function, _takes_uow(function)))

    def register_any(self, function: NoticeFunction) -> None:
        """A function that looks at every event (an area's `notices_for`)."""
        self._any.append((function, _takes_uow(function)))

    async def notices_for(self, event: Event, uow: UnitOfWork) -> list[Notice]:
        notices: list[Notice] = []
        for function, takes_uow in [*self._by_type.get(type(event), []), *self._any]:
            result = function(event, uow) if takes_uow else function(event)
            if inspect.isawaitable(result):
                result = await result
            notices.extend(result)
        return notices


def _takes_uow(function: NoticeFunction) -> bool:
    return len(inspect.signature(function).parameters) >= 2


def load_area_notices(registry: NoticeRegistry | None = None) -> NoticeRegistry:
    """A registry with every area's `notices_for` that exists in this build."""
    registry = registry or NoticeRegistry()
    for area in AREAS:
        name = f"core.{area}.notices"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:
                continue
            raise
        function = getattr(module, "notices_for", None)
        if not callable(function):
            raise TypeError(f"{name} must define notices_for(event)")
        registry.register_any(function)
    return registry


# -- deliveries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryKey:
    """One notice to one person on one platform; planned at most once."""

    event_id: str
    user_id: int
    notice_seq: int
    platform: str


@dataclass(frozen=True)
class Delivery:
    key: DeliveryKey
    chat_id: str
    locale: str
    timezone: str
    notice: Notice
    status: str = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    failure: str | None = None
    channel_message_id: str | None = None
    id: int = 0
    updated_at: datetime | None = None


class NoticeDeliveries(Protocol):
    """Storage of planned and attempted deliveries (`uow.notice_deliveries`)."""

    async def plan_many(self, deliveries: Sequence[Delivery], at: datetime) -> int:
        """Insert pending deliveries in one round trip, skipping keys already planned; how
        many were new. Ids follow the order given (a chat's notices are sent in id order)."""
        ...

    async def claim_due(self, now: datetime, limit: int) -> list[Delivery]:
        """Due pending deliveries, moved to `sending` (attempts + 1); others skip them."""
        ...

    async def mark_sent(self, sent: Mapping[int, str | None], at: datetime) -> None:
        """Delivery id -> channel message id, for deliveries the channel accepted."""
        ...

    async def retry_later(self, delivery_id: int, next_attempt_at: datetime, at: datetime) -> None: ...

    async def get(self, delivery_id: int) -> Delivery | None: ...

    async def close_failed(self, delivery_id: int, failure: str, at: datetime) -> bool:
        """Move an unfinished delivery to `failed`; False if it was already finished."""
        ...

    async def stuck_sending(self, before: datetime, limit: int) -> list[Delivery]:
        """Deliveries left in `sending` since before `before` (their sender stopped)."""
        ...

    async def of_event(self, event_id: str) -> list[Delivery]: ...

    async def of_user(self, user_id: int, limit: int = 50) -> list[Delivery]: ...


@dataclass(frozen=True)
class Recipient:
    """Where and how to reach a person: their channel accounts, language and time zone."""

    user_id: int
    locale: str
    timezone: str
    accounts: tuple[tuple[str, str], ...]  # (platform, chat_id)


async def recipients_of(uow: UnitOfWork, user_ids: Iterable[int]) -> dict[int, Recipient]:
    """The people notices for `user_ids` are for (following account merges), read in one
    round trip; an id with nobody behind it is left out."""
    ids = list(dict.fromkeys(user_ids))
    users = await uow.users.get_many(ids, follow_merges=True)
    found: dict[int, Recipient] = {}
    for user_id in ids:
        user = users.get(user_id)
        if user is not None and user.merged_into:
            user = users.get(user.merged_into)
        if user is not None:
            found[user_id] = Recipient(
                user_id=user.id,
                locale=user.locale,
                timezone=user.timezone,
                accounts=tuple((a.platform, a.chat_id) for a in user.accounts),
            )
    return found


def deliveries_for(
    event: Event,
    notices: Iterable[Notice],
    recipients: Mapping[int, Recipient],
    platforms: Iterable[str],
    now: datetime,
) -> list[Delivery]:
    """One pending delivery per notice and reachable account on a served platform.

    Notices are numbered per recipient in the order given, so planning the same event again
    produces the same keys (and storage keeps the first). A notice for someone missing from
    `recipients` is dropped (and logged).
    """
    served = set(platforms)
    counters: dict[int, int] = {}
    planned: list[Delivery] = []
    for notice in notices:
        user_id = notice.recipient_user_id
        seq = counters.get(user_id, 0)
        counters[user_id] = seq + 1
        recipient = recipients.get(user_id)
        if recipient is None:
            log.warning("notice %s for unknown user %s dropped", notice.key, user_id)
            continue
        for platform, chat_id in recipient.accounts:
            if platform not in served:
                continue
            planned.append(
                Delivery(
                    key=DeliveryKey(event.event_id, user_id, seq, platform),
                    chat_id=chat_id,
                    locale=recipient.locale,
                    timezone=recipient.timezone,
                    notice=notice,
                    next_attempt_at=now,
                )
            )
    return planned


# Wait this long before attempt n + 1 after n transient failures.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
)


def retry_delay(attempts: int) -> timedelta:
    return RETRY_DELAYS[min(max(attempts, 1), len(RETRY_DELAYS)) - 1]


# -- notices as JSON (stored with the delivery) ---------------------------------------------


def notice_to_json(notice: Notice) -> dict[str, Any]:
    return {
        "key": notice.key,
        "params": {name: _dump(value) for name, value in notice.params.items()},
        "actions": [
            {"kind": a.kind, "args": {k: _dump(v) for k, v in a.args.items()},
             "label_key": a.label_key}
            for a in notice.actions
        ],
        "dedup_key": notice.dedup_key,
    }


def notice_from_json(user_id: int, data: Mapping[str, Any]) -> Notice:
    return Notice(
        recipient_user_id=user_id,
        key=data["key"],
        params={name: _load(value) for name, value in data.get("params", {}).items()},
        actions=tuple(
            Action(a["kind"], {k: _load(v) for k, v in a.get("args", {}).items()},
                   a.get("label_key"))
            for a in data.get("actions", [])
        ),
        dedup_key=data.get("dedup_key") or "",
    )


def _dump(value: Any) -> Any:
    if isinstance(value, Money):
        return {"$money": [value.amount, value.currency]}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _load(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$money"}:
            amount, currency = value["$money"]
            return Money(int(amount), currency)
        if set(value) == {"$datetime"}:
            return datetime.fromisoformat(value["$datetime"])
        return {k: _load(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_load(v) for v in value]
    return value


# -- failures reported back -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ReportDeliveryFailure(Command):
    """A channel did not take a notice; close the delivery and record why."""

    delivery_id: int
    failure: str


@dataclass(frozen=True, kw_only=True)
class NoticeUndelivered(Event):
    """A notice did not reach a person (e.g. they blocked the bot)."""

    user_id: int
    platform: str
    chat_id: str
    failure: str
    notice_key: str
    source_event_id: str
    failed_at: datetime


async def handle_report_delivery_failure(
    cmd: ReportDeliveryFailure, uow: UnitOfWork, clock: Clock
) -> bool:
    """True when this report closed the delivery; False if it was already finished."""
    if cmd.failure not in DELIVERY_FAILURES:
        raise DomainError("error.notice.unknown_failure", failure=cmd.failure)
    now = clock.now()
    delivery = await uow.notice_deliveries.get(cmd.delivery_id)
    if delivery is None:
        raise NotFound("error.notice.unknown_delivery", delivery_id=cmd.delivery_id)
    if not await uow.notice_deliveries.close_failed(cmd.delivery_id, cmd.failure, now):
        return False
    uow.emit(
        NoticeUndelivered(
            user_id=delivery.key.user_id,
            platform=delivery.key.platform,
            chat_id=delivery.chat_id,
            failure=cmd.failure,
            notice_key=delivery.notice.key,
            source_event_id=delivery.key.event_id,
            failed_at=now,
        )
    )
    await uow.audit.add(
        AuditEntry(
            entity="user",
            entity_id=str(delivery.key.user_id),
            action="notice_undelivered",
            actor_id=cmd.actor_id,
            at=now,
            from_state=delivery.status,
            to_state=DeliveryStatus.FAILED,
            reason=cmd.failure,
            data={
                "delivery_id": cmd.delivery_id,
                "platform": delivery.key.platform,
                "chat_id": delivery.chat_id,
                "notice_key": delivery.notice.key,
                "event_id": delivery.key.event_id,
            },
        )
    )
    return True


COMMAND_HANDLERS: dict[type[Command], Handler] = {
    ReportDeliveryFailure: handle_report_delivery_failure,
}
EVENT_HANDLERS: dict[type[Event], list[Handler]] = {}

