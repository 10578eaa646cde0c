"""The demo world: who is in it, and seeding it through the core's own commands.

The world is every kind of work Yueban serves (the default catalog), about thirty approved
providers with generated avatars, offers, weekly hours and reviews, one billiard hall with
its coach team, the people shown side by side in the demo page (an operator, a customer, a
provider with a history and a newcomer who has not applied yet) and the customers who wrote
the reviews. Everyone is a Telegram account, so every one of them can be opened in the page.

Seeding goes through the bus exactly as the bots and the admin CLI would: providers apply
and an operator approves them; reviews are written about orders that were really booked,
paid in the sandbox, served and confirmed. That history is played on a clock set a few
weeks back, so reviews carry believable dates and the money of those orders has settled
by the time the demo opens.

Seeding is idempotent: each step first looks whether its result is already there (a
provider profile, a venue by name, a provider's number of reviews), so a second run reuses
everything and a run that was interrupted carries on where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.demo.avatars import avatar_png, document_png
from core.booking.commands import (
    AcceptOrder,
    BookOrder,
    ConfirmOrder,
    FinishOrder,
    GetCategoryPolicy,
    GetOrder,
    PayOrder,
    SetCategoryPolicy,
)
from core.booking.policy import default_policy
from core.booking.timers import sweep_due_orders
from core.catalog.availability import WEEKDAYS, AvailabilityPlan, WeeklyRule
from core.catalog.commands import (
    AddVenue,
    ApproveApplication,
    GetProvider,
    ListApplications,
    ListCategories,
    ListVenues,
    SeedCatalog,
    SetPresence,
    SubmitApplication,
)
from core.catalog.model import (
    CERTIFIED_KINDS,
    LOCAL_KINDS,
    Category,
    GeoPoint,
    OfferDraft,
    ProfileDraft,
)
from core.catalog.onboarding import ApplicationStatus, Document, DocumentKind
from core.identity.commands import GrantRole, ListUsers, RegisterFromChannel, SetLocale, UserView
from core.identity.model import Role
from core.messagebus import MessageBus
from core.relay.commands import CloseIdleConversations
from core.reviews.commands import ListProviderReviews, SubmitReview
from core.shared.clock import FixedClock
from core.shared.money import Money
from core.wallet.commands import SettleMatured

log = logging.getLogger(__name__)

# Store a picture in the chat platform: (kind, PNG bytes) -> the platform's file id.
StoreFile = Callable[[str, bytes], str]

HISTORY_DAYS = 35
MAX_LISTING = 200
HOURS_BETWEEN_ORDERS = 9
HALL_NAME = "Golden Cue Billiards Hall"
HALL_ADDRESS = "88 Nanjing West Road, Jing'an, Shanghai"
HALL_SHARE_BPS = 3000
# In the demo, earnings settle as soon as an order completes (no window for disputes), so a
# provider can try a withdrawal right after their first order.
DEMO_POLICY = {"dispute_window": 0}


@dataclass(frozen=True)
class PersonSpec:
    """A Telegram account of the demo world (the same id in every run)."""

    telegram_id: int
    first_name: str
    last_name: str = ""
    language: str = "zh"
    # The language of the page's main people follows `yueban demo --lang`.
    follows_page_language: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class OfferSpec:
    slug: str
    price: int  # minor units
    currency: str = "CNY"
    per_km: int | None = None


@dataclass(frozen=True)
class ProviderSpec:
    person: PersonSpec
    bio: str
    offers: tuple[OfferSpec, ...]
    tags: tuple[str, ...] = ()
    hours: str = "all"  # a key of HOURS
    presence: str = "online"
    area: tuple[float, float, int] | None = None  # latitude, longitude, radius in km
    coach: bool = False  # teaches at the hall
    reviews: int = 1


HOURS: dict[str, tuple[str, ...]] = {
    "all": tuple(f"{day} 00:00-24:00" for day in WEEKDAYS),
    "day": tuple(f"{day} 10:00-22:00" for day in WEEKDAYS),
    "weekdays": tuple(f"{day} 09:00-18:00" for day in WEEKDAYS[:5]),
    "evenings": tuple(f"{day} 18:00-24:00" for day in WEEKDAYS),
}


def _person(number: int, first: str, last: str = "", language: str = "zh") -> PersonSpec:
    return PersonSpec(5_000_000_000 + number, first, last, language)


# -- the people of the page -------------------------------------------------------------------

OPERATOR = PersonSpec(5_000_000_001, "Olivia", "Operator", "en", follows_page_language=True)
CUSTOMER = PersonSpec(5_000_000_002, "Ann", "", "en", follows_page_language=True)
LIN = PersonSpec(5_000_000_003, "Lin", "Yue", "en", follows_page_language=True)
NEWCOMER = PersonSpec(5_000_000_004, "Mei", "", "en", follows_page_language=True)
HALL_MANAGER = _person(5, "Zhao", "Gang")

SHANGHAI = (31.2304, 121.4737)


def _near(index: int) -> tuple[float, float, int]:
    """Spread the local providers over central Shanghai."""
    lat = SHANGHAI[0] + ((index * 37) % 11 - 5) * 0.008
    lon = SHANGHAI[1] + ((index * 53) % 13 - 6) * 0.009
    return (round(lat, 4), round(lon, 4), (5, 10, 8, 15)[index % 4])


PROVIDERS: tuple[ProviderSpec, ...] = (
    # Game companions
    ProviderSpec(LIN, "Mid-laner and patient teacher. Voice chat in Mandarin or English.",
                 (OfferSpec("league-of-legends", 6000), OfferSpec("honor-of-kings", 2500),
                  OfferSpec("genshin-impact", 300, "XTR")),
                 tags=("mid lane", "patient", "english"), reviews=4),
    ProviderSpec(_person(1001, "Chen", "Hao"), "王者荣耀国服前百打野，带你上星耀。",
                 (OfferSpec("honor-of-kings", 3000), OfferSpec("pubg-mobile", 2800)),
                 tags=("jungle", "carry"), reviews=2),
    ProviderSpec(_person(1002, "Zhou", "Xin"), "Diamond coach: replays, lanes and vision.",
                 (OfferSpec("league-of-legends", 8000),), tags=("coach", "diamond"),
                 hours="evenings", presence="offline"),
    ProviderSpec(_person(1003, "Sun", "Qi"), "原神全成就，陪你打深渊、找宝箱、聊剧情。",
                 (OfferSpec("genshin-impact", 4500),), tags=("abyss", "chill")),
    ProviderSpec(_person(1004, "Guo", "Jing"), "和平精英吃鸡专业户，枪法稳，指挥清楚。",
                 (OfferSpec("pubg-mobile", 2500),), tags=("sniper",), reviews=2),
    ProviderSpec(_person(1005, "He", "Yun"), "Support main, calm voice, no flaming ever.",
                 (OfferSpec("honor-of-kings", 3500),), tags=("support",), hours="day",
                 presence="vacation"),
    ProviderSpec(_person(1006, "Luo", "Mi"), "LOL 和原神双修，新手友好。",
                 (OfferSpec("league-of-legends", 5500), OfferSpec("genshin-impact", 5000)),
                 tags=("newbie friendly",)),
    ProviderSpec(_person(1007, "Tang", "Li"), "Squad games every evening; I call the shots.",
                 (OfferSpec("pubg-mobile", 3000), OfferSpec("honor-of-kings", 3000)),
                 hours="evenings", presence="offline"),
    # Errands
    ProviderSpec(_person(1101, "Wu", "Lei"), "电动车跑腿，市中心一小时送达。",
                 (OfferSpec("errand-deliver", 1500, per_km=200),
                  OfferSpec("errand-buy", 1200, per_km=200)),
                 area=_near(1), reviews=2),
    ProviderSpec(_person(1102, "Ma", "Jun"), "Queues for hospitals, visas and new sneakers.",
                 (OfferSpec("errand-queue", 3000),), area=_near(2), hours="day"),
    ProviderSpec(_person(1103, "Zhu", "Tao"), "帮买药、买菜、买咖啡，小票拍照给你。",
                 (OfferSpec("errand-buy", 1000, per_km=150),), area=_near(3),
                 presence="offline"),
    ProviderSpec(_person(1104, "Hu", "Bin"), "Documents and parcels across town, carefully.",
                 (OfferSpec("errand-deliver", 1800, per_km=250),), area=_near(4)),
    ProviderSpec(_person(1105, "Lu", "Na"), "排队、代买都可以，耐心细致。",
                 (OfferSpec("errand-queue", 3500), OfferSpec("errand-buy", 1200, per_km=200)),
                 area=_near(5), hours="weekdays"),
    # Home services
    ProviderSpec(_person(1201, "Wang", "Fang"), "十年家政经验，深度保洁，自带工具。",
                 (OfferSpec("home-cleaning", 5000),), area=_near(6), reviews=2),
    ProviderSpec(_person(1202, "Li", "Qiang"), "Plumbing, lights and flat-pack furniture.",
                 (OfferSpec("home-repair", 12000),), area=_near(7), hours="day"),
    ProviderSpec(_person(1203, "Zhao", "Min"), "上门美甲、美睫，款式可以先发图。",
                 (OfferSpec("home-beauty", 15000),), area=_near(8), presence="offline"),
    ProviderSpec(_person(1204, "Xu", "Ping"), "Cleaning after parties and before guests.",
                 (OfferSpec("home-cleaning", 4500),), area=_near(9), hours="weekdays"),
    ProviderSpec(_person(1205, "Feng", "Yan"), "Bridal and evening make-up at your home.",
                 (OfferSpec("home-beauty", 18000),), area=_near(10), hours="day", reviews=2),
    ProviderSpec(_person(1206, "Deng", "Hui"), "水电维修、家具安装，顺便帮你打扫。",
                 (OfferSpec("home-repair", 10000), OfferSpec("home-cleaning", 5500)),
                 area=_near(11), presence="offline"),
    # Massage
    ProviderSpec(_person(1301, "Song", "Mei"), "持证推拿师，肩颈腰背调理。",
                 (OfferSpec("massage-tuina", 16800),), area=_near(12), hours="day", reviews=2),
    ProviderSpec(_person(1302, "Han", "Bo"), "Foot massage after long days on your feet.",
                 (OfferSpec("massage-foot", 12800),), area=_near(13), hours="evenings"),
    ProviderSpec(_person(1303, "Cao", "Lan"), "推拿和足疗都做，手法轻重可调。",
                 (OfferSpec("massage-tuina", 19800), OfferSpec("massage-foot", 13800)),
                 area=_near(14), presence="offline"),
    ProviderSpec(_person(1304, "Peng", "Lin"), "Sports massage for runners and climbers.",
                 (OfferSpec("massage-foot", 11800),), area=_near(15)),
    ProviderSpec(_person(1305, "Xie", "Ning"), "中医推拿，十五年经验。",
                 (OfferSpec("massage-tuina", 15800),), area=_near(16), hours="day", reviews=2),
    # Billiards coaches of the hall
    ProviderSpec(_person(1401, "Ding", "Wei"), "中式八球省赛冠军，从握杆教起。",
                 (OfferSpec("billiards-eight-ball", 15000),), coach=True, hours="day",
                 reviews=2),
    ProviderSpec(_person(1402, "Fang", "Rui"), "Snooker: safety play, long pots, break building.",
                 (OfferSpec("billiards-snooker", 20000),), coach=True, hours="day"),
    ProviderSpec(_person(1403, "Yu", "Tian"), "八球、斯诺克都教，周末有空。",
                 (OfferSpec("billiards-eight-ball", 12000), OfferSpec("billiards-snooker", 16000)),
                 coach=True, hours="evenings", presence="offline"),
    ProviderSpec(_person(1404, "Qian", "Hao"), "Eight-ball for beginners; first lesson is fun.",
                 (OfferSpec("billiards-eight-ball", 13000),), coach=True, hours="day"),
    ProviderSpec(_person(1405, "Jiang", "Nan"), "前职业斯诺克球员，专攻走位。",
                 (OfferSpec("billiards-snooker", 22000),), coach=True, hours="day", reviews=2),
    ProviderSpec(_person(1406, "Ye", "Qing"), "Evening eight-ball practice partner.",
                 (OfferSpec("billiards-eight-ball", 10000),), coach=True, hours="evenings",
                 presence="offline"),
)

REVIEWERS: tuple[PersonSpec, ...] = (
    _person(2001, "Amy", language="en"), _person(2002, "Xiaoming"),
    _person(2003, "Ben", language="en"), _person(2004, "Lily"),
    _person(2005, "Chloe", language="en"), _person(2006, "Dawei"),
    _person(2007, "Emma", language="en"), _person(2008, "Jiahui"),
)

REVIEWS_BY_KIND: dict[str, tuple[tuple[int, str], ...]] = {
    "online_session": (
        (5, "Carried me two divisions up and explained every move. Lovely voice!"),
        (5, "超级耐心，带我上分了，下次还找你。"),
        (4, "Good games, a bit late to start but made up for it."),
        (5, "Funny and skilled, the hour flew by."),
    ),
    "errand": (
        (5, "Delivered in 40 minutes and sent photos on the way."),
        (5, "买的东西都对，小票也拍了，靠谱。"),
        (4, "Queued for two hours without a complaint."),
    ),
    "on_site": (
        (5, "Spotless kitchen, on time, very polite."),
        (5, "手法很专业，肩膀松多了。"),
        (4, "Fixed it quickly; parking made them a little late."),
        (5, "Would book again, worth every yuan."),
    ),
    "venue_lesson": (
        (5, "My break improved after one lesson. Great coach."),
        (5, "讲解清楚，纠正了我的出杆。"),
        (4, "Good drills; the hall was busy on a Saturday."),
    ),
}

ALL_PEOPLE: tuple[PersonSpec, ...] = (
    OPERATOR, CUSTOMER, LIN, NEWCOMER, HALL_MANAGER,
    *(p.person for p in PROVIDERS if p.person is not LIN), *REVIEWERS,
)


@dataclass(frozen=True)
class Person:
    """A person of the world as the demo knows them: Telegram account and Yueban user."""

    spec: PersonSpec
    user_id: int

    @property
    def telegram_id(self) -> int:
        return self.spec.telegram_id


@dataclass
class SeedReport:
    created_categories: int = 0
    providers_added: int = 0
    reviews_added: int = 0
    venue_added: bool = False
    policies_set: int = 0


@dataclass
class DemoWorld:
    """The seeded world's people, by role, for the server, the page and the walkthrough."""

    operator: Person
    customer: Person
    provider: Person
    newcomer: Person
    hall_manager: Person
    people: dict[int, Person] = field(default_factory=dict)  # by Telegram id
    # People added in the page in earlier runs, by Telegram id.
    others: dict[int, UserView] = field(default_factory=dict)
    report: SeedReport = field(default_factory=SeedReport)


