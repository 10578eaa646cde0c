"""Finding someone: categories, pages of providers, filters, search, cards, favourites."""

from __future__ import annotations

from core.catalog.commands import SaveOffer, SetPresence
from core.catalog.model import OfferDraft
from core.shared.money import Money
from tests.adapters.telegram_customer.conftest import Shop, find, labels, press, say, text_of


async def test_browsing_a_category_pages_through_providers_and_a_filter_narrows_them(
    shop: Shop,
) -> None:
    for n, price in enumerate((3000, 4000, 5000, 6000, 7000, 8000, 9000)):
        await shop.provider(f"Player{n}", price=price, online=n % 2 == 0)
    ann = shop.customer()
    await say(shop, ann, "/browse")
    menu = await find(ann, "Pick a category")
    await press(ann, menu, "Game companions")
    games = await find(ann, "Game companions: pick one")
    await press(ann, games, "League of Legends")

    first = await find(ann, "League of Legends · page 1")
    listed = [label for label in labels(first) if "Player" in label]
    assert len(listed) == 5
    assert "Next ▶" in labels(first)
    await press(ann, first, "Next ▶")
    second = await find(ann, "League of Legends · page 2")
    rest = [label for label in labels(second) if "Player" in label]
    assert len(rest) == 2
    assert sorted(label.split(" · ")[0][2:] for label in listed + rest) == [
        f"Player{n}" for n in range(7)
    ]
    assert "Next ▶" not in labels(second)

    await press(ann, second, "Filters")
    filters = await find(ann, "Filters now: none")
    answer = await press(ann, filters, "≤ 50.00 CNY")
    assert answer["text"] == "Filter applied"
    narrowed = await find(ann, "League of Legends · page 1", "Filters: ≤ 50.00 CNY")
    shown = [label for label in labels(narrowed) if "Player" in label]
    assert sorted(shown) == ["⚪ Player1 · 40.00 CNY", "🟢 Player0 · 30.00 CNY",
                             "🟢 Player2 · 50.00 CNY"]
    assert "1. " in text_of(narrowed) and "4. " not in text_of(narrowed)


async def test_a_card_shows_what_changed_since_it_was_last_opened(shop: Shop) -> None:
    provider_id, _ = await shop.provider("Mei", price=6000, online=True)
    ann = shop.customer()
    await say(shop, ann, f"/start p_{provider_id}")
    card = await find(ann, "Mei", "Online now")
    assert "60.00 CNY per hour" in text_of(card) and "no ratings yet" in text_of(card)
    await press(ann, card, "Save")
    await shop.settle()

    category = shop.categories["league-of-legends"]
    await shop.runtime.bus.handle(SaveOffer(
        actor_id=provider_id, provider_id=provider_id,
        offer=OfferDraft(category_id=category.id, unit_price=Money(7500, "CNY"),
                         min_units=max(1, category.min_units)),
    ))
    await shop.runtime.bus.handle(SetPresence(actor_id=provider_id, provider_id=provider_id,
                                              presence="offline"))
    async with shop.runtime.uow_factory() as uow:  # what a first five-star review leaves
        await uow.providers.set_rating_stats(provider_id, 1, 5.0, 4.6)
        await uow.commit()

    await say(shop, ann, f"/start p_{provider_id}")
    again = await find(ann, "Mei", "Offline")
    assert "75.00 CNY per hour" in text_of(again) and "60.00 CNY" not in text_of(again)
    assert "★ 5.0 · 1 reviews" in text_of(again)
    assert "★ Saved" in labels(again)
