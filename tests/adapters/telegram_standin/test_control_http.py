"""The /_standin JSON endpoints let a browser page play users and follow chats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.types import CallbackQuery, Message

from bots.telegram.standin import BotApiStandIn

from .conftest import polling


@pytest.fixture
async def http(standin: BotApiStandIn) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=standin.base_url) as session:
        yield session


async def call(http: aiohttp.ClientSession, verb: str, path: str,
               body: Any = None) -> tuple[int, dict[str, Any]]:
    async with http.request(verb, path, json=body) as response:
        return response.status, await response.json()


def menu_bot() -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def menu(message: Message) -> None:
        await message.answer("Pick a service", reply_markup={"inline_keyboard": [
            [{"text": "Billiards coach", "callback_data": "cat:billiards"}]]})

    @dispatcher.callback_query()
    async def picked(query: CallbackQuery) -> None:
        await query.answer("Showing coaches")

    return dispatcher


async def test_a_page_can_create_a_user_chat_and_follow_the_replies(
    standin: BotApiStandIn, bot: Bot, http: aiohttp.ClientSession
) -> None:
    status, created = await call(http, "POST", "/_standin/users",
                                 {"first_name": "Mei", "username": "mei",
                                  "language_code": "zh"})
    assert status == 200
    user_id = created["result"]["id"]

    async with polling(menu_bot(), bot):
        status, sent = await call(http, "POST", f"/_standin/users/{user_id}/start",
                                  {"payload": "provider_7"})
        assert status == 200 and sent["result"]["text"] == "/start provider_7"
        status, events = await call(http, "GET", f"/_standin/chats/{user_id}/events")
        [typed] = events["result"]
        status, events = await call(
            http, "GET", f"/_standin/chats/{user_id}/events?after={typed['seq']}&timeout=3")
        reply = events["result"][0]
        assert reply["kind"] == "message" and reply["from_bot"] is True
        status, tapped = await call(
            http, "POST", f"/_standin/users/{user_id}/tap",
            {"message_id": reply["message"]["message_id"], "text": "Billiards coach",
             "wait_answer": 3})

    assert tapped["result"]["answer"]["text"] == "Showing coaches"
    status, history = await call(http, "GET", f"/_standin/chats/{user_id}/messages")
    assert [m["from_bot"] for m in history["result"]] == [False, True]
    assert history["result"][1]["callback_answers"][0]["data"] == "cat:billiards"
    status, calls = await call(http, "GET", "/_standin/calls?method=answerCallbackQuery")
    assert [c["ok"] for c in calls["result"]] == [True]


async def test_the_event_long_poll_waits_for_something_new(
    standin: BotApiStandIn, bot: Bot, http: aiohttp.ClientSession
) -> None:
    ann = standin.create_user("Ann")
    waiting = asyncio.create_task(
        call(http, "GET", f"/_standin/chats/{ann.id}/events?after=0&timeout=3"))
    await asyncio.sleep(0.05)
    assert not waiting.done()

    await bot.send_message(ann.id, "new order for you")
    status, events = await waiting

    assert status == 200
    assert [e["message"]["text"] for e in events["result"]] == ["new order for you"]


async def test_groups_payments_and_blocking_over_http(
    standin: BotApiStandIn, bot: Bot, http: aiohttp.ClientSession
) -> None:
    ann = standin.create_user("Ann")
    status, group = await call(http, "POST", "/_standin/groups",
                               {"title": "Ops", "member_ids": [ann.id],
                                "admin_ids": [ann.id]})
    assert status == 200 and group["result"]["id"] < 0

    invoice = await bot.send_invoice(ann.id, title="Tip", description="Thanks",
                                     payload="tip:1", currency="XTR",
                                     prices=[{"label": "Tip", "amount": 5}])
    standin.bot.pre_checkout_timeout = 0.05
    status, paid = await call(http, "POST", f"/_standin/users/{ann.id}/pay",
                              {"message_id": invoice.message_id})
    # no dispatcher runs here, so nobody answers the pre-checkout query
    assert status == 200 and paid["result"]["ok"] is False
    assert paid["result"]["reason"] == "timeout"

    status, _ = await call(http, "POST", f"/_standin/users/{ann.id}/block", {})
    assert status == 200
    status, chats = await call(http, "GET", "/_standin/chats")
    blocked = {c["id"]: c["blocked"] for c in chats["result"]}
    assert blocked[ann.id] is True


async def test_settings_switch_duplicates_and_rate_limits(
    standin: BotApiStandIn, http: aiohttp.ClientSession
) -> None:
    status, settings = await call(http, "POST", "/_standin/settings",
                                  {"duplicate_updates": True,
                                   "rate_limits": {"per_bot_per_second": 300}})

    assert status == 200
    assert settings["result"]["duplicate_updates"] is True
    assert standin.duplicate_updates is True
    assert standin.rate_limits.per_bot_per_second == 300


async def test_bad_requests_get_a_clear_error_and_change_nothing(
    standin: BotApiStandIn, http: aiohttp.ClientSession
) -> None:
    ann = standin.create_user("Ann")

    refusals = [
        await call(http, "POST", "/_standin/users", {"username": "nameless"}),
        await call(http, "POST", f"/_standin/users/{ann.id}/dance", {}),
        await call(http, "POST", "/_standin/users/999/text", {"text": "hi"}),
        await call(http, "POST", f"/_standin/users/{ann.id}/text", {"text": "  "}),
        await call(http, "POST", f"/_standin/users/{ann.id}/tap", {"message_id": 1}),
        await call(http, "POST", "/_standin/settings", {"rate_limits": {"per_bot": 1}}),
        await call(http, "POST", "/_standin/settings", {"rate_limits": {"per_bot_burst": "x"}}),
        await call(http, "GET", "/_standin/chats/424242/messages"),
    ]

    assert [status for status, _ in refusals] == [400, 404, 404, 400, 400, 400, 400, 404]
    assert all(body["ok"] is False and body["description"] for _, body in refusals)
    assert refusals[0][1]["description"] == "first_name is required"
    assert list(standin.bot.users) == [ann.id]
    assert standin.events() == [] and standin.bot.pending == []
    assert standin.rate_limits.enabled is False


async def test_the_overview_says_whether_validation_is_on(http: aiohttp.ClientSession) -> None:
    status, overview = await call(http, "GET", "/_standin")

    assert status == 200
    assert overview["result"]["validation_active"] is True
    assert "tap" in overview["result"]["actions"]
