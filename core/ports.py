"""The ports the core needs from the outside world, as Protocols.

Storage implements `UnitOfWork` and the repositories; the bots implement `Messenger`;
payment adapters implement `PaymentGateway` (see `core/wallet/ports.py`). The core only
ever sees these shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from core.shared.audit import AuditEntry
from core.shared.messages import Event, Notice

if TYPE_CHECKING:
    from core.booking.ports import DispatchLog, OrderRepository, PolicyStore, SlotReservations
    from core.catalog.ports import (
        ApplicationRepository,
        AvailabilityRepository,
        CategoryRepository,
        FavouriteRepository,
        OfferRepository,
        ProviderRepository,
        ProviderSearch,
        VenueRepository,
    )
    from core.identity.ports import BlockRepository, LinkCodeRepository, UserRepository
    from core.notices import NoticeDeliveries
    from core.relay.pending import PendingRelayRepository
    from core.relay.ports import ConversationRepository, PairRepository, TranscriptRepository
    from core.reviews.ports import ReviewInvitationRepository, ReviewRepository
    from core.wallet.ports import LedgerRepository, PaymentRepository, WithdrawalRepository


class OutboxRecord(Protocol):
    id: int
    event: Event
    created_at: datetime


class Outbox(Protocol):
    async def add(self, event: Event, created_at: datetime) -> None: ...
    async def claim_batch(self, limit: int) -> Sequence[OutboxRecord]: ...
    async def mark_dispatched(self, record_ids: Sequence[int], at: datetime) -> None: ...


class IdempotencyKeys(Protocol):
    async def claim(self, key: str, at: datetime) -> None:
        """Record `key` in this transaction; raise AlreadyProcessed if it was seen."""
        ...


class AuditLog(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...
    async def for_entity(self, entity: str, entity_id: str) -> list[AuditEntry]: ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the block without `commit()` rolls everything back.

    Area repositories are attributes added by each area (see the area's `ports.py`).
    """

    outbox: Outbox
    idempotency: IdempotencyKeys
    audit: AuditLog
    # identity
    users: UserRepository
    link_codes: LinkCodeRepository
    blocks: BlockRepository
    # catalog
    categories: CategoryRepository
    providers: ProviderRepository
    offers: OfferRepository
    availability: AvailabilityRepository
    applications: ApplicationRepository
    venues: VenueRepository
    favourites: FavouriteRepository
    provider_search: ProviderSearch
    # reviews
    reviews: ReviewRepository
    review_invitations: ReviewInvitationRepository
    # wallet
    ledger: LedgerRepository
    payments: PaymentRepository
    withdrawals: WithdrawalRepository
    # booking
    orders: OrderRepository
    slots: SlotReservations
    dispatch: DispatchLog
    booking_policies: PolicyStore
    # notifications
    notice_deliveries: NoticeDeliveries
    # relay
    conversations: ConversationRepository
    relay_messages: TranscriptRepository
    relay_pairs: PairRepository
    relay_pending: PendingRelayRepository

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    def emit(self, event: Event) -> None:
        """Record an event that is not owned by a tracked aggregate."""
        ...
    def track(self, aggregate: Any) -> None:
        """Remember an aggregate so its recorded events reach the outbox on commit."""
        ...
    def committed_events(self) -> list[Event]:
        """Events written to the outbox by the last commit."""
        ...


@dataclass(frozen=True)
class ChannelAddress:
    """Where to reach one user on one platform."""

    platform: str  # "telegram" | "wechat"
    chat_id: str
    locale: str = "zh"
    # IANA zone the person reads times in; datetimes in a notice are shown in it.
    timezone: str = "UTC"


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    channel_message_id: str | None = None
    # "blocked" (user blocked the bot), "window_closed" (WeChat 48 h), "rate_limited", ...
    failure: str | None = None


class Messenger(Protocol):
    platform: str

    async def deliver(self, notice: Notice, address: ChannelAddress) -> DeliveryResult: ...
