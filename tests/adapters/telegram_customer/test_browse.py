"""Finding someone: categories, pages of providers, filters, search, cards, favourites."""

from __future__ import annotations

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
