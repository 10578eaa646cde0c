"""A tap's answer rides back in the webhook's HTTP response, as Telegram allows, instead of
costing the bot an `answerCallbackQuery` call; an answer that comes too late for the
response still reaches the person, over HTTP and once. Messages are answered 200 at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from aiohttp import web
from aiohttp.test_utils import TestServer

from bots.i18n import gettext, render_error
from bots.telegram.factory import build_bot
from bots.telegram.reply import WebhookReply, reply_payload
from bots.telegram.standin import BotApiStandIn
from bots.telegram.standin.world import ApiCall
from bots.telegram.webhook import WEBHOOK_PATH, WebhookEndpoint
from core.shared.errors import DomainError
from tests.adapters.telegram.conftest import WEBHOOK_SECRET, RunningBot

SECRET = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}


def answers(standin: BotApiStandIn) -> list[tuple[str, dict[str, Any]]]:
    """Every answerCallbackQuery the stand-in executed: (how it came, its parameters)."""
    calls: list[ApiCall] = standin.calls("answerCallbackQuery")
    assert all(call.ok for call in calls), calls
    return [(call.via, call.params) for call in calls]


class SlowCall:
    """A session middleware holding up one Bot API method (a slow moment of Telegram)."""

    def __init__(self, method: str, seconds: float) -> None:
        self.method = method
        self.seconds = seconds

    async def __call__(self, make_request: Any, bot: Bot, method: TelegramMethod[Any]) -> Any:
        if method.__api_method__ == self.method:
            await asyncio.sleep(self.seconds)
        return await make_request(bot, method)


async def picker_of(tg: RunningBot, name: str) -> tuple[Any, dict[str, Any]]:
    person = tg.standin.create_user(name, language_code="zh")
    await person.send_text("/language")
    return person, await person.next_message()


async def test_a_tap_is_answered_in_the_webhook_response_without_a_call(tg: RunningBot) -> None:
    mei, picker = await picker_of(tg, "Mei")
    tap = await mei.tap(picker, "English")
    answer = await tap.answer()

    done = "Done: I will speak English from now on."
    assert answer["text"] == done
    assert mei.message(picker["message_id"])["text"] == done  # the handler's edit went too
    assert answers(tg.standin) == [("webhook-reply", {"callback_query_id": tap.id, "text": done})]
    assert tg.service.endpoint is not None and tg.service.endpoint.replies.replied == 1


async def test_the_error_boundary_alerts_ride_the_response_with_their_text(tg: RunningBot) -> None:
    mei = tg.standin.create_user("Mei", language_code="zh")
    await mei.start()
    await mei.next_message()
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="Accept", callback_data="v1:accept:7"),  # an older release's
        InlineKeyboardButton(text="Klingon", callback_data="lang:tlh"),  # refused by the core
    ]])
    card = await tg.service.bot.send_message(mei.chat_id, "old card", reply_markup=keyboard)

    stale = await mei.tap(card.message_id, "Accept")
    stale_answer = await stale.answer()
    refused = await mei.tap(card.message_id, "Klingon")
    refused_answer = await refused.answer()

    stale_text = gettext("tg.button.stale", "zh")
    refused_text = render_error(
        DomainError("error.user.unsupported_locale", locale="tlh", locales="zh, en"), "zh"
    )
    assert (stale_answer["text"], stale_answer["show_alert"]) == (stale_text, True)
    assert (refused_answer["text"], refused_answer["show_alert"]) == (refused_text, True)
    assert answers(tg.standin) == [
        ("webhook-reply", {"callback_query_id": stale.id, "text": stale_text, "show_alert": True}),
        ("webhook-reply",
         {"callback_query_id": refused.id, "text": refused_text, "show_alert": True}),
    ]


async def test_the_response_carries_the_answer_as_the_session_would_send_it(
    tg: RunningBot,
) -> None:
    ann = tg.standin.create_user("Ann", language_code="en")
    update = {"update_id": 9001, "callback_query": {
        "id": "4242-tap", "from": ann.user, "chat_instance": "1", "data": "v1:accept:7"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(tg.url + WEBHOOK_PATH, json=update, headers=SECRET) as response:
            assert response.status == 200
            body = await response.json()
    assert body == {"method": "answerCallbackQuery", "callback_query_id": "4242-tap",
                    "text": gettext("tg.button.stale", "en"), "show_alert": True}


async def test_an_answer_slower_than_the_bound_goes_over_http_exactly_once(
    tg: RunningBot,
) -> None:
    endpoint = tg.service.endpoint
    assert endpoint is not None
    endpoint.reply_within = 0.2
    # The handler edits the picker before it answers; Telegram takes its time with the edit.
    tg.service.bot.session.middleware(SlowCall("editMessageText", 0.6))
    mei, picker = await picker_of(tg, "Mei")

    tap = await mei.tap(picker, "English")
    answer = await tap.answer()
    await tg.settle()

    done = "Done: I will speak English from now on."
    assert answer["text"] == done
    assert answers(tg.standin) == [("http", {"callback_query_id": tap.id, "text": done})]
    assert mei.history()[-1]["callback_answers"] == [answer]
    assert endpoint.replies.replied == 0


async def test_a_tap_without_an_answer_gets_the_plain_ok(tg: RunningBot) -> None:
    # A copy of a tap already handled: deduplication drops it and nothing answers it.
    ann = tg.standin.create_user("Ann", language_code="en")
    update = {"update_id": 9002, "callback_query": {
        "id": "4242-again", "from": ann.user, "chat_instance": "1", "data": "v1:accept:7"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(tg.url + WEBHOOK_PATH, json=update, headers=SECRET) as response:
            assert (await response.json())["method"] == "answerCallbackQuery"
        async with http.post(tg.url + WEBHOOK_PATH, json=update, headers=SECRET) as response:
            assert response.status == 200
            assert await response.json() == {"ok": True}


async def test_a_message_is_still_answered_200_before_it_is_handled(tg: RunningBot) -> None:
    tg.service.bot.session.middleware(SlowCall("sendMessage", 0.5))
    eve = tg.standin.create_user("Eve", language_code="en")
    update = {"update_id": 9003, "message": {
        "message_id": 1, "date": 1_700_000_000, "text": "/start", "from": eve.user,
        "chat": {"id": eve.id, "type": "private", "first_name": "Eve"}}}
    async with aiohttp.ClientSession() as http:
        async with http.post(tg.url + WEBHOOK_PATH, json=update, headers=SECRET) as response:
            assert response.status == 200
            assert await response.json() == {"ok": True}
            assert tg.standin.calls("sendMessage") == []  # the welcome is still on its way
    assert (await eve.next_message())["text"].startswith("Hi Eve")


async def test_a_tap_with_a_forged_secret_is_refused_and_not_answered(tg: RunningBot) -> None:
    ann = tg.standin.create_user("Ann", language_code="en")
    update = {"update_id": 9004, "callback_query": {
        "id": "4242-forged", "from": ann.user, "chat_instance": "1", "data": "v1:accept:7"}}
    forged = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET + "x"}
    async with aiohttp.ClientSession() as http:
        async with http.post(tg.url + WEBHOOK_PATH, json=update, headers=forged) as response:
            assert response.status == 401
            assert await response.json() == {"ok": False, "error": "unauthorized"}
    await tg.settle()
    assert tg.service.endpoint is not None and tg.service.endpoint.replies.replied == 0
    assert answers(tg.standin) == []


@pytest.fixture
async def plain_bot(standin: BotApiStandIn) -> AsyncIterator[Bot]:
    bot = build_bot(standin.token, api_base=standin.base_url)
    try:
        yield bot
    finally:
        await bot.session.close()


async def test_an_answer_taken_into_a_response_that_never_goes_out_is_sent_over_http(
    standin: BotApiStandIn, plain_bot: Bot
) -> None:
    dispatcher = Dispatcher()
    endpoint = WebhookEndpoint(dispatcher, plain_bot, WEBHOOK_SECRET)
    requests: list[asyncio.Task[Any]] = []

    @dispatcher.callback_query()
    async def accept(query: CallbackQuery) -> None:
        await query.answer("Accepted")
        requests[0].cancel()  # the server drops the request before its response is written

    async def handle(request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        requests.append(task)
        return await endpoint.handle(request)

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, handle)
    ann = standin.create_user("Ann")
    card = await plain_bot.send_message(ann.id, "Order 42", reply_markup=InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Accept", callback_data="accept:42")]]))
    tap = await ann.tap(card.message_id, "Accept")
    update = Update(update_id=1, callback_query=tap.query)

    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        url = str(server.make_url(WEBHOOK_PATH))
        body = update.model_dump_json(exclude_none=True, by_alias=True)
        with pytest.raises(aiohttp.ServerDisconnectedError):  # no response at all
            await http.post(url, data=body, headers={**SECRET, "Content-Type": "application/json"})
        await endpoint.drain()

    assert (await tap.answer())["text"] == "Accepted"
    assert answers(standin) == [("http", {"callback_query_id": tap.id, "text": "Accepted"})]


async def test_an_answer_is_taken_once_and_never_after_the_response_closed(
    plain_bot: Bot,
) -> None:
    method = AnswerCallbackQuery(callback_query_id="7", text="Saved")
    payload = reply_payload(plain_bot, method)
    assert payload == {"method": "answerCallbackQuery", "callback_query_id": "7", "text": "Saved"}

    taken = WebhookReply(plain_bot, "7")
    assert taken.wants(plain_bot, method)
    assert taken.offer(method, payload) and taken.taken.done()
    assert not taken.wants(plain_bot, method)  # a second answer goes over HTTP
    assert not taken.offer(method, payload)
    assert taken.close() == payload

    late = WebhookReply(plain_bot, "7")
    assert late.close() is None  # the bound passed first: nothing in the response
    assert not late.wants(plain_bot, method) and not late.offer(method, payload)
    assert not WebhookReply(plain_bot, "8").wants(plain_bot, method)  # another tap's answer
