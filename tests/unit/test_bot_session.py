"""What the bot sends to the Bot API and what it makes of the answers: the session's own body
encoder writes exactly the bytes aiogram's `prepare_value` gave, and its answer reader returns
the same objects, bound to the bot, and raises the same errors as aiogram's `check_response`."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session import base as aiogram_session
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    BanChatMember,
    CopyMessage,
    CreateChatInviteLink,
    EditMessageLiveLocation,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    RestrictChatMember,
    SendChatAction,
    SendInvoice,
    SendLocation,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import (
    BufferedInputFile,
    ChatPermissions,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    KeyboardButton,
    LabeledPrice,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    TelegramObject,
)
from aiogram.types.base import UNSET
from aiohttp import BytesPayload, FormData
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bots.telegram.session import BotApiSession
from bots.telegram.standin import BotApiStandIn, RateLimits

# -- the body ---------------------------------------------------------------------------------


def reference_body(session: BotApiSession, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
    """The body as the session built it before: aiogram's `prepare_value` over every field of
    `model_dump`, None and "" left out. None where a file makes it a form."""
    files: dict[str, Any] = {}
    fields = {}
    for key, value in method.model_dump(warnings=False).items():
        prepared = session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        if prepared is not None and prepared != "":
            fields[key] = prepared
    return None if files else session.json_dumps(fields).encode()


class _FrozenClockType(type):
    def __instancecheck__(cls, value: object) -> bool:
        return isinstance(value, datetime.datetime)


class _FrozenDatetime(datetime.datetime, metaclass=_FrozenClockType):
    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> Any:
        return datetime.datetime(2031, 5, 17, 12, 0, 30, tzinfo=tz)


@contextmanager
def frozen_now() -> Iterator[None]:
    """aiogram turns a timedelta into "now + delta": both encoders see the same now."""
    clock = SimpleNamespace(datetime=_FrozenDatetime, timedelta=datetime.timedelta)
    with mock.patch.object(aiogram_session, "datetime", clock):
        yield


def body(session: BotApiSession, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
    payload = session.build_form_data(bot, method)
    if isinstance(payload, FormData):
        return None
    assert isinstance(payload, BytesPayload)
    assert payload.content_type == "application/json"
    return bytes(payload._value)


def assert_same_body(bot: Bot, method: TelegramMethod[Any]) -> None:
    session = bot.session
    assert isinstance(session, BotApiSession)
    with frozen_now():
        assert body(session, bot, method) == reference_body(session, bot, method)


ABSENT: Any = UNSET  # aiogram drops an UNSET argument: the field keeps its Default(...)
texts = st.text(max_size=12)
maybe_texts = st.none() | texts
maybe_bools = st.sampled_from([None, True, False])
defaultable_bools = st.sampled_from([ABSENT, None, True, False])
parse_modes = st.sampled_from([ABSENT, None, "HTML", "MarkdownV2", ""])
chat_ids = st.integers(-(10**13), 10**13) | texts.map(lambda name: f"@{name}")
dates = st.datetimes(
    min_value=datetime.datetime(2001, 1, 1), max_value=datetime.datetime(2090, 1, 1),
    timezones=st.none() | st.just(datetime.UTC),
)
until = st.none() | dates | st.timedeltas(
    min_value=datetime.timedelta(0), max_value=datetime.timedelta(days=400)
) | st.integers(0, 2**31)

entities = st.lists(st.builds(
    MessageEntity, type=st.sampled_from(["bold", "url", "text_link", "custom_emoji", "code"]),
    offset=st.integers(0, 50), length=st.integers(1, 50),
    url=st.none() | st.just("https://example.com/a?b=c"), language=maybe_texts,
), max_size=3)
inline_buttons = st.builds(
    InlineKeyboardButton, text=texts, callback_data=maybe_texts,
    url=st.none() | st.just("https://t.me/yueban"), pay=maybe_bools,
)
inline_keyboards = st.builds(
    InlineKeyboardMarkup, inline_keyboard=st.lists(st.lists(inline_buttons, max_size=3), max_size=5)
)
reply_markups = st.none() | inline_keyboards | st.builds(
    ReplyKeyboardMarkup, keyboard=st.lists(st.lists(st.builds(KeyboardButton, text=texts),
                                                    min_size=1, max_size=3), max_size=3),
    resize_keyboard=maybe_bools, one_time_keyboard=maybe_bools,
    input_field_placeholder=maybe_texts,
) | st.builds(ReplyKeyboardRemove, selective=maybe_bools) | st.builds(
    ForceReply, input_field_placeholder=maybe_texts
)
link_previews = st.sampled_from([ABSENT, None]) | st.builds(
    LinkPreviewOptions, is_disabled=defaultable_bools, url=maybe_texts,
    prefer_small_media=defaultable_bools, show_above_text=defaultable_bools,
)
reply_parameters = st.none() | st.builds(
    ReplyParameters, message_id=st.integers(1, 10**6), chat_id=st.none() | chat_ids,
    allow_sending_without_reply=defaultable_bools, quote=maybe_texts,
    quote_parse_mode=parse_modes, quote_entities=st.none() | entities,
)
photos = st.builds(
    InputMediaPhoto, media=texts, caption=maybe_texts, parse_mode=parse_modes,
    caption_entities=st.none() | entities, show_caption_above_media=defaultable_bools,
    has_spoiler=maybe_bools,
)
documents = st.builds(InputMediaDocument, media=texts, caption=maybe_texts, parse_mode=parse_modes)

methods = st.one_of(
    st.builds(
        SendMessage, chat_id=chat_ids, text=texts, parse_mode=parse_modes,
        entities=st.none() | entities, link_preview_options=link_previews,
        disable_notification=maybe_bools, protect_content=defaultable_bools,
        reply_parameters=reply_parameters, reply_markup=reply_markups,
        message_thread_id=st.none() | st.integers(1, 10**6),
    ),
    st.builds(
        EditMessageText, text=texts, chat_id=st.none() | chat_ids,
        message_id=st.none() | st.integers(1, 10**6), inline_message_id=maybe_texts,
        parse_mode=parse_modes, entities=st.none() | entities,
        link_preview_options=link_previews, reply_markup=st.none() | inline_keyboards,
    ),
    st.builds(
        AnswerCallbackQuery, callback_query_id=texts, text=maybe_texts, show_alert=maybe_bools,
        url=st.none() | st.just("https://t.me/yueban?start=x"),
        cache_time=st.none() | st.integers(0, 3600),
    ),
    st.builds(
        CopyMessage, chat_id=chat_ids, from_chat_id=chat_ids, message_id=st.integers(1, 10**6),
        caption=maybe_texts, parse_mode=parse_modes, caption_entities=st.none() | entities,
        protect_content=defaultable_bools, reply_markup=reply_markups,
        reply_parameters=reply_parameters,
        video_start_timestamp=st.none() | st.integers(0, 600),
    ),
    st.builds(
        SendInvoice, chat_id=chat_ids, title=texts, description=texts, payload=texts,
        currency=st.sampled_from(["CNY", "XTR", "USD"]),
        prices=st.lists(st.builds(LabeledPrice, label=texts, amount=st.integers(-10**6, 10**9)),
                        min_size=1, max_size=4),
        max_tip_amount=st.none() | st.integers(0, 10**6),
        suggested_tip_amounts=st.none() | st.lists(st.integers(1, 10**6), max_size=4),
        need_name=maybe_bools, is_flexible=maybe_bools, protect_content=defaultable_bools,
        reply_markup=st.none() | inline_keyboards,
    ),
    st.builds(
        SendLocation, chat_id=chat_ids, latitude=st.floats(-90, 90),
        longitude=st.floats(-180, 180), live_period=st.none() | st.integers(60, 86400),
        horizontal_accuracy=st.none() | st.floats(0, 1500), heading=st.none() | st.integers(1, 360),
        reply_markup=reply_markups,
    ),
    st.builds(
        EditMessageLiveLocation, latitude=st.floats(-90, 90), longitude=st.floats(-180, 180),
        chat_id=st.none() | chat_ids, message_id=st.none() | st.integers(1, 10**6),
        live_period=st.none() | st.integers(60, 86400), reply_markup=st.none() | inline_keyboards,
    ),
    st.builds(
        SendMediaGroup, chat_id=chat_ids,
        media=st.lists(photos, min_size=1, max_size=4) | st.lists(documents, min_size=1,
                                                                   max_size=3),
        protect_content=defaultable_bools, reply_parameters=reply_parameters,
    ),
    st.builds(
        BanChatMember, chat_id=chat_ids, user_id=st.integers(1, 10**10), until_date=until,
        revoke_messages=maybe_bools,
    ),
    st.builds(
        RestrictChatMember, chat_id=chat_ids, user_id=st.integers(1, 10**10),
        permissions=st.builds(ChatPermissions, can_send_messages=maybe_bools,
                              can_send_photos=maybe_bools),
        until_date=until,
    ),
    st.builds(
        CreateChatInviteLink, chat_id=chat_ids, name=maybe_texts, expire_date=until,
        member_limit=st.none() | st.integers(1, 99999),
    ),
    st.builds(SendChatAction, chat_id=chat_ids, action=st.sampled_from(["typing", "upload_photo"])),
)
bot_defaults = st.builds(
    DefaultBotProperties, parse_mode=st.sampled_from([None, "HTML", "MarkdownV2"]),
    protect_content=maybe_bools, link_preview_is_disabled=maybe_bools,
    link_preview_prefer_small_media=maybe_bools, show_caption_above_media=maybe_bools,
    allow_sending_without_reply=maybe_bools,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=methods, defaults=bot_defaults)
def test_the_json_body_is_byte_for_byte_what_aiogram_would_have_sent(
    method: TelegramMethod[Any], defaults: DefaultBotProperties
) -> None:
    bot = Bot("42:secret", session=BotApiSession("http://127.0.0.1:1"), default=defaults)
    assert_same_body(bot, method)


def test_a_keyboard_message_keeps_its_fields_in_aiogram_s_order_with_defaults_resolved() -> None:
    bot = Bot("42:secret", session=BotApiSession("http://127.0.0.1:1"),
              default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True))
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="接单", callback_data="accept:7"),
        InlineKeyboardButton(text="Details", url="https://t.me/yueban"),
    ]])
    method = SendMessage(chat_id=5, text="新订单 <b>#7</b>", reply_markup=keyboard,
                         protect_content=False)
    sent = body(bot.session, bot, method)  # type: ignore[arg-type]
    assert sent == reference_body(bot.session, bot, method)  # type: ignore[arg-type]
    assert sent is not None
    assert json.loads(sent) == {
        "chat_id": 5, "text": "新订单 <b>#7</b>", "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True}, "protect_content": False,
        "reply_markup": {"inline_keyboard": [[
            {"text": "接单", "callback_data": "accept:7"},
            {"text": "Details", "url": "https://t.me/yueban"},
        ]]},
        "disable_web_page_preview": True,
    }
    assert list(json.loads(sent)) == [
        "chat_id", "text", "parse_mode", "link_preview_options", "protect_content",
        "reply_markup", "disable_web_page_preview",
    ]


def test_dates_go_as_unix_time_as_aiogram_sends_them() -> None:
    bot = Bot("42:secret", session=BotApiSession("http://127.0.0.1:1"))
    ban = BanChatMember(chat_id=-100, user_id=7,
                        until_date=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))
    assert json.loads(body(bot.session, bot, ban) or b"")["until_date"] == "1893456000"  # type: ignore[arg-type]
    later = BanChatMember(chat_id=-100, user_id=7, until_date=datetime.timedelta(minutes=10))
    with frozen_now():
        sent = json.loads(body(bot.session, bot, later) or b"")  # type: ignore[arg-type]
    assert sent["until_date"] == str(round((_FrozenDatetime.now() + datetime.timedelta(minutes=10))
                                           .timestamp()))


def test_a_call_with_a_file_still_goes_as_a_form() -> None:
    bot = Bot("42:secret", session=BotApiSession("http://127.0.0.1:1"))
    photo = SendPhoto(chat_id=5, photo=BufferedInputFile(b"\x89PNG", "a.png"), caption="hi")
    assert isinstance(bot.session.build_form_data(bot, photo), FormData)
    album = SendMediaGroup(chat_id=5, media=[
        InputMediaPhoto(media=BufferedInputFile(b"\x89PNG", "a.png")),
        InputMediaPhoto(media="AgADfileid"),
    ])
    assert isinstance(bot.session.build_form_data(bot, album), FormData)


# -- the answer -------------------------------------------------------------------------------


def same_objects(left: Any, right: Any, bot: Bot) -> None:
    """Equal values, the same types all the way down, the same fields marked as set, and
    every Telegram object bound to the bot."""
    assert type(left) is type(right)
    if isinstance(left, BaseModel):
        assert left == right
        assert left.model_fields_set == right.model_fields_set
        if isinstance(left, TelegramObject):
            assert left.bot is bot
        for name in left.model_fields_set:
            same_objects(getattr(left, name), getattr(right, name), bot)
    elif isinstance(left, list | tuple):
        assert len(left) == len(right)
        for one, other in zip(left, right, strict=True):
            same_objects(one, other, bot)
    else:
        assert left == right


RICH_MESSAGE = {
    "message_id": 77, "date": 1795350821, "edit_date": 1795350900,
    "from": {"id": 7000000001, "is_bot": True, "first_name": "Yueban",
             "username": "yueban_test_bot"},
    "chat": {"id": -1001234567890, "type": "supergroup", "title": "运营", "is_forum": True},
    "message_thread_id": 12, "is_topic_message": True,
    "text": "新订单 #7 — 点这里", "caption_entities": None,
    "entities": [{"type": "bold", "offset": 0, "length": 3},
                 {"type": "text_link", "offset": 10, "length": 2, "url": "https://t.me/x"}],
    "reply_to_message": {"message_id": 70, "date": 1795350000,
                         "chat": {"id": -1001234567890, "type": "supergroup", "title": "运营"},
                         "photo": [{"file_id": "AgA1", "file_unique_id": "u1", "width": 90,
                                    "height": 90, "file_size": 1200},
                                   {"file_id": "AgA2", "file_unique_id": "u2", "width": 800,
                                    "height": 800}],
                         "caption": "照片"},
    "forward_origin": {"type": "user", "date": 1795340000,
                       "sender_user": {"id": 5, "is_bot": False, "first_name": "Li"}},
    "link_preview_options": {"is_disabled": True},
    "location": {"latitude": 31.2304, "longitude": 121.4737, "horizontal_accuracy": 12.5},
    "reply_markup": {"inline_keyboard": [[{"text": "接单", "callback_data": "accept:7"},
                                          {"text": "Open", "url": "https://t.me/yueban"}]]},
    "some_future_field": {"nested": [1, 2, 3]},
}


def canned_answers() -> list[tuple[TelegramMethod[Any], str]]:
    def ok(result: Any) -> str:
        return json.dumps({"ok": True, "result": result})

    return [
        (SendMessage(chat_id=5, text="x"), ok(RICH_MESSAGE)),
        (EditMessageText(chat_id=5, message_id=77, text="x"), ok(RICH_MESSAGE)),
        (EditMessageText(inline_message_id="abc", text="x"), ok(True)),
        (EditMessageReplyMarkup(chat_id=5, message_id=77), '{"ok":true,"result":true}'),
        (AnswerCallbackQuery(callback_query_id="1"), '{"ok":true,"result":true}'),
        (CopyMessage(chat_id=5, from_chat_id=6, message_id=7), ok({"message_id": 9})),
        (SendMediaGroup(chat_id=5, media=[InputMediaPhoto(media="AgA1")]),
         ok([RICH_MESSAGE, {**RICH_MESSAGE, "message_id": 78}])),
        (GetMe(), ok(RICH_MESSAGE["from"])),
    ]


@pytest.mark.parametrize(("method", "content"), canned_answers())
def test_an_answer_reads_as_the_same_objects_bound_to_the_bot(
    method: TelegramMethod[Any], content: str
) -> None:
    session = BotApiSession("http://127.0.0.1:1")
    bot = Bot("42:secret", session=session)
    read = session.check_response(bot, method, 200, content)
    expected = BaseSession.check_response(session, bot, method, 200, content)
    same_objects(read, expected, bot)


ERROR_ANSWERS = [
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"},
     TelegramBadRequest),
    (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
     TelegramForbiddenError),
    (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
           "parameters": {"retry_after": 7}}, TelegramRetryAfter),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: group upgraded",
           "parameters": {"migrate_to_chat_id": -1009}}, TelegramMigrateToChat),
    (200, {"ok": False, "error_code": 420, "description": "odd"}, TelegramAPIError),
    (200, "not json {", ClientDecodeError),
    (200, {"ok": True, "result": {"message_id": "not a number"}}, ClientDecodeError),
    (200, {"result": True}, ClientDecodeError),
]


@pytest.mark.parametrize(("status", "answer", "error"), ERROR_ANSWERS)
def test_a_refusal_raises_what_aiogram_raises(
    status: int, answer: Any, error: type[Exception]
) -> None:
    session = BotApiSession("http://127.0.0.1:1")
    bot = Bot("42:secret", session=session)
    method = SendMessage(chat_id=5, text="x")
    content = answer if isinstance(answer, str) else json.dumps(answer)
    with pytest.raises(error) as ours:
        session.check_response(bot, method, status, content)
    with pytest.raises(error) as aiogram_s:
        BaseSession.check_response(session, bot, method, status, content)
    assert type(ours.value) is type(aiogram_s.value)
    assert str(ours.value) == str(aiogram_s.value)
    assert getattr(ours.value, "retry_after", None) == getattr(aiogram_s.value, "retry_after", None)
    assert getattr(ours.value, "migrate_to_chat_id", None) == getattr(
        aiogram_s.value, "migrate_to_chat_id", None
    )


async def test_a_returned_message_answers_through_the_bot_that_sent_it() -> None:
    async with BotApiStandIn.running(rate_limits=RateLimits.off()) as standin:
        user = standin.create_user("Li")
        bot = Bot(standin.token, session=BotApiSession(standin.base_url))
        try:
            keyboard = InlineKeyboardMarkup(inline_keyboard=[[
                InlineKeyboardButton(text="接单", callback_data="accept:7")]])
            sent = await bot.send_message(user.id, "新订单", reply_markup=keyboard)
            edited = await bot.edit_message_text(
                text="已接单", chat_id=user.id, message_id=sent.message_id, reply_markup=keyboard
            )
            assert isinstance(edited, Message) and edited.text == "已接单"
            assert edited.reply_markup is not None
            assert edited.reply_markup.model_dump() == keyboard.model_dump()
            await edited.answer("谢谢")
            tap = await user.tap(edited.message_id, "接单")
            assert await bot.answer_callback_query(tap.id, text="好的") is True
            assert (await tap.answer())["text"] == "好的"
        finally:
            await bot.session.close()
        assert [m["text"] for m in user.bot_messages()] == ["已接单", "谢谢"]
