"""Building blocks for catalog integration tests: people, the seeded catalog, applications."""

from __future__ import annotations

from datetime import date

from app.bootstrap import Runtime
from core.catalog.availability import AvailabilityPlan, WeeklyRule
from core.catalog.commands import ListCategories, SeedCatalog, SubmitApplication
from core.catalog.model import Category, GeoPoint, OfferDraft, ProfileDraft
from core.catalog.onboarding import Document, DocumentKind
from core.identity.commands import GrantRole, RegisterFromChannel
from core.shared.money import Money

PEOPLE_SQUARE = GeoPoint(31.2304, 121.4737)  # Shanghai
CERTIFIED = (DocumentKind.ID_PHOTO, DocumentKind.CERTIFICATE)


async def register(runtime: Runtime, external_id: str, *roles: str, name: str = "") -> int:
    user = await runtime.bus.handle(
        RegisterFromChannel(
            platform="telegram",
            external_id=external_id,
            chat_id=external_id,
            display_name=name or f"user {external_id}",
            language_code="zh",
        )
    )
    for role in roles:
        await runtime.bus.handle(GrantRole(user_id=user.id, role=role))
    return int(user.id)


async def seeded(runtime: Runtime) -> dict[str, Category]:
    await runtime.bus.handle(SeedCatalog())
    return {c.slug: c for c in await runtime.bus.handle(ListCategories())}


def application(
    user_id: int,
    category: Category,
    *,
    price: int = 5000,
    name: str = "小雨",
    tags: frozenset[str] = frozenset({"rank:king", "lang:zh"}),
    rules: tuple[str, ...] = ("mon 09:00-18:00", "fri 20:00-02:00"),
    documents: tuple[DocumentKind, ...] = (DocumentKind.ID_PHOTO,),
    location: GeoPoint | None = None,
    radius_km: int | None = None,
    blocked: frozenset[date] = frozenset(),
    venue_id: int | None = None,
    actor_id: int | None = None,
) -> SubmitApplication:
    return SubmitApplication(
        actor_id=actor_id if actor_id is not None else user_id,
        user_id=user_id,
        profile=ProfileDraft(
            display_name=name,
            bio="国服王者，耐心带飞",
            photos=("tg:photo:abc",),
            voice_intro="tg:voice:xyz",
            tags=tags,
            location=location,
            service_radius_km=radius_km,
            venue_id=venue_id,
        ),
        offers=(
            OfferDraft(
                category_id=category.id,
                unit_price=Money(price, "CNY"),
                min_units=max(1, category.min_units),
                description="一局起",
            ),
        ),
        availability=AvailabilityPlan(
            rules=tuple(WeeklyRule.parse(r) for r in rules), blocked_dates=blocked
        ),
        documents=tuple(Document(kind, f"tg:doc:{kind.value}") for kind in documents),
    )
