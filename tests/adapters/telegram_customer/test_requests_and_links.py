"""Open requests published in chat and watched through their waves; the links people share
(`/start p_…`, `r_…`, `e_…`); search by words; near me; favourites; and the draft of a
booking kept in Redis."""

from __future__ import annotations

import pytest
from aiogram.types import BufferedInputFile

from bots.i18n import gettext
from bots.telegram.standin import media
from core.booking.ports import OrderFilter
from core.booking.states import OrderState
from core.catalog.commands import ListFavourites
from core.catalog.model import GeoPoint
from core.shared.money import Money
from tests.adapters.telegram_customer.conftest import Shop, find, labels, press, say

PEOPLE_SQUARE = GeoPoint(31.2304, 121.4737)
HONGQIAO = GeoPoint(31.1979, 121.3363)  # about 13 km west


async def test_an_open_request_is_published_paid_and_watched_through_its_waves(
    shop: Shop,
) -> None:
    xiaoyu, _ = await shop.provider("Xiaoyu", online=True)
    ann = shop.customer()
    await say(shop, ann, "/request")
    await press(ann, await find(ann, "Publish an open request"), "Game companions")
    await press(ann, await find(ann, "Publish an open request"), "League of Legends")
    await press(ann, await find(ann, "League of Legends: how many?"), "2 hour(s)")
    when = await find(ann, "When? Tap ⚡ Now")
    assert "⚡ Now" in labels(when)
    await press(ann, when, "Now")
    await find(ann, "What is your budget per hour(s)?")
    await say(shop, ann, "eighty")
    await find(ann, "Please send one positive amount")
    await say(shop, ann, "80")
    await press(ann, await find(ann, "Anything the provider should know?"), "Skip")
    summary = await find(ann, "Please check your open request:")
    assert "Budget: 160.00 CNY (80.00 CNY each)" in summary["text"]
    await press(ann, summary, "Confirm")
    menu = await find(ann, "How would you like to pay?")
    await press(ann, menu, "Test payment")
    await find(ann, "is paid (160.00 CNY)")

    # Xiaoyu, online and qualified, is offered the request.
    await find(shop.people[xiaoyu], "80.00 CNY")
    await say(shop, ann, "/orders")
    await press(ann, await find(ann, "Your orders"), "YB")
    card = await find(ann, "Open request, wave")
    assert "waiting for the provider" in card["text"]
    assert labels(card)[:3] == ["⬆ Offer more", "🔄 Refresh", "✖ Cancel the order"]
    await press(ann, card, "Offer more")
    raise_menu = await find(ann, "offer more to reach more providers")
    await press(ann, raise_menu, "+10% 16.00 CNY")
    await press(ann, await find(ann, "Offer 16.00 CNY more"), "Test payment")
    await find(ann, "your higher offer (16.00 CNY more)")
    customer_id = await shop.user_id(ann)
    async with shop.runtime.uow_factory() as uow:
        [order] = await uow.orders.list(OrderFilter(customer_id=customer_id))
    assert order.state is OrderState.PENDING_ACCEPTANCE
    assert order.price.total == Money(17600, "CNY") and order.wave >= 1


async def test_links_open_a_card_or_say_plainly_what_does_not_exist(shop: Shop) -> None:
    xiaoyu, _ = await shop.provider("Xiaoyu", price=6000, tags=frozenset({"rank:king"}))
    ann = shop.customer()
    await say(shop, ann, f"/start p_{xiaoyu}")
    card = await find(ann, "Xiaoyu · Lv1")
    assert "• League of Legends: 60.00 CNY per hour(s) (at least 1)" in card["text"]
    assert "#rank:king" in card["text"] and "no ratings yet" in card["text"]
    assert labels(card) == ["📅 Book", "☆ Save"]

    await say(shop, ann, "/start p_999999")
    await find(ann, gettext("error.provider.not_found", "en", provider_id=999999))
    await say(shop, ann, f"/start r_{xiaoyu}")
    await find(ann, "You were invited by Xiaoyu. There is no referral reward yet")
    await say(shop, ann, "/start e_42")
    await find(ann, "Event check-in is not available yet")
    await say(shop, ann, "/start hello")
    await find(ann, "This link does not work.")


async def test_search_by_words_finds_categories_and_tagged_providers(shop: Shop) -> None:
    await shop.provider("Xiaoyu", tags=frozenset({"support"}))
    ann = shop.customer()
    await say(shop, ann, "/search")
    await find(ann, "What are you looking for? Send a few words")
    await say(shop, ann, "legends")
    found = await find(ann, "Results for “legends”")
    assert labels(found) == ["📂 League of Legends"]
    await say(shop, ann, "/search support")
    tagged = await find(ann, "Results for “support”")
    assert labels(tagged) == ["⚪ Xiaoyu · 60.00 CNY"]
    await say(shop, ann, "/search knitting")
    await find(ann, "Nothing found for “knitting”")


