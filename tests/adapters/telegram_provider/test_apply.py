"""The application form over HTTP: a person applies step by step, mistakes are caught where
they are made, any part can be changed before sending, the operators' group gets the card,
and with Redis the form survives a restart of the bot."""

from __future__ import annotations

import pytest
from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis

from app.bootstrap import Runtime
from bots.telegram.standin import BotApiStandIn, SimUser
from core.catalog.commands import GetApplication
from core.catalog.onboarding import Application, DocumentKind
from core.shared.money import Money
from tests.adapters.telegram.conftest import RunningBot, SettingsFactory
from tests.adapters.telegram_provider.conftest import (
    Cast,
    bot_options,
    buttons,
    message_with,
    serving,
)


async def application_of(runtime: Runtime, application_id: int) -> Application:
    application: Application = await runtime.bus.handle(GetApplication(application_id=application_id))
    return application


async def open_form(pia: SimUser) -> None:
    await pia.send_text("/apply")
    await message_with(pia, "provider profile")
    await message_with(pia, "What name")


async def through_the_profile(pia: SimUser, *, photos: int = 2) -> None:
    await open_form(pia)
    await pia.send_text("Pia Chen")
    await message_with(pia, "about yourself")
    await pia.send_text("Patient Genshin player, Asia server.")
    prompt = await message_with(pia, "up to 9 photos")
    assert buttons(prompt) == ["Skip"]
    saved = prompt
    for number in range(1, photos + 1):
        await pia.send_photo()
        saved = await message_with(pia, f"Photo {number} of at most 9 saved")
    await pia.tap(saved, "Done" if photos else "Skip")
    await message_with(pia, "voice introduction")
    await pia.send_voice()


async def through_a_game_offer(pia: SimUser, price: str = "1000 XTR") -> dict:
    menu = await message_with(pia, "Pick a category")
    assert "Game companions" in buttons(menu)
    await (await pia.tap(menu, "Game companions")).answer()
    await (await pia.tap(menu, "Genshin Impact")).answer()
    assert pia.message(menu["message_id"])["text"] == "Category: Genshin Impact"
    await message_with(pia, "price per hour")
    await pia.send_text(price)
    return await message_with(pia, "Add another service")


async def to_the_summary(pia: SimUser) -> dict:
    await through_the_profile(pia)
    offers = await through_a_game_offer(pia)
    await pia.tap(offers, "Continue ▶")
    hours = await message_with(pia, "When can customers book you?")
    await pia.tap(hours, "Every day 10:00-22:00")
    await message_with(pia, "photo of your ID")
    await pia.send_photo()
    return await message_with(pia, "Your application:")


async def test_a_person_applies_step_by_step_and_the_operators_group_gets_the_card(
    tg: RunningBot, cast: Cast
) -> None:
    pia = cast.provider.sim
    summary = await to_the_summary(pia)
    text = summary["text"]
    assert "Name: Pia Chen" in text
    assert "Photos: 2 · Voice introduction: yes" in text
    assert " • Genshin Impact: 1000 XTR per hour" in text
    assert "Hours: Mon 10:00-22:00, Tue 10:00-22:00" in text
    assert "ID photo: yes" in text
    assert "Area:" not in text and "Certificate" not in text  # online work needs neither
    assert buttons(summary)[0] == "✅ Send application"

    tap = await pia.tap(summary, "✅ Send application")
    assert (await tap.answer())["text"] == "Application sent"
    sent = pia.message(summary["message_id"])
    assert "✅ Sent as application no. 1." in sent["text"]
    assert "reply_markup" not in sent

    application = await application_of(tg.runtime, 1)
    assert application.user_id == cast.provider.user_id
    assert application.status.value == "pending"
    assert application.profile.display_name == "Pia Chen"
    assert len(application.profile.photos) == 2 and application.profile.voice_intro
    assert application.profile.timezone == "Asia/Shanghai"
    assert [(o.category_id, o.unit_price) for o in application.offers] == [
        (cast.categories["genshin-impact"].id, Money(1000, "XTR"))
    ]
    assert len(application.availability.rules) == 7
    assert [d.kind for d in application.documents] == [DocumentKind.ID_PHOTO]
    assert application.documents[0].file_ref.startswith("photo:")

    card = await message_with(cast.operator.sim, "Provider application no. 1", chat=cast.group)
    assert "Pia Chen (user" in card["text"]
    assert buttons(card) == ["✅ Approve", "❌ Reject", "🔎 Details"]
    await message_with(pia, "We received your application no. 1")


