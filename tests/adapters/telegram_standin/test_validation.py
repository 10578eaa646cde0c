"""Every request is checked against api.json, and refused the way Telegram refuses it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bots.telegram.standin import SPEC_ENV_VAR, BotApiStandIn, RateLimits

from .conftest import make_bot


def keyboard(callback_data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Book", callback_data=callback_data)]])


async def post_json(standin: BotApiStandIn, method: str, body: object) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.post(
        f"{standin.base_url}/bot{standin.token}/{method}", json=body
    ) as response:
        return response.status, await response.json()


async def test_validation_runs_against_the_shared_spec(standin: BotApiStandIn) -> None:
    assert standin.validation_active
    assert standin.spec is not None and standin.spec.version.startswith("Bot API")
    assert standin.spec.method("sendmessage") is not None


async def test_unknown_method_is_404_not_found_like_telegram(standin: BotApiStandIn) -> None:
    status, body = await post_json(standin, "sendMessages", {"chat_id": 1, "text": "hi"})

    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert standin.calls()[-1].error_code == 404


async def test_method_names_are_case_insensitive_like_telegram(standin: BotApiStandIn) -> None:
    status, body = await post_json(standin, "GETME", {})

    assert status == 200 and body["result"]["is_bot"] is True


async def test_missing_required_field_is_400_and_sends_nothing(standin: BotApiStandIn) -> None:
    ann = standin.create_user("Ann")

    status, body = await post_json(standin, "sendMessage", {"chat_id": ann.id})

    assert status == 400
    assert body["ok"] is False and body["error_code"] == 400
    assert body["description"].startswith("Bad Request: message text is empty")
    assert "text is required" in body["description"]
    assert ann.history() == []


async def test_wrong_scalar_types_are_400(standin: BotApiStandIn) -> None:
    ann = standin.create_user("Ann")

    status, body = await post_json(standin, "deleteMessage",
                                   {"chat_id": ann.id, "message_id": "first"})
    assert status == 400
    assert body["description"] == 'Bad Request: message_id must be an Integer, got "first"'

    status, body = await post_json(standin, "sendMessage",
                                   {"chat_id": ann.id, "text": {"zh": "你好"}})
    assert status == 400 and "text must be a String" in body["description"]

    status, body = await post_json(standin, "sendMessage", {"chat_id": ann.id, "text": "hi",
                                                            "protect_content": "maybe"})
    assert status == 400 and "protect_content must be a Boolean" in body["description"]


async def test_nested_objects_are_checked_against_their_types(standin: BotApiStandIn) -> None:
    ann = standin.create_user("Ann")
    markup = {"inline_keyboard": [[{"text": "Book", "callback_data": 42}]]}

    status, body = await post_json(standin, "sendMessage",
                                   {"chat_id": ann.id, "text": "hi", "reply_markup": markup})

    assert status == 400
    assert "reply_markup.inline_keyboard[0][0].callback_data must be a String" in \
        body["description"]


async def test_union_members_are_chosen_by_their_type_field(standin: BotApiStandIn) -> None:
    commands = [{"command": "start", "description": "Start"}]

    status, body = await post_json(standin, "setMyCommands",
                                   {"commands": commands, "scope": {"type": "chat"}})
    assert status == 400 and "scope.chat_id is required" in body["description"]

    status, body = await post_json(standin, "setMyCommands",
                                   {"commands": commands, "scope": {"type": "everyone"}})
    assert status == 400 and 'scope.type must be one of "default"' in body["description"]


async def test_callback_data_over_64_bytes_is_refused(standin: BotApiStandIn, bot: Bot) -> None:
    ann = standin.create_user("Ann")

    await bot.send_message(ann.id, "ok", reply_markup=keyboard("x" * 64))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ann.id, "too long", reply_markup=keyboard("x" * 65))
    # the limit is in bytes: 22 CJK characters are 66 bytes of UTF-8
    with pytest.raises(TelegramBadRequest, match="must be 1-64 bytes, got 66"):
        await bot.send_message(ann.id, "too long", reply_markup=keyboard("约" * 22))

    assert [m["text"] for m in ann.bot_messages()] == ["ok"]


async def test_text_over_4096_characters_is_refused(standin: BotApiStandIn, bot: Bot) -> None:
    ann = standin.create_user("Ann")

    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ann.id, "a" * 4097)
    await bot.send_message(ann.id, "a" * 4096)
    # limits count the text after entities parsing, as Telegram does
    await bot.send_message(ann.id, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ann.id, "<b>" + "a" * 4097 + "</b>", parse_mode="HTML")

    assert [len(m["text"]) for m in ann.bot_messages()] == [4096, 4096]


async def test_malformed_markup_cannot_be_parsed(standin: BotApiStandIn, bot: Bot) -> None:
    ann = standin.create_user("Ann")

    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(ann.id, "price < 100", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(ann.id, "Total: 12.50", parse_mode="MarkdownV2")

    sent = await bot.send_message(ann.id, "price &lt; <i>100</i>", parse_mode="HTML")
    assert sent.text == "price < 100"
    assert sent.entities is not None and sent.entities[0].type == "italic"


async def test_inline_button_without_an_action_is_refused(standin: BotApiStandIn) -> None:
    ann = standin.create_user("Ann")
    markup = {"inline_keyboard": [[{"text": "Nothing"}]]}

    status, body = await post_json(standin, "sendMessage",
                                   {"chat_id": ann.id, "text": "hi", "reply_markup": markup})

    assert status == 400 and "Text buttons are unallowed" in body["description"]


async def test_unknown_parameter_is_a_warning_never_a_pass(
    standin: BotApiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    ann = standin.create_user("Ann")

    with caplog.at_level(logging.WARNING, logger="yueban.telegram.standin"):
        status, _ = await post_json(standin, "sendMessage", {"chat_id": ann.id, "txt": "hi"})
        assert status == 400
        status, _ = await post_json(standin, "sendMessage",
                                    {"chat_id": ann.id, "text": "hi", "colour": "red"})
        assert status == 200

    refused, accepted = standin.calls("sendMessage")
    assert refused.warnings == ("txt is not a parameter of sendMessage",)
    assert accepted.warnings == ("colour is not a parameter of sendMessage",)
    assert "colour is not a parameter of sendMessage" in caplog.text


async def test_every_wire_encoding_aiogram_or_a_browser_uses_is_understood(
    standin: BotApiStandIn,
) -> None:
    ann = standin.create_user("Ann")
    url = f"{standin.base_url}/bot{standin.token}/sendMessage"
    markup = json.dumps({"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]})
    async with aiohttp.ClientSession() as http:
        async with http.get(url, params={"chat_id": ann.id, "text": "query"}) as response:
            assert response.status == 200
        async with http.post(url, data={"chat_id": str(ann.id), "text": "form",
                                        "reply_markup": markup}) as response:
            assert response.status == 200
        form = aiohttp.FormData()
        form.add_field("chat_id", str(ann.id))
        form.add_field("text", "multipart")
        form.add_field("unused", b"123", filename="x.bin")
        async with http.post(url, data=form) as response:
            assert response.status == 200
        async with http.post(url, json={"chat_id": ann.id, "text": "json",
                                        "reply_markup": json.loads(markup)}) as response:
            assert response.status == 200

    texts = [m["text"] for m in ann.bot_messages()]
    assert texts == ["query", "form", "multipart", "json"]
    assert ann.bot_messages()[1]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Go"


async def test_a_wrong_token_is_401_unauthorized(standin: BotApiStandIn) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        f"{standin.base_url}/bot123:wrong/getMe"
    ) as response:
        assert response.status == 401
        assert await response.json() == {"ok": False, "error_code": 401,
                                         "description": "Unauthorized"}


async def test_without_the_spec_file_it_runs_unvalidated_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="yueban.telegram.standin"):
        async with BotApiStandIn.running(spec_path=tmp_path / "missing.json",
                                         rate_limits=RateLimits.off()) as standin:
            assert not standin.validation_active
            ann = standin.create_user("Ann")
            bot = make_bot(standin)
            try:
                await bot.send_message(ann.id, "unchecked", reply_markup=keyboard("x" * 65))
            finally:
                await bot.session.close()
    assert "WITHOUT request validation" in caplog.text


async def test_the_spec_path_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = tmp_path / "api.json"
    tiny.write_text(json.dumps({"version": "Bot API test", "methods": {
        "getMe": {"name": "getMe", "fields": [], "returns": ["User"]}}, "types": {}}))
    monkeypatch.setenv(SPEC_ENV_VAR, str(tiny))

    async with BotApiStandIn.running(rate_limits=RateLimits.off()) as standin:
        assert standin.spec is not None and standin.spec.version == "Bot API test"
        status, _ = await post_json(standin, "getMe", {})
        assert status == 200
        status, body = await post_json(standin, "sendMessage", {"chat_id": 1, "text": "x"})
        assert (status, body["description"]) == (404, "Not Found")


# -- exact refusals deep inside a request ------------------------------------------------------


async def send_with_buttons(
    standin: BotApiStandIn, rows: list[list[dict[str, object]]], **extra: object
) -> tuple[int, dict]:
    ann = standin.create_user("Ann")
    return await post_json(standin, "sendMessage", {
        "chat_id": ann.id, "text": "hi", "reply_markup": {"inline_keyboard": rows}, **extra})


async def test_a_wrong_type_in_a_button_is_refused_with_the_button_path(
    standin: BotApiStandIn,
) -> None:
    rows = [[{"text": "A", "callback_data": "a"}],
            [{"text": "B", "callback_data": "b"}, {"text": "C", "url": 5}]]
    assert await send_with_buttons(standin, rows) == (400, {
        "ok": False, "error_code": 400,
        "description": "Bad Request: reply_markup.inline_keyboard[1][1].url must be a String, "
                       "got 5"})

    status, body = await send_with_buttons(standin, [[{"text": "Go", "web_app": "https://x"}]])
    assert (status, body["description"]) == (
        400, "Bad Request: reply_markup.inline_keyboard[0][0].web_app must be a JSON object "
             "(WebAppInfo)")

    status, body = await send_with_buttons(standin, [{"text": "Go", "callback_data": "go"}])
    assert (status, body["description"]) == (
        400, "Bad Request: reply_markup.inline_keyboard[0] must be an array of "
             "InlineKeyboardButton")


async def test_a_missing_field_inside_a_button_is_refused_with_its_path(
    standin: BotApiStandIn,
) -> None:
    status, body = await send_with_buttons(standin, [[{"callback_data": "go"}]])
    assert (status, body["description"]) == (
        400, "Bad Request: parameter reply_markup.inline_keyboard[0][0].text is required")

    status, body = await send_with_buttons(standin, [[{"text": "Go", "web_app": {}}]])
    assert (status, body["description"]) == (
        400, "Bad Request: parameter reply_markup.inline_keyboard[0][0].web_app.url is required")
    assert standin.calls("sendMessage")[-1].ok is False


async def test_length_and_range_limits_are_refused_with_the_numbers(
    standin: BotApiStandIn,
) -> None:
    status, body = await send_with_buttons(standin, [[{"text": "Go", "callback_data": "x" * 65}]])
    assert (status, body["description"]) == (
        400, "Bad Request: BUTTON_DATA_INVALID (reply_markup.inline_keyboard[0][0].callback_data "
             "must be 1-64 bytes, got 65)")

    ann = standin.create_user("Bo")
    status, body = await post_json(standin, "sendMessage", {"chat_id": ann.id, "text": "a" * 4097})
    assert (status, body["description"]) == (
        400, "Bad Request: message is too long (text must be 1-4096 characters, got 4097)")
    status, body = await post_json(standin, "sendMessage", {
        "chat_id": ann.id, "text": "<b>" + "a" * 4097 + "</b>", "parse_mode": "HTML"})
    assert (status, body["description"]) == (
        400, "Bad Request: message is too long (text must be 1-4096 characters, got 4097)")

    status, body = await post_json(standin, "getUpdates", {"limit": 101})
    assert (status, body["description"]) == (400, "Bad Request: limit must be between 1 and 100")


async def test_an_unknown_field_inside_a_button_is_a_warning_with_its_path(
    standin: BotApiStandIn,
) -> None:
    status, _ = await send_with_buttons(
        standin, [[{"text": "Go", "callback_data": "go", "colour": "red"}]])

    assert status == 200
    assert standin.calls("sendMessage")[-1].warnings == (
        "reply_markup.inline_keyboard[0][0].colour is not a parameter of InlineKeyboardButton",)


async def test_a_refused_parameter_drops_its_own_warnings_and_keeps_the_others(
    standin: BotApiStandIn,
) -> None:
    rows = [[{"text": "Go", "callback_data": "go", "colour": "red"},
             {"text": "No", "callback_data": 5}]]

    status, body = await send_with_buttons(standin, rows, colour="blue")

    assert (status, body["description"]) == (
        400, "Bad Request: reply_markup.inline_keyboard[0][1].callback_data must be a String, "
             "got 5")
    assert standin.calls("sendMessage")[-1].warnings == (
        "colour is not a parameter of sendMessage",)


async def test_a_value_fitting_no_alternative_names_them_all(standin: BotApiStandIn) -> None:
    commands = [{"command": "start", "description": "Start"}]

    status, body = await post_json(standin, "setMyCommands",
                                   {"commands": commands, "scope": {"type": "chat", "chat_id": {}}})

    assert (status, body["description"]) == (
        400, "Bad Request: scope.chat_id must be Integer or String")


async def test_a_form_encoded_object_must_be_valid_json(standin: BotApiStandIn) -> None:
    ann = standin.create_user("Ann")
    url = f"{standin.base_url}/bot{standin.token}/sendMessage"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data={"chat_id": str(ann.id), "text": "hi",
                                        "link_preview_options": "{"}) as response:
            status, body = response.status, await response.json()
        assert status == 400
        assert body["description"].startswith(
            "Bad Request: link_preview_options is not valid JSON: ")
        # a union's members all fail on the text alike, so all are named
        async with http.post(url, data={"chat_id": str(ann.id), "text": "hi",
                                        "reply_markup": "{"}) as response:
            status, body = response.status, await response.json()
        assert (status, body["description"]) == (
            400, "Bad Request: reply_markup must be InlineKeyboardMarkup or ReplyKeyboardMarkup "
                 "or ReplyKeyboardRemove or ForceReply")

    assert ann.history() == []
