"""The latest reviews on a provider's card: a second look reads no review, a new one shows at once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from core.identity.model import User
from tests.adapters.telegram_customer.conftest import Shop, find, say, text_of
from tests.integration.identity.helpers import register
from tests.integration.reviews.test_reviews import complete_order, review
from tests.integration.statements import statements_on


async def test_a_second_look_at_a_card_reads_no_review_and_a_new_review_shows_at_once(
    shop: Shop, engine: AsyncEngine
) -> None:
    provider_id, _ = await shop.provider("Mei", price=6000, online=True)
    async with shop.runtime.uow_factory() as uow:
        mei: User = await uow.users.get(provider_id)
    bob = await register(shop.runtime, "777001", name="Bob")
    await complete_order(shop.runtime, 41, bob, mei)
    await shop.runtime.bus.handle(review(41, bob, 4, text="Solid jungler"))
    ann = shop.customer()

    await say(shop, ann, f"/start p_{provider_id}")
    first = await find(ann, "Mei", "Solid jungler")
    cards = len(ann.bot_messages())
    with statements_on(engine) as seen:
        await say(shop, ann, f"/start p_{provider_id}")
    again = ann.bot_messages()[-1]
    assert len(ann.bot_messages()) == cards + 1
    assert text_of(again) == text_of(first) and "★★★★☆ Solid jungler — Bob" in text_of(again)
    assert not [s for s in seen if "FROM reviews" in s]

    await complete_order(shop.runtime, 42, bob, mei)
    await shop.runtime.bus.handle(review(42, bob, 5, text="Carried again", anonymous=True))
    await say(shop, ann, f"/start p_{provider_id}")
    latest = await find(ann, "Mei", "Carried again")
    assert "Latest reviews (2 in all):\n★★★★★ Carried again — anonymous\n★★★★☆ Solid jungler — Bob" in text_of(latest)
