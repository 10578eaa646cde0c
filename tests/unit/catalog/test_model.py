"""Offers, profiles and presence: what is refused, and what a provider's state allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.catalog.events import ProviderPresenceChanged, ProviderSuspended
from core.catalog.guards import ensure_bookable
from core.catalog.model import (
    Category,
    GeoPoint,
    OfferDraft,
    Presence,
    PricingUnit,
    ProfileDraft,
    ProviderProfile,
    ProviderStatus,
    ServiceKind,
    subtree_ids,
)
from core.shared.errors import DomainError
from core.shared.money import Money

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def category(**overrides: object) -> Category:
    fields: dict[str, object] = {
        "id": 2, "slug": "honor-of-kings", "parent_id": 1, "kind": ServiceKind.ONLINE_SESSION,
        "pricing_unit": PricingUnit.ROUND, "min_units": 2, "commission_bps": 2000,
        "name_zh": "王者荣耀", "name_en": "Honor of Kings",
    }
    fields.update(overrides)
    return Category(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("price", "key"),
    [
        (Money(0, "CNY"), "error.offer.price_not_positive"),
        (Money(-500, "CNY"), "error.offer.price_not_positive"),
        (Money(1_000_001, "CNY"), "error.offer.price_too_high"),
        (Money(100_001, "XTR"), "error.offer.price_too_high"),
    ],
)
def test_negative_zero_and_absurd_prices_are_refused(price: Money, key: str) -> None:
    with pytest.raises(DomainError) as refused:
        OfferDraft(category_id=2, unit_price=price, min_units=2).validated(category())
    assert refused.value.key == key


def test_the_ceiling_itself_is_a_valid_price() -> None:
    draft = OfferDraft(category_id=2, unit_price=Money(1_000_000, "CNY"), min_units=2)
    assert draft.validated(category()).unit_price == Money(1_000_000, "CNY")


def test_an_offer_cannot_go_below_the_categorys_minimum_units() -> None:
    with pytest.raises(DomainError) as refused:
        OfferDraft(category_id=2, unit_price=Money(3000, "CNY"), min_units=1).validated(category())
    assert refused.value.key == "error.offer.below_category_minimum"


def test_an_inactive_category_takes_no_offers() -> None:
    with pytest.raises(DomainError) as refused:
        OfferDraft(category_id=2, unit_price=Money(3000, "CNY"), min_units=2).validated(
            category(active=False)
        )
    assert refused.value.key == "error.category.inactive"


def test_per_km_pricing_needs_a_per_km_price_and_only_there() -> None:
    errand = category(slug="errand-buy", kind=ServiceKind.ERRAND, pricing_unit=PricingUnit.BASE_PER_KM, min_units=1)
    with pytest.raises(DomainError) as missing:
        OfferDraft(category_id=2, unit_price=Money(800, "CNY")).validated(errand)
    assert missing.value.key == "error.offer.per_km_price_required"
    ok = OfferDraft(category_id=2, unit_price=Money(800, "CNY"), per_km_price=Money(200, "CNY"))
    assert ok.validated(errand).per_km_price == Money(200, "CNY")
    with pytest.raises(DomainError) as misplaced:
        OfferDraft(
            category_id=2, unit_price=Money(800, "CNY"), min_units=2, per_km_price=Money(200, "CNY")
        ).validated(category())
    assert misplaced.value.key == "error.offer.per_km_price_not_applicable"


def test_profiles_are_cleaned_and_checked() -> None:
    draft = ProfileDraft(display_name="  小雨 ", tags=frozenset({" Rank:King ", "LANG:zh"})).validated()
    assert draft.display_name == "小雨"
    assert draft.tags == frozenset({"rank:king", "lang:zh"})
    for bad, key in [
        (ProfileDraft(display_name="  "), "error.catalog.text_required"),
        (ProfileDraft(display_name="x", timezone="Moon/Base"), "error.catalog.invalid_timezone"),
        (ProfileDraft(display_name="x", service_radius_km=500), "error.catalog.invalid_radius"),
        (ProfileDraft(display_name="x", photos=("a",) * 10), "error.catalog.too_many_files"),
        (ProfileDraft(display_name="x", tags=frozenset(f"t{i}" for i in range(21))), "error.catalog.too_many_tags"),
    ]:
        with pytest.raises(DomainError) as refused:
            bad.validated()
        assert refused.value.key == key


def test_a_place_off_the_globe_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        GeoPoint(95.0, 10.0)
    assert refused.value.key == "error.catalog.invalid_location"


def test_a_category_subtree_includes_grandchildren_but_not_siblings() -> None:
    tree = [
        category(id=1, parent_id=None, slug="games"),
        category(id=2, parent_id=1),
        category(id=3, parent_id=2, slug="hok-ranked"),
        category(id=4, parent_id=None, slug="errands"),
    ]
    assert subtree_ids(tree, 1) == {1, 2, 3}
    assert subtree_ids(tree, 4) == {4}


def provider() -> ProviderProfile:
    return ProviderProfile(user_id=9, display_name="小雨", approved_at=NOW)


def test_presence_changes_are_recorded_once() -> None:
    profile = provider()
    assert profile.set_presence(Presence.ONLINE, NOW) is True
    assert profile.set_presence(Presence.ONLINE, NOW) is False
    assert [type(e) for e in profile.events] == [ProviderPresenceChanged]
    assert profile.last_active_at == NOW


def test_an_online_provider_goes_idle_after_the_limit() -> None:
    profile = provider()
    profile.set_presence(Presence.ONLINE, NOW)
    assert not profile.is_idle(NOW + timedelta(minutes=29), timedelta(minutes=30))
    assert profile.is_idle(NOW + timedelta(minutes=30), timedelta(minutes=30))
    profile.set_presence(Presence.BUSY, NOW)
    assert not profile.is_idle(NOW + timedelta(hours=5), timedelta(minutes=30))


def test_a_suspended_provider_is_offline_cannot_go_online_and_is_not_bookable() -> None:
    profile = provider()
    profile.set_presence(Presence.ONLINE, NOW)
    profile.suspend(reason="no-shows", by=1, at=NOW)
    assert profile.presence is Presence.OFFLINE
    assert isinstance(profile.events[-1], ProviderSuspended)
    with pytest.raises(DomainError) as refused:
        profile.set_presence(Presence.ONLINE, NOW)
    assert refused.value.key == "error.provider.suspended"
    with pytest.raises(DomainError):
        ensure_bookable(profile)
    with pytest.raises(DomainError) as twice:
        profile.suspend(reason="again", by=1, at=NOW)
    assert twice.value.key == "error.provider.already_suspended"
    profile.reinstate(reason=None, by=1, at=NOW)
    assert profile.status is ProviderStatus.APPROVED
    ensure_bookable(profile)


def test_a_provider_on_vacation_is_not_bookable() -> None:
    profile = provider()
    profile.set_presence(Presence.VACATION, NOW)
    with pytest.raises(DomainError) as refused:
        ensure_bookable(profile)
    assert refused.value.key == "error.provider.on_vacation"
