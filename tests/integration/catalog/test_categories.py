"""The category tree: seeding is idempotent, operators add and edit, bad input changes nothing."""

from __future__ import annotations

import time

import pytest

from app.bootstrap import Runtime
from core.catalog.commands import (
    AddCategory,
    ApproveApplication,
    EditCategory,
    ListCategories,
    SearchProviders,
    SeedCatalog,
)
from core.catalog.model import Category, PricingUnit, ServiceKind
from core.catalog.search import SearchCriteria
from core.catalog.seed import DEFAULT_CATALOG
from core.shared.errors import DomainError, Forbidden
from storage.repositories import catalog as catalog_repositories
from storage.tables.catalog import categories
from tests.integration.catalog.support import application, register, seeded


async def approved_provider(runtime: Runtime, external_id: str, category: Category) -> int:
    user_id = await register(runtime, external_id)
    submitted = await runtime.bus.handle(application(user_id, category))
    await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
    return user_id


async def test_the_seed_covers_every_kind_of_work_and_a_second_run_changes_nothing(runtime: Runtime) -> None:
    first = await runtime.bus.handle(SeedCatalog())
    before = await runtime.bus.handle(ListCategories())
    second = await runtime.bus.handle(SeedCatalog())
    after = await runtime.bus.handle(ListCategories())

    assert len(first.created) == len(DEFAULT_CATALOG) and first.existing == 0
    assert second.created == () and second.existing == len(DEFAULT_CATALOG)
    assert after == before
    top = {c.slug: c for c in before if c.parent_id is None}
    assert set(top) == {"games", "errands", "home-services", "massage", "billiards"}
    assert {c.kind for c in before} == set(ServiceKind)
    by_slug = {c.slug: c for c in before}
    assert by_slug["honor-of-kings"].parent_id == by_slug["games"].id
    assert by_slug["honor-of-kings"].name_zh == "王者荣耀"
    # Parents are listed before their children.
    positions = {c.id: i for i, c in enumerate(before)}
    assert all(positions[c.parent_id] < positions[c.id] for c in before if c.parent_id)


async def test_a_reseed_keeps_an_operators_edit(runtime: Runtime) -> None:
    games = (await seeded(runtime))["games"]
    await runtime.bus.handle(EditCategory(category_id=games.id, commission_bps=1800))
    await runtime.bus.handle(SeedCatalog())
    games_now = {c.slug: c for c in await runtime.bus.handle(ListCategories())}["games"]
    assert games_now.commission_bps == 1800


async def test_an_operator_adds_a_game_under_games(runtime: Runtime) -> None:
    games = (await seeded(runtime))["games"]
    added = await runtime.bus.handle(
        AddCategory(
            slug="naraka", name_zh="永劫无间", name_en="Naraka: Bladepoint",
            kind=ServiceKind.ONLINE_SESSION, pricing_unit=PricingUnit.HOUR,
            parent_id=games.id, commission_bps=2200,
        )
    )
    listed = {c.slug: c for c in await runtime.bus.handle(ListCategories())}
    assert listed["naraka"] == added
    assert added.parent_id == games.id and added.commission_bps == 2200
    async with runtime.uow_factory() as uow:
        audit = await uow.audit.for_entity("category", str(added.id))
    assert [e.action for e in audit] == ["add"]


BAD_CATEGORIES: list[tuple[dict[str, object], str]] = [
    ({"parent_id": 999_999}, "error.category.unknown_parent"),
    ({"commission_bps": 10_001}, "error.category.invalid_commission"),
    ({"commission_bps": -1}, "error.category.invalid_commission"),
    ({"slug": "Not A Slug!"}, "error.category.invalid_slug"),
    ({"slug": "games"}, "error.category.slug_taken"),
    ({"kind": "teleportation"}, "error.category.unknown_kind"),
    ({"pricing_unit": "per_smile"}, "error.category.unknown_pricing_unit"),
    ({"name_en": "   "}, "error.catalog.text_required"),
    ({"min_units": 0}, "error.catalog.invalid_min_units"),
]