async def test_a_mistake_is_refused_at_its_step_and_the_question_stays(tg: RunningBot, cast: Cast) -> None:
    pia = cast.provider.sim
    await through_the_profile(pia, photos=0)
    menu = await message_with(pia, "Pick a category")
    await (await pia.tap(menu, "Game companions")).answer()
    await (await pia.tap(menu, "Genshin Impact")).answer()
    await message_with(pia, "price per hour")

    await pia.send_text("a lot")
    assert (await pia.next_message())["text"] == "“a lot” is not an amount of money."
    await pia.send_text("80.123")
    assert (await pia.next_message())["text"] == "“80.123” has more decimals than CNY allows."
    await pia.send_text("9000000")
    too_high = await pia.next_message()
    assert too_high["text"] == "9000000.00 CNY is more than the maximum of 10000.00 CNY per unit."

    await pia.send_text("80")
    offers = await message_with(pia, "Add another service")
    assert " • Genshin Impact: 80.00 CNY per hour" in offers["text"]
    await pia.tap(offers, "Continue ▶")
    await message_with(pia, "When can customers book you?")
    await pia.send_text("someday 25:00-26:00")
    assert (await pia.next_message())["text"].startswith("“someday 25:00-26:00” is not a weekly rule")
    await pia.send_text("mon 09:00-18:00\nmon 17:00-20:00")
    overlap = await pia.next_message()
    assert overlap["text"] == "The hours “mon 09:00-18:00” and “mon 17:00-20:00” overlap."
    await pia.send_text("mon-fri 09:00-18:00, sat 10:00-16:00")
    await message_with(pia, "photo of your ID")
    await pia.send_text("here is my id")
    hint = await pia.next_message()
    assert hint["text"] == "That is not what this step needs."
    await message_with(pia, "photo of your ID")
    await pia.send_photo()
    summary = await message_with(pia, "Your application:")
    assert "Hours: Mon 09:00-18:00, Tue 09:00-18:00, Wed 09:00-18:00, Thu 09:00-18:00, Fri 09:00-18:00, Sat 10:00-16:00" in summary["text"]
    assert "Photos: 0 · Voice introduction: yes" in summary["text"]


async def test_any_part_can_be_changed_before_sending(tg: RunningBot, cast: Cast) -> None:
    pia = cast.provider.sim
    summary = await to_the_summary(pia)

    await pia.tap(summary, "✏️ Name")
    await message_with(pia, "What name")
    await pia.send_text("Pia the Healer")
    summary = await message_with(pia, "Your application:")
    assert "Name: Pia the Healer" in summary["text"]

    await pia.tap(summary, "✏️ Services")
    offers = await message_with(pia, "Add another service")
    await pia.tap(offers, "➕ Add a service")
    menu = await message_with(pia, "Pick a category")
    await (await pia.tap(menu, "Game companions")).answer()
    await (await pia.tap(menu, "League of Legends")).answer()
    await message_with(pia, "price per hour")
    await pia.send_text("600 XTR")
    offers = await message_with(pia, "Add another service")
    await pia.tap(offers, "✖ Remove Genshin Impact")
    offers = await message_with(pia, "Add another service")
    assert "Genshin" not in offers["text"]
    await pia.tap(offers, "Continue ▶")
    summary = await message_with(pia, "Your application:")
    assert " • League of Legends: 600 XTR per hour" in summary["text"]

    await pia.tap(summary, "✅ Send application")
    await message_with(pia, "We received your application no. 1")
    application = await application_of(tg.runtime, 1)
    assert application.profile.display_name == "Pia the Healer"
    assert [o.category_id for o in application.offers] == [cast.categories["league-of-legends"].id]


