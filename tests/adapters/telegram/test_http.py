"""The bot's HTTP face: the webhook refuses requests without Telegram's secret, /healthz
answers while the service is up, and long polling works where there is no webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import bootstrap
from bots.i18n import gettext
from bots.telegram.standin import BotApiStandIn
from bots.telegram.webhook import health_app
from core.shared.clock import FixedClock
from tests.adapters.telegram.conftest import (
    WEBHOOK_SECRET,
    RunningBot,
    SettingsFactory,
    running_bot,
)

UPDATE = {
    "update_id": 777,
    "message": {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": 4242, "type": "private", "first_name": "Eve"},
        "from": {"id": 4242, "is_bot": False, "first_name": "Eve"},
        "text": "/start",
    },
}


async def test_the_webhook_refuses_a_request_without_the_secret(tg: RunningBot) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(tg.url + "/telegram/webhook", json=UPDATE) as response:
            assert response.status == 401
        wrong = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET + "x"}
        async with http.post(tg.url + "/telegram/webhook", json=UPDATE, headers=wrong) as response:
            assert response.status == 401
    assert tg.service.endpoint is not None
    assert (tg.service.endpoint.accepted, tg.service.endpoint.refused) == (0, 2)
    async with tg.runtime.uow_factory() as uow:
        assert await uow.users.get_by_channel("telegram", "4242") is None


async def test_the_webhook_refuses_a_body_that_is_not_an_update(tg: RunningBot) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with aiohttp.ClientSession() as http:
        for body in (b"not json", b'{"message": {}}', b"[1, 2]"):
            async with http.post(
                tg.url + "/telegram/webhook", data=body, headers=headers
            ) as response:
                assert response.status == 400


async def test_the_webhook_takes_an_update_with_the_secret(tg: RunningBot) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    eve = tg.standin.create_user("Eve", language_code="en")
    update = {**UPDATE, "message": {**UPDATE["message"],  # type: ignore[dict-item]
                                    "chat": {"id": eve.id, "type": "private", "first_name": "Eve"},
                                    "from": eve.user}}
    async with aiohttp.ClientSession() as http:
        async with http.post(tg.url + "/telegram/webhook", json=update, headers=headers) as response:
            assert response.status == 200
    assert (await eve.next_message())["text"].startswith("Hi Eve")


async def test_the_webhook_is_registered_with_the_secret(tg: RunningBot) -> None:
    webhook = tg.standin.bot.webhook
    assert webhook is not None
    assert webhook.url == tg.url + "/telegram/webhook"
    assert webhook.secret_token == WEBHOOK_SECRET
    assert set(webhook.allowed_updates or []) >= {"message", "callback_query"}


async def test_healthz_answers_while_the_service_is_up(tg: RunningBot) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(tg.url + "/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok"}


async def test_healthz_says_unavailable_when_a_dependency_fails() -> None:
    async def database_down() -> None:
        raise ConnectionRefusedError("database is down")

    async with TestClient(TestServer(health_app(database_down))) as client:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["status"] == "unavailable"


@pytest.fixture
async def tg_polling(
    bot_settings: SettingsFactory, engine: AsyncEngine, clock: FixedClock, standin: BotApiStandIn
) -> AsyncIterator[RunningBot]:
    settings = bot_settings(webhook=False)
    runtime = bootstrap(settings, clock=clock, engine=engine)
    async with running_bot(settings, runtime, standin) as running:
        yield running


async def test_without_a_webhook_url_the_bot_long_polls(tg_polling: RunningBot) -> None:
    assert tg_polling.standin.bot.webhook is None
    ann = tg_polling.standin.create_user("Ann", language_code="en")
    await ann.send_text("/help")
    assert (await ann.next_message())["text"] == gettext("tg.help", "en")
    async with aiohttp.ClientSession() as http:
        async with http.get(tg_polling.url + "/healthz") as response:
            assert response.status == 200


async def test_long_polling_keeps_one_conversation_in_order(tg_polling: RunningBot) -> None:
    ann = tg_polling.standin.create_user("Ann", language_code="en")
    for text in ("/language zh", "/help", "/language en"):
        await ann.send_text(text)
    replies = [(await ann.next_message())["text"] for _ in range(3)]
    assert replies == [
        gettext("tg.language.changed", "zh"),
        gettext("tg.help", "zh"),
        gettext("tg.language.changed", "en"),
    ]