async def test_bad_categories_are_refused_and_nothing_is_added(runtime: Runtime) -> None:
    before = await seeded(runtime)
    for overrides, key in BAD_CATEGORIES:
        fields: dict[str, object] = {
            "slug": "new-thing", "name_zh": "新", "name_en": "New",
            "kind": "online_session", "pricing_unit": "hour",
        }
        fields.update(overrides)
        with pytest.raises(DomainError) as refused:
            await runtime.bus.handle(AddCategory(**fields))  # type: ignore[arg-type]
        assert refused.value.key == key, overrides
    assert {c.slug for c in await runtime.bus.handle(ListCategories())} == set(before)


async def test_editing_an_unknown_category_or_with_a_bad_commission_is_refused(runtime: Runtime) -> None:
    games = (await seeded(runtime))["games"]
    with pytest.raises(DomainError) as unknown:
        await runtime.bus.handle(EditCategory(category_id=987_654, name_en="x"))
    assert unknown.value.key == "error.category.not_found"
    with pytest.raises(DomainError) as bad:
        await runtime.bus.handle(EditCategory(category_id=games.id, name_en="Gaming", commission_bps=20_000))
    assert bad.value.key == "error.category.invalid_commission"
    unchanged = {c.slug: c for c in await runtime.bus.handle(ListCategories())}["games"]
    assert unchanged.name_en == "Game companions"


async def test_an_edit_is_audited_with_before_and_after(runtime: Runtime) -> None:
    games = (await seeded(runtime))["games"]
    edited = await runtime.bus.handle(EditCategory(category_id=games.id, name_en="Play together", active=False))
    assert edited.name_en == "Play together" and edited.active is False
    active = await runtime.bus.handle(ListCategories(include_inactive=False))
    assert "games" not in {c.slug for c in active}
    async with runtime.uow_factory() as uow:
        [entry] = await uow.audit.for_entity("category", str(games.id))
    assert entry.data["before"] == {"name_en": "Game companions", "active": True}
    assert entry.data["after"] == {"name_en": "Play together", "active": False}


async def test_only_operators_change_the_catalog(runtime: Runtime) -> None:
    customer = await register(runtime, "501")
    operator = await register(runtime, "502", "operator")
    with pytest.raises(Forbidden):
        await runtime.bus.handle(SeedCatalog(actor_id=customer))
    result = await runtime.bus.handle(SeedCatalog(actor_id=operator))
    assert result.created


async def test_a_closed_category_leaves_the_very_next_search_and_listing(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    provider_id = await approved_provider(runtime, "11", catalog["honor-of-kings"])
    games = SearchCriteria(category_id=catalog["games"].id)
    hits = (await runtime.bus.handle(SearchProviders(criteria=games))).hits
    assert [h.provider_id for h in hits] == [provider_id]

    await runtime.bus.handle(EditCategory(category_id=catalog["honor-of-kings"].id, active=False))
    assert (await runtime.bus.handle(SearchProviders(criteria=games))).hits == ()
    listed = {c.slug for c in await runtime.bus.handle(ListCategories(include_inactive=False))}
    assert "honor-of-kings" not in listed and "games" in listed


async def test_a_category_changed_by_another_process_is_read_again_within_the_snapshot_age(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    games = (await seeded(runtime))["games"]
    async with runtime.uow_factory() as uow:  # as another process would: straight to the table
        await uow.connection.execute(
            categories.update().where(categories.c.id == games.id).values(name_en="Play")
        )
        await uow.commit()
    clock = time.monotonic() + catalog_repositories.CATEGORY_SNAPSHOT_SECONDS + 1
    monkeypatch.setattr(catalog_repositories.time, "monotonic", lambda: clock)
    listed = {c.slug: c for c in await runtime.bus.handle(ListCategories())}
    assert listed["games"].name_en == "Play"
