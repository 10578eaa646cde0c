"""Provider onboarding: apply, decide once, re-apply after a rejection, suspend and reinstate."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.bootstrap import Runtime
from core.catalog.commands import (
    ApproveApplication,
    GetProvider,
    ListApplications,
    ReinstateProvider,
    RejectApplication,
    SearchProviders,
    SuspendProvider,
)
from core.catalog.events import (
    ApplicationApproved,
    ApplicationRejected,
    ApplicationSubmitted,
    ProviderReinstated,
    ProviderSuspended,
)
from core.catalog.model import Presence, ProviderStatus
from core.catalog.notices import notices_for
from core.catalog.onboarding import ApplicationStatus
from core.catalog.search import SearchCriteria
from core.identity.commands import BanUser, GetUser
from core.shared.errors import DomainError, Forbidden, NotFound
from core.shared.money import Money
from tests.integration.catalog.support import PEOPLE_SQUARE, application, register, seeded


async def outbox_events(runtime: Runtime) -> list[object]:
    async with runtime.uow_factory() as uow:
        return [r.event for r in await uow.outbox.claim_batch(500)]


async def audit_of(runtime: Runtime, entity: str, entity_id: int) -> list[tuple[str, int | None, str | None]]:
    async with runtime.uow_factory() as uow:
        entries = await uow.audit.for_entity(entity, str(entity_id))
    return [(e.action, e.actor_id, e.reason) for e in entries]


async def search_ids(runtime: Runtime, **criteria: object) -> list[int]:
    page = await runtime.bus.handle(SearchProviders(criteria=SearchCriteria(**criteria)))  # type: ignore[arg-type]
    return [hit.provider_id for hit in page.hits]


async def test_an_approved_applicant_becomes_a_provider_and_appears_in_search(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    operator = await register(runtime, "1", "operator")
    applicant = await register(runtime, "2")

    submitted = await runtime.bus.handle(application(applicant, catalog["honor-of-kings"]))
    assert submitted.status is ApplicationStatus.PENDING
    pending = await runtime.bus.handle(ListApplications())
    assert [a.id for a in pending] == [submitted.id]
    assert await search_ids(runtime) == []

    profile = await runtime.bus.handle(
        ApproveApplication(actor_id=operator, application_id=submitted.id, reason="welcome", tier=2)
    )
    assert profile.user_id == applicant and profile.status is ProviderStatus.APPROVED
    assert profile.tier == 2 and profile.tags == frozenset({"rank:king", "lang:zh"})

    details = await runtime.bus.handle(GetProvider(provider_id=applicant))
    assert [(o.category_id, o.unit_price) for o in details.offers] == [
        (catalog["honor-of-kings"].id, Money(5000, "CNY"))
    ]
    assert [r.label() for r in details.schedule.rules] == ["mon 09:00-18:00", "fri 20:00-02:00"]
    user = await runtime.bus.handle(GetUser(user_id=applicant))
    assert "provider" in user.roles
    assert await search_ids(runtime, category_id=catalog["games"].id) == [applicant]
    assert await runtime.bus.handle(ListApplications()) == []

    events = await outbox_events(runtime)
    submitted_events = [e for e in events if isinstance(e, ApplicationSubmitted)]
    approved_events = [e for e in events if isinstance(e, ApplicationApproved)]
    assert [e.application_id for e in submitted_events] == [submitted.id]
    assert [(e.user_id, e.operator_id, e.reason) for e in approved_events] == [(applicant, operator, "welcome")]
    assert await audit_of(runtime, "application", submitted.id) == [
        ("submit", applicant, None),
        ("approve", operator, "welcome"),
    ]


async def test_a_second_application_while_one_is_pending_is_refused(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    applicant = await register(runtime, "2")
    first = await runtime.bus.handle(application(applicant, catalog["honor-of-kings"]))
    with pytest.raises(DomainError) as refused:
        await runtime.bus.handle(application(applicant, catalog["pubg-mobile"]))
    assert refused.value.key == "error.application.already_pending"
    assert refused.value.params == {"application_id": first.id}
    assert [a.id for a in await runtime.bus.handle(ListApplications())] == [first.id]


async def test_approving_twice_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    applicant = await register(runtime, "2")
    submitted = await runtime.bus.handle(application(applicant, catalog["honor-of-kings"]))
    await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
    with pytest.raises(DomainError) as refused:
        await runtime.bus.handle(ApproveApplication(application_id=submitted.id, tier=5))
    assert refused.value.key == "error.application.already_decided"
    with pytest.raises(DomainError):
        await runtime.bus.handle(RejectApplication(application_id=submitted.id, reason="changed my mind"))
    profile = (await runtime.bus.handle(GetProvider(provider_id=applicant))).profile
    assert profile.tier == 1
    assert [a for a, _, _ in await audit_of(runtime, "application", submitted.id)] == ["submit", "approve"]


async def test_a_rejection_needs_a_reason_and_the_applicant_can_fix_and_reapply(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    operator = await register(runtime, "1", "operator")
    applicant = await register(runtime, "2")
    first = await runtime.bus.handle(application(applicant, catalog["honor-of-kings"], price=900_000))

    for reason in ("", "   "):
        with pytest.raises(DomainError) as refused:
            await runtime.bus.handle(RejectApplication(actor_id=operator, application_id=first.id, reason=reason))
        assert refused.value.key == "error.catalog.reason_required"
    assert [a.id for a in await runtime.bus.handle(ListApplications())] == [first.id]

    rejected = await runtime.bus.handle(
        RejectApplication(actor_id=operator, application_id=first.id, reason="price is far above the market")
    )
    assert rejected.status is ApplicationStatus.REJECTED
    with pytest.raises(NotFound):
        await runtime.bus.handle(GetProvider(provider_id=applicant))

    second = await runtime.bus.handle(application(applicant, catalog["honor-of-kings"], price=4000))
    await runtime.bus.handle(ApproveApplication(actor_id=operator, application_id=second.id))
    details = await runtime.bus.handle(GetProvider(provider_id=applicant))
    assert [o.unit_price for o in details.offers] == [Money(4000, "CNY")]

    rejections = [e for e in await outbox_events(runtime) if isinstance(e, ApplicationRejected)]
    assert [(e.application_id, e.reason) for e in rejections] == [(first.id, "price is far above the market")]
    assert await audit_of(runtime, "application", first.id) == [
        ("submit", applicant, None),
        ("reject", operator, "price is far above the market"),
    ]


async def test_an_approved_update_replaces_offers_and_keeps_the_provider(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    applicant = await register(runtime, "2")
    first = await runtime.bus.handle(application(applicant, catalog["honor-of-kings"]))
    await runtime.bus.handle(ApproveApplication(application_id=first.id))
    update = await runtime.bus.handle(
        application(applicant, catalog["league-of-legends"], price=6000, name="小雨 LoL", rules=("sat 10:00-22:00",))
    )
    await runtime.bus.handle(ApproveApplication(application_id=update.id))
    details = await runtime.bus.handle(GetProvider(provider_id=applicant))
    assert details.profile.display_name == "小雨 LoL"
    assert [o.category_id for o in details.offers] == [catalog["league-of-legends"].id]
    assert [r.label() for r in details.schedule.rules] == ["sat 10:00-22:00"]
    assert await search_ids(runtime, category_id=catalog["honor-of-kings"].id) == []
    assert await search_ids(runtime, category_id=catalog["league-of-legends"].id) == [applicant]


async def test_suspension_hides_a_provider_and_reinstatement_brings_them_back(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    operator = await register(runtime, "1", "operator")
    applicant = await register(runtime, "2")
    submitted = await runtime.bus.handle(application(applicant, catalog["honor-of-kings"]))
    await runtime.bus.handle(ApproveApplication(actor_id=operator, application_id=submitted.id))

    with pytest.raises(DomainError) as no_reason:
        await runtime.bus.handle(SuspendProvider(actor_id=operator, provider_id=applicant, reason=" "))
    assert no_reason.value.key == "error.catalog.reason_required"

    suspended = await runtime.bus.handle(
        SuspendProvider(actor_id=operator, provider_id=applicant, reason="three no-shows")
    )
    assert suspended.status is ProviderStatus.SUSPENDED and suspended.presence is Presence.OFFLINE
    assert await search_ids(runtime) == []
    with pytest.raises(DomainError) as again:
        await runtime.bus.handle(SuspendProvider(actor_id=operator, provider_id=applicant, reason="x"))
    assert again.value.key == "error.provider.already_suspended"

    await runtime.bus.handle(ReinstateProvider(actor_id=operator, provider_id=applicant, reason="appeal accepted"))
    assert await search_ids(runtime) == [applicant]
    with pytest.raises(DomainError) as not_suspended:
        await runtime.bus.handle(ReinstateProvider(actor_id=operator, provider_id=applicant))
    assert not_suspended.value.key == "error.provider.not_suspended"

    events = await outbox_events(runtime)
    assert [e.reason for e in events if isinstance(e, ProviderSuspended)] == ["three no-shows"]
    assert [e.reason for e in events if isinstance(e, ProviderReinstated)] == ["appeal accepted"]
    assert await audit_of(runtime, "provider", applicant) == [
        ("suspend", operator, "three no-shows"),
        ("reinstate", operator, "appeal accepted"),
    ]


async def test_only_operators_decide(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    applicant = await register(runtime, "2")
    stranger = await register(runtime, "3")
    submitted = await runtime.bus.handle(application(applicant, catalog["honor-of-kings"]))
    for command in (
        ApproveApplication(actor_id=applicant, application_id=submitted.id),
        RejectApplication(actor_id=stranger, application_id=submitted.id, reason="no"),
        ListApplications(actor_id=stranger),
    ):
        with pytest.raises(Forbidden):
            await runtime.bus.handle(command)
    with pytest.raises(Forbidden):
        await runtime.bus.handle(application(applicant, catalog["honor-of-kings"], actor_id=stranger))


async def test_a_banned_user_cannot_apply(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    applicant = await register(runtime, "2")
    await runtime.bus.handle(
        BanUser(user_id=applicant, reason="fraud", until=runtime.clock.now() + timedelta(days=7))
    )
    with pytest.raises(DomainError) as refused:
        await runtime.bus.handle(application(applicant, catalog["honor-of-kings"]))
    assert refused.value.key == "error.user.banned"
    assert await runtime.bus.handle(ListApplications()) == []


BAD_APPLICATIONS: list[tuple[str, dict[str, object], str]] = [
    ("home-cleaning", {}, "error.provider.service_area_required"),
    ("massage-tuina", {"location": PEOPLE_SQUARE, "radius_km": 5}, "error.application.certificate_required"),
    ("honor-of-kings", {"documents": ()}, "error.application.id_photo_required"),
    ("honor-of-kings", {"price": -100}, "error.offer.price_not_positive"),
    ("honor-of-kings", {"price": 50_000_000}, "error.offer.price_too_high"),
    ("honor-of-kings", {"rules": ("mon 09:00-12:00", "mon 11:00-13:00")}, "error.availability.overlapping_rules"),
    ("honor-of-kings", {"name": ""}, "error.catalog.text_required"),
]


async def test_bad_applications_are_refused_and_leave_nothing_behind(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    applicant = await register(runtime, "2")
    for slug, overrides, key in BAD_APPLICATIONS:
        with pytest.raises(DomainError) as refused:
            await runtime.bus.handle(application(applicant, catalog[slug], **overrides))  # type: ignore[arg-type]
        assert refused.value.key == key, (slug, overrides)
    assert await runtime.bus.handle(ListApplications(status=None)) == []
    assert not any(isinstance(e, ApplicationSubmitted) for e in await outbox_events(runtime))


async def test_an_application_for_an_unknown_category_is_refused(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    applicant = await register(runtime, "2")
    ghost = replace(catalog["games"], id=424_242)
    with pytest.raises(NotFound) as refused:
        await runtime.bus.handle(application(applicant, ghost))
    assert refused.value.key == "error.category.not_found"


async def test_an_application_with_an_invalid_time_zone_is_refused(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    applicant = await register(runtime, "2")
    command = application(applicant, catalog["honor-of-kings"])
    bad = replace(command, profile=replace(command.profile, timezone="Asia/Atlantis"))
    with pytest.raises(DomainError) as refused:
        await runtime.bus.handle(bad)
    assert refused.value.key == "error.catalog.invalid_timezone"


async def test_every_active_operator_is_asked_to_review_a_new_application(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    first = await register(runtime, "1", "operator")
    second = await register(runtime, "3", "operator")
    applicant = await register(runtime, "2")
    await runtime.bus.handle(application(applicant, catalog["honor-of-kings"]))
    [submitted] = [e for e in await outbox_events(runtime) if isinstance(e, ApplicationSubmitted)]
    async with runtime.uow_factory() as uow:
        notices = await notices_for(submitted, uow)
    cards = {n.recipient_user_id: n for n in notices if n.key == "catalog.notice.application_pending"}
    assert set(cards) == {first, second}
    assert [a.kind for a in cards[first].actions][:2] == ["application.approve", "application.reject"]
    assert [n.recipient_user_id for n in notices if n.key == "catalog.notice.application_received"] == [applicant]
