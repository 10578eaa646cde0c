"""Commands (and read queries) of the catalog, handled in `core/catalog/handlers.py`.

`actor_id` None means the system or the admin CLI (an operator at the shell); a user acting
through a bot is checked: operators for decisions, the provider themselves for their own
profile, offers and presence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.catalog.availability import AvailabilityPlan
from core.catalog.model import OfferDraft, PricingUnit, ProfileDraft, ServiceKind
from core.catalog.onboarding import ApplicationStatus, Document
from core.catalog.search import SearchCriteria
from core.shared.messages import Command, Query

# --- categories ---


@dataclass(frozen=True, kw_only=True)
class SeedCatalog(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class AddCategory(Command):
    slug: str
    name_zh: str
    name_en: str
    kind: ServiceKind
    pricing_unit: PricingUnit
    parent_id: int | None = None
    min_units: int = 1
    commission_bps: int = 2000
    sort_order: int = 0


@dataclass(frozen=True, kw_only=True)
class EditCategory(Command):
    category_id: int
    name_zh: str | None = None
    name_en: str | None = None
    pricing_unit: PricingUnit | None = None
    min_units: int | None = None
    commission_bps: int | None = None
    active: bool | None = None
    sort_order: int | None = None


@dataclass(frozen=True, kw_only=True)
class ListCategories(Query):
    include_inactive: bool = True


# --- onboarding ---


@dataclass(frozen=True, kw_only=True)
class SubmitApplication(Command):
    user_id: int
    profile: ProfileDraft
    offers: tuple[OfferDraft, ...]
    availability: AvailabilityPlan
    documents: tuple[Document, ...]


@dataclass(frozen=True, kw_only=True)
class ApproveApplication(Command):
    application_id: int
    reason: str | None = None
    tier: int | None = None  # None: keep the provider's tier (1 for a new provider)


@dataclass(frozen=True, kw_only=True)
class RejectApplication(Command):
    application_id: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class ListApplications(Query):
    status: ApplicationStatus | None = ApplicationStatus.PENDING
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class GetApplication(Query):
    application_id: int


# --- providers ---


@dataclass(frozen=True, kw_only=True)
class GetProvider(Query):
    provider_id: int
    # Someone looking at the provider: the details then say whether they saved them.
    viewer_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class SuspendProvider(Command):
    provider_id: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReinstateProvider(Command):
    provider_id: int
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class SetPresence(Command):
    provider_id: int
    presence: str  # a Presence value; checked by the handler


@dataclass(frozen=True, kw_only=True)
class RecordProviderActivity(Command):
    """The provider did something (sent a message, pressed a button): not idle."""

    provider_id: int


@dataclass(frozen=True, kw_only=True)
class ProviderUnreachable(Command):
    """The provider's chat refuses the platform's messages (they blocked the bot): order
    cards cannot reach them, so if they are online they go offline, as the idle sweeper
    would take them. Anyone else, or a provider not online, is left as they are."""

    provider_id: int


@dataclass(frozen=True, kw_only=True)
class GoOfflineIfIdle(Command):
    """The sweeper's call: online providers silent for the idle limit go offline."""

    now: datetime
    limit: int = 500


@dataclass(frozen=True, kw_only=True)
class UpdateProfile(Command):
    provider_id: int
    profile: ProfileDraft


@dataclass(frozen=True, kw_only=True)
class SaveOffer(Command):
    provider_id: int
    offer: OfferDraft


@dataclass(frozen=True, kw_only=True)
class RemoveOffer(Command):
    provider_id: int
    offer_id: int


@dataclass(frozen=True, kw_only=True)
class SetAvailability(Command):
    provider_id: int
    availability: AvailabilityPlan


# --- venues and favourites ---


@dataclass(frozen=True, kw_only=True)
class AddVenue(Command):
    name: str
    manager_user_id: int
    share_bps: int
    address: str = ""


@dataclass(frozen=True, kw_only=True)
class EditVenue(Command):
    venue_id: int
    name: str | None = None
    manager_user_id: int | None = None
    share_bps: int | None = None
    address: str | None = None
    active: bool | None = None


@dataclass(frozen=True, kw_only=True)
class ListVenues(Query):
    pass


@dataclass(frozen=True, kw_only=True)
class AddFavourite(Command):
    customer_id: int
    provider_id: int


@dataclass(frozen=True, kw_only=True)
class RemoveFavourite(Command):
    customer_id: int
    provider_id: int


@dataclass(frozen=True, kw_only=True)
class ListFavourites(Query):
    customer_id: int


# --- search ---


@dataclass(frozen=True, kw_only=True)
class SearchProviders(Query):
    criteria: SearchCriteria
