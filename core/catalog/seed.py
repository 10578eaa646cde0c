"""The default catalog: every vertical Yueban serves, loaded by `SeedCatalog`.

Five kinds of work, each a top-level category with its sub-categories: game companions
(one per game), errands, home services, massage, billiards coaching. Seeding adds what is
missing by slug and never touches a category that exists, so operators' edits survive a
re-seed and running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.catalog.model import PricingUnit, ServiceKind

K, P = ServiceKind, PricingUnit


@dataclass(frozen=True)
class CategorySeed:
    slug: str
    parent_slug: str | None
    kind: ServiceKind
    pricing_unit: PricingUnit
    min_units: int
    commission_bps: int
    name_zh: str
    name_en: str


DEFAULT_CATALOG: tuple[CategorySeed, ...] = (
    # Game companions: played online, priced per hour or per round.
    CategorySeed("games", None, K.ONLINE_SESSION, P.HOUR, 1, 2000, "游戏陪玩", "Game companions"),
    CategorySeed("honor-of-kings", "games", K.ONLINE_SESSION, P.ROUND, 1, 2000, "王者荣耀", "Honor of Kings"),
    CategorySeed("pubg-mobile", "games", K.ONLINE_SESSION, P.ROUND, 1, 2000, "和平精英", "PUBG Mobile"),
    CategorySeed("league-of-legends", "games", K.ONLINE_SESSION, P.HOUR, 1, 2000, "英雄联盟", "League of Legends"),
    CategorySeed("genshin-impact", "games", K.ONLINE_SESSION, P.HOUR, 1, 2000, "原神", "Genshin Impact"),
    # Errands: a base price plus a price per kilometre; queueing is paid by the hour.
    CategorySeed("errands", None, K.ERRAND, P.BASE_PER_KM, 1, 1500, "跑腿", "Errands"),
    CategorySeed("errand-buy", "errands", K.ERRAND, P.BASE_PER_KM, 1, 1500, "代买", "Buy for me"),
    CategorySeed("errand-deliver", "errands", K.ERRAND, P.BASE_PER_KM, 1, 1500, "代送", "Deliver for me"),
    CategorySeed("errand-queue", "errands", K.ERRAND, P.HOUR, 1, 1500, "排队", "Queue for me"),
    # Home services: the provider comes to the customer.
    CategorySeed("home-services", None, K.ON_SITE, P.HOUR, 1, 1500, "上门服务", "Home services"),
    CategorySeed("home-cleaning", "home-services", K.ON_SITE, P.HOUR, 2, 1500, "保洁", "Cleaning"),
    CategorySeed("home-repair", "home-services", K.ON_SITE, P.SESSION, 1, 1500, "维修", "Repair"),
    CategorySeed("home-beauty", "home-services", K.ON_SITE, P.SESSION, 1, 1500, "美容美甲", "Beauty"),
    # Massage: on-site, by the hour.
    CategorySeed("massage", None, K.ON_SITE, P.HOUR, 1, 2000, "按摩", "Massage"),
    CategorySeed("massage-tuina", "massage", K.ON_SITE, P.HOUR, 1, 2000, "推拿", "Tui na"),
    CategorySeed("massage-foot", "massage", K.ON_SITE, P.HOUR, 1, 2000, "足疗", "Foot massage"),
    # Billiards coaching: lessons in a hall, which takes a share.
    CategorySeed("billiards", None, K.VENUE_LESSON, P.HOUR, 1, 2000, "台球陪练", "Billiards coaching"),
    CategorySeed("billiards-eight-ball", "billiards", K.VENUE_LESSON, P.HOUR, 1, 2000, "中式八球", "Chinese eight-ball"),
    CategorySeed("billiards-snooker", "billiards", K.VENUE_LESSON, P.HOUR, 1, 2000, "斯诺克", "Snooker"),
)