async def test_work_at_the_customers_place_asks_for_an_area_and_a_certificate(
    tg: RunningBot, cast: Cast
) -> None:
    pia = cast.provider.sim
    await through_the_profile(pia, photos=1)
    menu = await message_with(pia, "Pick a category")
    await (await pia.tap(menu, "Home services")).answer()
    await (await pia.tap(menu, "Cleaning")).answer()
    await message_with(pia, "price per hour")
    await pia.send_text("¥60")
    offers = await message_with(pia, "Add another service")
    await pia.tap(offers, "Continue ▶")
    await message_with(pia, "share the location you start from")
    keyboard = tg.standin.bot.chats[pia.id].reply_keyboard
    assert keyboard is not None and keyboard["keyboard"][0][0]["request_location"] is True
    await pia.send_location(31.2304, 121.4737)
    await message_with(pia, "Location saved")
    radius = await message_with(pia, "How far do you travel?")
    await pia.tap(radius, "5 km")
    hours = await message_with(pia, "When can customers book you?")
    await pia.tap(hours, "Weekdays 09:00-18:00")
    await message_with(pia, "photo of your ID")
    await pia.send_photo()
    await message_with(pia, "needs a certificate")
    await pia.send_document(b"%PDF-1.4 certificate", "health.pdf")
    summary = await message_with(pia, "Your application:")
    assert "Area: within 5 km of 31.2304, 121.4737" in summary["text"]
    assert "Certificate: yes" in summary["text"]
    await pia.tap(summary, "✅ Send application")
    await message_with(pia, "We received your application no. 1")

    application = await application_of(tg.runtime, 1)
    assert application.profile.location is not None
    assert application.profile.service_radius_km == 5
    assert application.offers[0].unit_price == Money(6000, "CNY")
    assert application.offers[0].min_units == 2  # cleaning is booked for two hours at least
    assert [d.kind for d in application.documents] == [DocumentKind.ID_PHOTO, DocumentKind.CERTIFICATE]
    assert application.documents[1].file_ref.startswith("document:")


async def test_cancel_closes_the_form_and_sends_nothing(tg: RunningBot, cast: Cast) -> None:
    pia = cast.provider.sim
    await open_form(pia)
    await pia.send_text("Pia")
    await message_with(pia, "about yourself")
    await pia.send_text("/cancel")
    assert (await pia.next_message())["text"] == "The application form is closed. Nothing was sent."
    await pia.send_text("Hello?")
    assert "application" not in (await pia.next_message())["text"].lower()


@pytest.mark.redis
async def test_the_form_survives_a_restart_of_the_bot_with_redis(
    bot_settings: SettingsFactory, runtime: Runtime, standin: BotApiStandIn, cast: Cast,
    redis_url: str,
) -> None:
    settings = bot_settings(**bot_options(cast, redis_url=redis_url))
    redis = Redis.from_url(redis_url)
    namespace = "yueban-test-apply-restart"
    pia = cast.provider.sim
    try:
        async with serving(settings, runtime, standin, redis=redis, namespace=namespace):
            await open_form(pia)
            await pia.send_text("Pia Restarted")
            await message_with(pia, "about yourself")
        # A new process: nothing of the form is left in memory.
        async with serving(settings, runtime, standin, redis=redis, namespace=namespace):
            await pia.send_text("Still here after the restart.")
            prompt = await message_with(pia, "up to 9 photos")
            await pia.tap(prompt, "Skip")
            await message_with(pia, "voice introduction")
            await pia.send_voice()
            offers = await through_a_game_offer(pia, "500 XTR")
            await pia.tap(offers, "Continue ▶")
            hours = await message_with(pia, "When can customers book you?")
            await pia.tap(hours, "Evenings 18:00-24:00")
            await message_with(pia, "photo of your ID")
            await pia.send_photo()
            summary = await message_with(pia, "Your application:")
            assert "Name: Pia Restarted" in summary["text"]
            assert "About: Still here after the restart." in summary["text"]
    finally:
        keys = [key async for key in redis.scan_iter(f"{namespace}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_closing_the_form_leaves_other_flows_drafts_alone(tg: RunningBot, cast: Cast) -> None:
    pia = cast.provider.sim
    storage = tg.service.dispatcher.fsm.storage
    key = StorageKey(bot_id=tg.service.bot.id, chat_id=pia.id, user_id=pia.id)
    booking = {"offer_id": 7, "units": 2}
    await storage.set_data(key, {"cust_draft": booking})

    await open_form(pia)
    await pia.send_text("Pia")
    await message_with(pia, "about yourself")
    assert (await storage.get_data(key))["cust_draft"] == booking
    await pia.send_text("/cancel")
    await message_with(pia, "The application form is closed.")
    assert await storage.get_data(key) == {"cust_draft": booking}
    assert await storage.get_state(key) is None