class WorldSeeder:
    """Seeds the world with `bus`, whose clock is `clock` (moved through the history)."""

    def __init__(self, bus: MessageBus, clock: FixedClock, store_file: StoreFile,
                 *, page_language: str = "en",
                 progress: Callable[[str], None] | None = None) -> None:
        self.bus = bus
        self.progress = progress or (lambda step: None)
        self.clock = clock
        self.store_file = store_file
        self.page_language = page_language
        self.report = SeedReport()
        self.people: dict[int, Person] = {}
        self.categories: dict[str, Category] = {}
        self._orders = 0

    async def seed(self, now: datetime) -> DemoWorld:
        """Everything, with the history played from `HISTORY_DAYS` before `now` up to `now`.

        Each step first reads what is there in one query, so a second start costs a few
        dozen transactions: the people and their roles (one listing), the categories, the
        hall, the approved providers (one listing), the reviews (counted from the last
        provider backwards, since they are written in order).
        """
        self.clock.set(now - timedelta(days=HISTORY_DAYS))
        await self._catalog()
        known = await self._known_people()
        for spec in ALL_PEOPLE:
            await self._register(spec, known)
        await self._grant_operator(known)
        venue_id = await self._hall()
        approved = {a.user_id for a in await self.bus.handle(
            ListApplications(status=ApplicationStatus.APPROVED, limit=MAX_LISTING))}
        pending = {a.user_id: a.id for a in await self.bus.handle(
            ListApplications(status=ApplicationStatus.PENDING, limit=MAX_LISTING))}
        for spec in PROVIDERS:
            if self.people[spec.person.telegram_id].user_id not in approved:
                await self._provider(spec, venue_id, pending)
        if self.report.providers_added:
            self.progress("seeded_providers")
        for index in range(await self._first_without_reviews(), len(PROVIDERS)):
            await self._reviews(index, PROVIDERS[index])
        if self.report.reviews_added:
            self.progress("seeded_reviews")
        # Back to the present: what the history left due (settling its money) happens now.
        self.clock.set(now)
        await sweep_due_orders(self.bus, now, batch=1000)
        await self.bus.handle(SettleMatured(now=now, limit=10_000))
        await self.bus.handle(CloseIdleConversations(now=now, limit=5000))
        await self.refresh(now, known)
        return DemoWorld(
            operator=self.people[OPERATOR.telegram_id],
            customer=self.people[CUSTOMER.telegram_id],
            provider=self.people[LIN.telegram_id],
            newcomer=self.people[NEWCOMER.telegram_id],
            hall_manager=self.people[HALL_MANAGER.telegram_id],
            people=dict(self.people),
            others={tid: view for tid, view in known.items() if tid not in self.people},
            report=self.report,
        )

    async def refresh(self, now: datetime, known: dict[int, UserView]) -> None:
        """What every start does: the page's people speak the page's language, and the
        providers are online, offline or away as the world says (an idle online provider
        would otherwise have been taken offline since the last run)."""
        self.clock.set(now)
        for spec in ALL_PEOPLE:
            person = self.people[spec.telegram_id]
            view = known.get(spec.telegram_id)
            if spec.follows_page_language and (view is None or view.locale != self.page_language):
                await self.bus.handle(SetLocale(user_id=person.user_id, locale=self.page_language,
                                                actor_id=person.user_id))
        for spec in PROVIDERS:
            person = self.people[spec.person.telegram_id]
            await self.bus.handle(SetPresence(provider_id=person.user_id, presence=spec.presence))

    async def _known_people(self) -> dict[int, UserView]:
        """Everyone with a Telegram account already, by Telegram id."""
        known: dict[int, UserView] = {}
        offset = 0
        while True:
            page = await self.bus.handle(ListUsers(limit=MAX_LISTING, offset=offset))
            for user in page.users:
                for account in user.accounts:
                    if account.platform == "telegram" and account.external_id.isdigit():
                        known[int(account.external_id)] = user
            offset += len(page.users)
            if not page.users or offset >= page.total:
                return known

    async def _first_without_reviews(self) -> int:
        """Reviews are written provider by provider: the first one still missing some."""
        for index in range(len(PROVIDERS) - 1, -1, -1):
            spec = PROVIDERS[index]
            provider = self.people[spec.person.telegram_id]
            page = await self.bus.handle(ListProviderReviews(provider_id=provider.user_id,
                                                             limit=1))
            if page.total >= spec.reviews:
                return index + 1
        return 0

    # -- steps ----------------------------------------------------------------------------

    async def _catalog(self) -> None:
        seeded = await self.bus.handle(SeedCatalog())
        self.report.created_categories = len(seeded.created)
        if seeded.created:
            self.progress("seeding")
        categories: list[Category] = await self.bus.handle(ListCategories())
        self.categories = {c.slug: c for c in categories}
        # Policies are given in catalogue order: when the last category has one, all have.
        if not categories or not await self._default_policy(categories[-1]):
            return
        for category in categories:
            # Only a category nobody has given a policy of its own gets the demo's.
            if await self._default_policy(category):
                await self.bus.handle(SetCategoryPolicy(category_id=category.id,
                                                        overrides=dict(DEMO_POLICY)))
                self.report.policies_set += 1

    async def _default_policy(self, category: Category) -> bool:
        policy = await self.bus.handle(GetCategoryPolicy(category_id=category.id))
        return bool(policy == default_policy(category.kind))

    async def _register(self, spec: PersonSpec, known: dict[int, UserView]) -> Person:
        if spec.telegram_id in known:
            person = Person(spec, known[spec.telegram_id].id)
            self.people[spec.telegram_id] = person
            return person
        language = self.page_language if spec.follows_page_language else spec.language
        user = await self.bus.handle(RegisterFromChannel(
            platform="telegram", external_id=str(spec.telegram_id), chat_id=str(spec.telegram_id),
            display_name=spec.full_name, language_code=language,
        ))
        person = Person(spec, int(user.id))
        self.people[spec.telegram_id] = person
        return person

    async def _grant_operator(self, known: dict[int, UserView]) -> None:
        operator = self.people[OPERATOR.telegram_id]
        view = known.get(OPERATOR.telegram_id)
        if view is None or Role.OPERATOR.value not in view.roles:
            await self.bus.handle(GrantRole(user_id=operator.user_id, role=Role.OPERATOR.value,
                                            reason="demo world operator"))

    async def _hall(self) -> int:
        for venue in await self.bus.handle(ListVenues()):
            if venue.name == HALL_NAME:
                return int(venue.id)
        venue = await self.bus.handle(AddVenue(
            name=HALL_NAME, manager_user_id=self.people[HALL_MANAGER.telegram_id].user_id,
            share_bps=HALL_SHARE_BPS, address=HALL_ADDRESS,
        ))
        self.report.venue_added = True
        return int(venue.id)

    async def _provider(self, spec: ProviderSpec, venue_id: int, pending: dict[int, int]) -> None:
        person = self.people[spec.person.telegram_id]
        application_id = pending.get(person.user_id)
        if application_id is None:
            application_id = await self._apply(spec, person, venue_id)
        await self.bus.handle(ApproveApplication(application_id=application_id,
                                                 reason="demo world"))
        self.report.providers_added += 1
        self.clock.advance(timedelta(minutes=37))

    async def _apply(self, spec: ProviderSpec, person: Person, venue_id: int) -> int:
        name = spec.person.full_name
        avatar = self.store_file("photo", avatar_png(name))
        offers = []
        kinds = set()
        for offer in spec.offers:
            category = self.categories[offer.slug]
            kinds.add(category.kind)
            offers.append(OfferDraft(
                category_id=category.id, unit_price=Money(offer.price, offer.currency),
                min_units=category.min_units,
                per_km_price=Money(offer.per_km, offer.currency) if offer.per_km else None,
            ))
        documents = [Document(DocumentKind.ID_PHOTO,
                              "photo:" + self.store_file("photo", document_png("ID CARD", name)))]
        if kinds & CERTIFIED_KINDS:
            documents.append(Document(DocumentKind.CERTIFICATE, "photo:" + self.store_file(
                "photo", document_png("CERTIFICATE", name))))
        local = bool(kinds & LOCAL_KINDS)
        area = spec.area or _near(spec.person.telegram_id)
        application = await self.bus.handle(SubmitApplication(
            user_id=person.user_id, actor_id=person.user_id,
            profile=ProfileDraft(
                display_name=name, bio=spec.bio, photos=(avatar,), tags=frozenset(spec.tags),
                location=GeoPoint(area[0], area[1]) if local else None,
                service_radius_km=area[2] if local else None,
                venue_id=venue_id if spec.coach else None,
            ),
            offers=tuple(offers),
            availability=AvailabilityPlan(
                rules=tuple(WeeklyRule.parse(rule) for rule in HOURS[spec.hours])),
            documents=tuple(documents),
        ))
        return int(application.id)

    async def _reviews(self, index: int, spec: ProviderSpec) -> None:
        provider = self.people[spec.person.telegram_id]
        page = await self.bus.handle(ListProviderReviews(provider_id=provider.user_id, limit=1))
        missing = spec.reviews - page.total
        if missing <= 0:
            return
        details = await self.bus.handle(GetProvider(provider_id=provider.user_id))
        # An order "now" needs the provider online at that moment of the history.
        await self.bus.handle(SetPresence(provider_id=provider.user_id, presence="online"))
        for number in range(page.total, spec.reviews):
            offer = details.offers[number % len(details.offers)]
            reviewer = self.people[REVIEWERS[(index + number) % len(REVIEWERS)].telegram_id]
            category = next(c for c in self.categories.values() if c.id == offer.category_id)
            pool = REVIEWS_BY_KIND[category.kind.value]
            rating, text = pool[(index + number) % len(pool)]
            await self._served_order(provider, reviewer, offer.id, category, rating, text)
            self.report.reviews_added += 1

    async def _served_order(self, provider: Person, customer: Person, offer_id: int,
                            category: Category, rating: int, text: str) -> None:
        self._orders += 1
        self.clock.advance(timedelta(hours=HOURS_BETWEEN_ORDERS, minutes=self._orders * 7 % 60))
        local = category.kind in LOCAL_KINDS
        order = await self.bus.handle(BookOrder(
            offer_id=offer_id, units=category.min_units, actor_id=customer.user_id,
            address="1 People's Square, Shanghai" if local else None,
        ))
        await self.bus.handle(PayOrder(order_id=order.id, method="sandbox",
                                       payment_ref=f"demo-history-{order.id}",
                                       actor_id=customer.user_id))
        self.clock.advance(timedelta(minutes=3))
        await self.bus.handle(AcceptOrder(order_id=order.id, actor_id=provider.user_id))
        self.clock.advance(timedelta(minutes=55 * category.min_units))
        code = None
        if category.kind.value == "errand":  # an errand ends with the customer's code
            code = (await self.bus.handle(GetOrder(order_id=order.id))).order.delivery_code
        await self.bus.handle(FinishOrder(order_id=order.id, delivery_code=code,
                                          actor_id=provider.user_id))
        self.clock.advance(timedelta(minutes=20))
        await self.bus.handle(ConfirmOrder(order_id=order.id, actor_id=customer.user_id))
        self.clock.advance(timedelta(minutes=30))
        await self.bus.handle(SubmitReview(order_id=order.id, reviewer_id=customer.user_id,
                                           rating=rating, text=text, actor_id=customer.user_id))
