"""Updates reach a real aiogram Dispatcher by long polling and by webhook, duplicates too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message
from aiohttp import web

from bots.telegram.standin import SECRET_HEADER, BotApiStandIn

from .conftest import free_port, make_bot, polling, webhook_app


def echo_dispatcher(seen: list[Message]) -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def echo(message: Message) -> None:
        seen.append(message)
        await message.answer(f"echo: {message.text}")

    return dispatcher


async def test_long_polling_delivers_updates_and_confirms_them(
    standin: BotApiStandIn, bot: Bot
) -> None:
    seen: list[Message] = []
    ann = standin.create_user("Ann", username="ann", language_code="zh")

    async with polling(echo_dispatcher(seen), bot):
        await ann.start("ref_42")
        reply = await ann.next_message()

    assert reply["text"] == "echo: /start ref_42"
    assert seen[0].from_user is not None and seen[0].from_user.language_code == "zh"
    assert seen[0].entities is not None and seen[0].entities[0].type == "bot_command"
    assert standin.bot.pending == []  # the next getUpdates offset confirmed it
    assert standin.bot.allowed_updates == ["message"]  # aiogram asked only for what it handles


async def test_updates_the_bot_did_not_ask_for_are_not_sent(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    sent = await bot.send_message(ann.id, "pick", reply_markup={
        "inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    await ann.next_message()

    async with polling(echo_dispatcher([]), bot):
        await ann.send_text("hello")
        await ann.next_message()
        await ann.tap(sent.message_id, "A")
        await ann.send_text("again")
        await ann.next_message()

    assert [next(k for k in u if k != "update_id") for u in standin.bot.dropped_updates] == \
        ["callback_query"]


async def test_webhook_delivery_carries_the_secret_header(
    standin: BotApiStandIn, bot: Bot
) -> None:
    seen: list[Message] = []
    ann = standin.create_user("Ann")
    async with webhook_app(echo_dispatcher(seen), bot, secret_token="s3cr3t") as url:
        assert await bot.set_webhook(url, secret_token="s3cr3t")
        await ann.send_text("hi there")
        reply = await ann.next_message()
        info = await bot.get_webhook_info()

    assert reply["text"] == "echo: hi there"
    assert info.url == url and info.pending_update_count == 0
    assert info.last_error_message is None


async def test_a_webhook_refusing_the_secret_gets_retries_and_an_error_in_the_info(
    standin: BotApiStandIn, bot: Bot
) -> None:
    seen: list[Message] = []
    ann = standin.create_user("Ann")
    async with webhook_app(echo_dispatcher(seen), bot, secret_token="expected") as url:
        await bot.set_webhook(url, secret_token="something-else")
        await ann.send_text("hi")
        await asyncio.sleep(0.3)
        info = await bot.get_webhook_info()

    assert seen == []
    assert info.pending_update_count == 1
    assert info.last_error_message == "Wrong response from the webhook: 401 Unauthorized"
    assert standin.bot.pending[0].attempts >= 2


@asynccontextmanager
async def recording_endpoint(statuses: list[int]) -> AsyncIterator[tuple[str, list[Any]]]:
    """A bare webhook that answers with the given statuses in turn and records requests."""
    received: list[tuple[dict[str, Any], str | None]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((await request.json(), request.headers.get(SECRET_HEADER)))
        status = statuses.pop(0) if statuses else 200
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


async def test_a_failed_webhook_delivery_is_retried_until_it_succeeds(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    async with recording_endpoint([500, 502]) as (url, received):
        await bot.set_webhook(url, secret_token="abc")
        await ann.send_text("one")
        for _ in range(100):
            if len(received) == 3:
                break
            await asyncio.sleep(0.02)
        info = await bot.get_webhook_info()

    assert [body["message"]["text"] for body, _ in received] == ["one", "one", "one"]
    assert {secret for _, secret in received} == {"abc"}
    assert info.pending_update_count == 0
    assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"


async def test_duplicates_on_demand_reach_a_polling_bot_twice(
    standin: BotApiStandIn, bot: Bot
) -> None:
    seen: list[Message] = []
    ann = standin.create_user("Ann")
    standin.duplicate_updates = True

    async with polling(echo_dispatcher(seen), bot):
        await ann.send_text("once")
        await ann.next_message()
        await ann.next_message()

    assert [m.message_id for m in seen] == [seen[0].message_id] * 2
    assert [m["text"] for m in ann.bot_messages()] == ["echo: once", "echo: once"]


async def test_duplicates_on_demand_reach_a_webhook_twice(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    standin.duplicate_updates = True
    async with recording_endpoint([]) as (url, received):
        await bot.set_webhook(url)
        await ann.send_text("once")
        for _ in range(100):
            if len(received) == 2:
                break
            await asyncio.sleep(0.02)

    assert len(received) == 2
    assert received[0][0] == received[1][0]
    assert received[0][1] is None  # no secret was set, so no header


async def test_get_updates_conflicts_with_an_active_webhook(
    standin: BotApiStandIn, bot: Bot
) -> None:
    await bot.set_webhook("http://127.0.0.1:9/unused")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == []


async def test_pending_updates_survive_a_switch_back_to_polling(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    await bot.set_webhook("http://127.0.0.1:9/unreachable")
    await ann.send_text("while the webhook was down")
    await bot.delete_webhook()

    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["while the webhook was down"]

    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []


async def test_a_method_in_the_webhook_reply_is_executed(
    standin: BotApiStandIn, bot: Bot
) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def reply_in_response(message: Message) -> SendMessage:
        return SendMessage(chat_id=message.chat.id, text="answered in the response")

    ann = standin.create_user("Ann")
    async with webhook_app(dispatcher, bot, handle_in_background=False) as url:
        await bot.set_webhook(url)
        await ann.send_text("hi")
        reply = await ann.next_message()

    assert reply["text"] == "answered in the response"
    assert standin.calls("sendMessage")[-1].via == "webhook-reply"


async def test_callback_taps_reach_the_bot_and_the_answer_is_recorded(
    standin: BotApiStandIn, bot: Bot
) -> None:
    dispatcher = Dispatcher()

    @dispatcher.callback_query(F.data == "accept:42")
    async def accept(query: CallbackQuery) -> None:
        await query.answer("Accepted", show_alert=True)
        assert query.message is not None
        await bot.edit_message_text("Order 42 accepted", chat_id=query.message.chat.id,
                                    message_id=query.message.message_id)

    ann = standin.create_user("Ann")
    card = await bot.send_message(ann.id, "Order 42", reply_markup={
        "inline_keyboard": [[{"text": "Accept", "callback_data": "accept:42"}]]})

    async with polling(dispatcher, bot):
        tap = await ann.tap(card.message_id, "Accept")
        answer = await tap.answer()
        edited = await ann.next_event("edited")

    assert answer["text"] == "Accepted" and answer["show_alert"] is True
    assert edited.data["message"]["text"] == "Order 42 accepted"
    assert "reply_markup" not in edited.data["message"]  # an edit without markup drops it
    [entry] = ann.history()
    assert entry["callback_answers"][0]["data"] == "accept:42"
    assert entry["edits"][0]["text"] == "Order 42"


async def test_two_bots_share_a_stand_in_without_seeing_each_other(
    standin: BotApiStandIn, bot: Bot
) -> None:
    echo_world = standin.add_bot("7000000002:AAEchoBotTokenForLocalTesting", username="echo_bot",
                                 first_name="Echo")
    echo_bot = make_bot(standin, echo_world.token)
    try:
        ann_for_echo = standin.create_user("Ann", world=echo_world)
        ann = standin.create_user("Ann")
        await ann_for_echo.send_text("to the echo bot")

        assert (await echo_bot.get_me()).username == "echo_bot"
        assert [u.message.text for u in await echo_bot.get_updates(timeout=0)
                if u.message] == ["to the echo bot"]
        assert await bot.get_updates(timeout=0) == []
        await echo_bot.send_message(ann_for_echo.id, "echo")
        assert ann.bot_messages() == []
    finally:
        await echo_bot.session.close()
