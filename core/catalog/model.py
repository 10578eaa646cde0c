"""The catalog's things: categories, provider profiles, offers, venues and their validation.

A provider's id IS their user id: a `ProviderProfile` exists once an operator approved an
application (see `core/catalog/onboarding.py`) and is keyed by `user_id`. Prices are integer
minor units; every unit price is positive and below a sane per-currency ceiling
(`MAX_UNIT_PRICE`), so a typo such as an extra three zeros is refused, not published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.catalog.events import ProviderPresenceChanged, ProviderReinstated, ProviderSuspended
from core.catalog.ranking import DEFAULT_COMPLETION_RATE, DEFAULT_RESPONSE_TIME_S, PRIOR_MEAN
from core.shared.aggregate import Aggregate
from core.shared.errors import DomainError
from core.shared.money import BASIS_POINTS, Money


class ServiceKind(StrEnum):
    ONLINE_SESSION = "online_session"  # game companions: played together online
    ON_SITE = "on_site"  # cleaning, repair, beauty, massage: the provider comes to you
    ERRAND = "errand"  # buy, deliver, queue: the provider moves things around town
    VENUE_LESSON = "venue_lesson"  # billiards coaching in a hall


# Work that happens at the customer's place needs a service area (location and radius).
LOCAL_KINDS = frozenset({ServiceKind.ON_SITE, ServiceKind.ERRAND})
# Work where a certificate (health, trade, coaching) is asked for at onboarding.
CERTIFIED_KINDS = frozenset({ServiceKind.ON_SITE, ServiceKind.VENUE_LESSON})


class PricingUnit(StrEnum):
    HOUR = "hour"
    ROUND = "round"  # one game / match
    SESSION = "session"  # one visit or lesson, whatever its length
    BASE_PER_KM = "base_per_km"  # errands: a base price plus a price per kilometre


class ProviderStatus(StrEnum):
    APPROVED = "approved"
    SUSPENDED = "suspended"


class Presence(StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"
    VACATION = "vacation"


# The most a single unit may cost, per currency, in minor units: ¥10,000 / $1,500 / 100k Stars.
MAX_UNIT_PRICE: dict[str, int] = {"CNY": 1_000_000, "USD": 150_000, "XTR": 100_000}
MAX_MIN_UNITS = 100
MAX_TIER = 5
MAX_TAGS = 20
MAX_TAG_LENGTH = 24
MAX_PHOTOS = 9
MAX_FILE_REF_LENGTH = 255
MAX_NAME_LENGTH = 32
MAX_BIO_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 500
MAX_SERVICE_RADIUS_KM = 100

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DomainError("error.catalog.invalid_timezone", timezone=name) from exc
    return name


def check_unit_price(price: Money) -> Money:
    if price.amount <= 0:
        raise DomainError("error.offer.price_not_positive", price=price.format())
    ceiling = Money(MAX_UNIT_PRICE.get(price.currency, 0), price.currency)
    if price.amount > ceiling.amount:
        raise DomainError("error.offer.price_too_high", price=price.format(), maximum=ceiling.format())
    return price


def check_commission(commission_bps: int) -> int:
    if not 0 <= commission_bps <= BASIS_POINTS:
        raise DomainError("error.category.invalid_commission", commission_bps=commission_bps)
    return commission_bps


def check_min_units(min_units: int) -> int:
    if not 1 <= min_units <= MAX_MIN_UNITS:
        raise DomainError("error.catalog.invalid_min_units", min_units=min_units, maximum=MAX_MIN_UNITS)
    return min_units


def check_text(value: str, *, what: str, maximum: int, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise DomainError("error.catalog.text_required", field=what)
    if len(value) > maximum:
        raise DomainError("error.catalog.text_too_long", field=what, maximum=maximum)
    return value


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise DomainError("error.catalog.invalid_location", lat=self.lat, lon=self.lon)


@dataclass(frozen=True, kw_only=True)
class Category:
    id: int
    slug: str
    parent_id: int | None
    kind: ServiceKind
    pricing_unit: PricingUnit
    min_units: int
    commission_bps: int
    name_zh: str
    name_en: str
    active: bool = True
    sort_order: int = 0
    version: int = 0

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


def check_slug(slug: str) -> str:
    if not SLUG_PATTERN.match(slug):
        raise DomainError("error.category.invalid_slug", slug=slug)
    return slug


def subtree_ids(categories: list[Category], root_id: int) -> set[int]:
    """`root_id` and every category below it (the tree is small: walk it in memory)."""
    children: dict[int, list[int]] = {}
    for category in categories:
        if category.parent_id is not None:
            children.setdefault(category.parent_id, []).append(category.id)
    found, stack = {root_id}, [root_id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


@dataclass(frozen=True, kw_only=True)
class Offer:
    """What a provider sells in one category: one offer per (provider, category)."""

    id: int
    provider_id: int
    category_id: int
    unit_price: Money
    min_units: int
    description: str = ""
    active: bool = True
    # Only for base-per-km pricing (errands): the price of each kilometre after the base.
    per_km_price: Money | None = None


@dataclass(frozen=True, kw_only=True)
class OfferDraft:
    """An offer as proposed in an application or by the provider, before it has an id."""

    category_id: int
    unit_price: Money
    min_units: int = 1
    description: str = ""
    per_km_price: Money | None = None

    def validated(self, category: Category) -> OfferDraft:
        if not category.active:
            raise DomainError("error.category.inactive", slug=category.slug)
        check_unit_price(self.unit_price)
        check_min_units(self.min_units)
        if self.min_units < category.min_units:
            raise DomainError(
                "error.offer.below_category_minimum",
                min_units=self.min_units,
                category_min_units=category.min_units,
            )
        if category.pricing_unit is PricingUnit.BASE_PER_KM:
            if self.per_km_price is None:
                raise DomainError("error.offer.per_km_price_required", slug=category.slug)
            check_unit_price(self.per_km_price)
            if self.per_km_price.currency != self.unit_price.currency:
                raise DomainError(
                    "error.money.currency_mismatch",
                    left=self.unit_price.currency,
                    right=self.per_km_price.currency,
                )
        elif self.per_km_price is not None:
            raise DomainError("error.offer.per_km_price_not_applicable", slug=category.slug)
        description = check_text(
            self.description, what="description", maximum=MAX_DESCRIPTION_LENGTH, required=False
        )
        return OfferDraft(
            category_id=self.category_id,
            unit_price=self.unit_price,
            min_units=self.min_units,
            description=description,
            per_km_price=self.per_km_price,
        )


def normalize_tags(tags: frozenset[str] | tuple[str, ...] | list[str]) -> frozenset[str]:
    """Tags are compared case-insensitively: stored stripped and lower-cased."""
    cleaned = frozenset(t.strip().lower() for t in tags if t.strip())
    if len(cleaned) > MAX_TAGS:
        raise DomainError("error.catalog.too_many_tags", maximum=MAX_TAGS)
    for tag in cleaned:
        if len(tag) > MAX_TAG_LENGTH:
            raise DomainError("error.catalog.tag_too_long", tag=tag, maximum=MAX_TAG_LENGTH)
        # Commas separate tags wherever a provider's tags are kept as one list.
        if "," in tag:
            raise DomainError("error.catalog.invalid_tag", tag=tag)
    return cleaned


def check_file_refs(refs: tuple[str, ...], *, what: str, maximum: int) -> tuple[str, ...]:
    if len(refs) > maximum:
        raise DomainError("error.catalog.too_many_files", field=what, maximum=maximum)
    for ref in refs:
        if not ref.strip() or len(ref) > MAX_FILE_REF_LENGTH:
            raise DomainError("error.catalog.invalid_file_ref", field=what)
    return tuple(r.strip() for r in refs)


@dataclass(frozen=True, kw_only=True)
class ProfileDraft:
    """The public profile a provider proposes (in an application) or edits."""

    display_name: str
    bio: str = ""
    photos: tuple[str, ...] = ()
    voice_intro: str | None = None
    tags: frozenset[str] = frozenset()
    location: GeoPoint | None = None
    service_radius_km: int | None = None
    venue_id: int | None = None
    timezone: str = "Asia/Shanghai"

    def validated(self) -> ProfileDraft:
        display_name = check_text(
            self.display_name, what="display_name", maximum=MAX_NAME_LENGTH, required=True
        )
        bio = check_text(self.bio, what="bio", maximum=MAX_BIO_LENGTH, required=False)
        photos = check_file_refs(self.photos, what="photos", maximum=MAX_PHOTOS)
        voice = None
        if self.voice_intro is not None:
            voice = check_file_refs((self.voice_intro,), what="voice_intro", maximum=1)[0]
        if self.service_radius_km is not None and not (
            1 <= self.service_radius_km <= MAX_SERVICE_RADIUS_KM
        ):
            raise DomainError(
                "error.catalog.invalid_radius",
                radius_km=self.service_radius_km,
                maximum=MAX_SERVICE_RADIUS_KM,
            )
        return ProfileDraft(
            display_name=display_name,
            bio=bio,
            photos=photos,
            voice_intro=voice,
            tags=normalize_tags(self.tags),
            location=self.location,
            service_radius_km=self.service_radius_km,
            venue_id=self.venue_id,
            timezone=check_timezone(self.timezone),
        )


@dataclass(kw_only=True)
class ProviderProfile(Aggregate):
    user_id: int
    display_name: str
    bio: str = ""
    photos: tuple[str, ...] = ()
    voice_intro: str | None = None
    status: ProviderStatus = ProviderStatus.APPROVED
    presence: Presence = Presence.OFFLINE
    tier: int = 1
    tags: frozenset[str] = frozenset()
    location: GeoPoint | None = None
    service_radius_km: int | None = None
    venue_id: int | None = None
    timezone: str = "Asia/Shanghai"
    rating_count: int = 0
    rating_average: float = 0.0
    rating_bayesian: float = PRIOR_MEAN
    completion_rate: float = DEFAULT_COMPLETION_RATE
    response_time_s: int = DEFAULT_RESPONSE_TIME_S
    last_active_at: datetime | None = None
    approved_at: datetime | None = None
    suspended_reason: str | None = None

    @property
    def id(self) -> int:
        return self.user_id

    @classmethod
    def from_draft(cls, user_id: int, draft: ProfileDraft, *, tier: int, at: datetime) -> ProviderProfile:
        profile = cls(user_id=user_id, display_name=draft.display_name, approved_at=at, tier=tier)
        profile.apply(draft)
        return profile

    def apply(self, draft: ProfileDraft) -> None:
        self.display_name = draft.display_name
        self.bio = draft.bio
        self.photos = draft.photos
        self.voice_intro = draft.voice_intro
        self.tags = draft.tags
        self.location = draft.location
        self.service_radius_km = draft.service_radius_km
        self.venue_id = draft.venue_id
        self.timezone = draft.timezone

    def set_tier(self, tier: int) -> None:
        if not 1 <= tier <= MAX_TIER:
            raise DomainError("error.provider.invalid_tier", tier=tier, maximum=MAX_TIER)
        self.tier = tier

    def set_presence(self, presence: Presence, now: datetime, *, automatic: bool = False) -> bool:
        """Move to `presence`; returns False (and records nothing) when already there."""
        if self.status is ProviderStatus.SUSPENDED and presence is not Presence.OFFLINE:
            raise DomainError("error.provider.suspended", provider_id=self.user_id)
        if not automatic:
            self.last_active_at = now
        if presence is self.presence:
            return False
        previous, self.presence = self.presence, presence
        self.record(
            ProviderPresenceChanged(
                provider_id=self.user_id,
                from_presence=previous.value,
                to_presence=presence.value,
                automatic=automatic,
                at=now,
            )
        )
        return True

    def touch(self, now: datetime) -> None:
        self.last_active_at = now

    def is_idle(self, now: datetime, idle_after: timedelta) -> bool:
        """Online but silent for `idle_after`: the sweeper takes such providers offline."""
        if self.presence is not Presence.ONLINE:
            return False
        return self.last_active_at is None or self.last_active_at <= now - idle_after

    def suspend(self, *, reason: str, by: int | None, at: datetime) -> None:
        if self.status is ProviderStatus.SUSPENDED:
            raise DomainError("error.provider.already_suspended", provider_id=self.user_id)
        self.status = ProviderStatus.SUSPENDED
        self.suspended_reason = reason
        # A suspended provider takes no new work: they leave search at once.
        self.presence = Presence.OFFLINE
        self.record(ProviderSuspended(provider_id=self.user_id, operator_id=by, reason=reason, at=at))

    def reinstate(self, *, reason: str | None, by: int | None, at: datetime) -> None:
        if self.status is not ProviderStatus.SUSPENDED:
            raise DomainError("error.provider.not_suspended", provider_id=self.user_id)
        self.status = ProviderStatus.APPROVED
        self.suspended_reason = None
        self.record(
            ProviderReinstated(provider_id=self.user_id, operator_id=by, reason=reason, at=at)
        )


@dataclass(frozen=True, kw_only=True)
class Venue:
    """A billiard hall: its manager sees its lessons and it takes a share of each."""

    id: int
    name: str
    manager_user_id: int
    share_bps: int
    address: str = ""
    active: bool = True
    version: int = 0


def check_share(share_bps: int) -> int:
    if not 0 <= share_bps <= BASIS_POINTS:
        raise DomainError("error.venue.invalid_share", share_bps=share_bps)
    return share_bps