async def test_near_me_uses_a_shared_location_and_favourites_are_kept(shop: Shop) -> None:
    near, _ = await shop.provider("Near", "home-cleaning", location=PEOPLE_SQUARE, radius_km=5)
    await shop.provider("Far", "home-cleaning", location=HONGQIAO, radius_km=5)
    ann = shop.customer()
    await say(shop, ann, "/browse")
    await press(ann, await find(ann, "Pick a category"), "Home services")
    await press(ann, await find(ann, "Home services: pick one"), "Cleaning")
    listed = await find(ann, "Cleaning · page 1")
    assert sorted(label for label in labels(listed) if "·" in label) == [
        "⚪ Far · 60.00 CNY", "⚪ Near · 60.00 CNY"]
    await press(ann, listed, "Filters")
    await press(ann, await find(ann, "Filters now"), "Near me")
    await find(ann, "Share your location")
    await ann.send_location(PEOPLE_SQUARE.lat, PEOPLE_SQUARE.lon)
    await shop.settle()
    nearby = await find(ann, "Cleaning · page 1", "within 10 km of you")
    assert [label for label in labels(nearby) if "·" in label] == ["⚪ Near · 60.00 CNY"]
    assert "0.0 km" in nearby["text"]

    await press(ann, nearby, "Near")
    card = await find(ann, "Near · Lv1")
    saved = await press(ann, card, "☆ Save")
    assert saved["text"] == "Saved to your favourites."
    assert labels(ann.message(card["message_id"])) == ["📅 Book", "★ Saved"]
    customer_id = await shop.user_id(ann)
    assert await shop.runtime.bus.handle(ListFavourites(customer_id=customer_id)) == [near]
    await say(shop, ann, "/favourites")
    assert labels(await find(ann, "Your favourite providers")) == ["⚪ Near"]


async def test_the_same_screens_read_in_chinese_for_a_chinese_client(shop: Shop) -> None:
    xiaoyu, _ = await shop.provider("小雨")
    mei = shop.customer("美美", "zh-hans")
    await say(shop, mei, "/browse")
    menu = await find(mei, "想找什么服务？请选择分类：")
    assert "游戏陪玩" in labels(menu)
    await press(mei, menu, "游戏陪玩")
    await press(mei, await find(mei, "游戏陪玩：请选择"), "英雄联盟")
    listed = await find(mei, "英雄联盟 · 第 1 页")
    assert "筛选：无" in listed["text"]
    assert "⚪ 小雨 · 60.00 CNY" in labels(listed)
    await say(shop, mei, "/orders")
    await find(mei, "你还没有订单。")
    await say(shop, mei, f"/start p_{xiaoyu}")
    card = await find(mei, "服务项目：")
    assert "• 英雄联盟：每小时 60.00 CNY（至少 1）" in card["text"]
    assert labels(card) == ["📅 预约", "☆ 收藏"]


@pytest.mark.redis
async def test_a_booking_draft_lives_in_redis_when_redis_is_configured(redis_shop: Shop) -> None:
    shop = redis_shop
    xiaoyu, _ = await shop.provider("Xiaoyu")
    ann = shop.customer()
    await say(shop, ann, f"/start p_{xiaoyu}")
    await press(ann, await find(ann, "Services:"), "Book")
    await press(ann, await find(ann, "How many?"), "1 hour(s)")
    await press(ann, await find(ann, "Pick a day"), "12")
    await press(ann, await find(ann, "pick a start time"), "11:00")
    await find(ann, "Anything the provider should know?")
    storage = shop.bot.service.dispatcher.storage
    key = next(k for k in await _fsm_keys(shop) if k.endswith(":data"))
    assert b"cust_draft" in (await storage.redis.get(key))  # type: ignore[attr-defined]
    await say(shop, ann, "Ranked games please")
    summary = await find(ann, "Please check your booking:")
    assert "Notes: Ranked games please" in summary["text"]
    await press(ann, summary, "Confirm")
    await find(ann, "How would you like to pay?")


async def _fsm_keys(shop: Shop) -> list[str]:
    storage = shop.bot.service.dispatcher.storage
    redis = storage.redis  # type: ignore[attr-defined]
    return [k.decode() async for k in redis.scan_iter("*:fsm:*")]


async def test_a_card_shows_the_providers_photo_and_falls_back_to_text_for_an_unknown_one(
    shop: Shop,
) -> None:
    ann = shop.customer()
    await say(shop, ann, "/start")
    uploaded = await shop.bot.service.bot.send_photo(
        ann.chat_id, BufferedInputFile(media.make_png(640, 480), "me.png"))
    assert uploaded.photo is not None
    pictured, _ = await shop.provider("Pictured", photos=(uploaded.photo[-1].file_id,))
    unknown, _ = await shop.provider("Elsewhere", photos=("wx:media:abc",))

    await say(shop, ann, f"/start p_{pictured}")
    card = await find(ann, "Pictured · Lv1")
    assert "photo" in card and card["caption"].startswith("⚪ Pictured")
    assert labels(card) == ["📅 Book", "☆ Save"]
    await say(shop, ann, f"/start p_{unknown}")
    text_card = await find(ann, "Elsewhere · Lv1")
    assert "photo" not in text_card and labels(text_card) == ["📅 Book", "☆ Save"]
    # Booking from a photo card continues in a new message.
    await press(ann, card, "Book")
    assert (await find(ann, "How many?"))["message_id"] > text_card["message_id"]
