"""The small flow, end to end over HTTP: /start registers the person and answers in their
language, /language switches it, duplicates have one effect, stale buttons are answered."""

from __future__ import annotations

import logging

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bots.i18n import gettext, render_error
from core.identity.commands import SetLocale
from core.shared.errors import DomainError
from tests.adapters.telegram.conftest import RunningBot


async def test_start_answers_in_chinese_for_a_chinese_telegram_client(tg: RunningBot) -> None:
    mei = tg.standin.create_user("美美", language_code="zh-hans")
    await mei.start()
    reply = await mei.next_message()
    assert reply["text"] == gettext("tg.start.welcome", "zh", name="美美")
    assert "欢迎来到约伴" in reply["text"]


async def test_start_answers_in_english_and_registers_the_person(tg: RunningBot) -> None:
    ann = tg.standin.create_user("Ann", last_name="Lee", language_code="en")
    await ann.start()
    reply = await ann.next_message()
    assert reply["text"].startswith("Hi Ann Lee, welcome to Yueban!")
    async with tg.runtime.uow_factory() as uow:
        user = await uow.users.get_by_channel("telegram", str(ann.id))
    assert user is not None
    assert (user.display_name, user.locale) == ("Ann Lee", "en")
    assert [(a.platform, a.chat_id) for a in user.accounts] == [("telegram", str(ann.id))]


async def test_language_picker_switches_the_language_for_good(tg: RunningBot) -> None:
    mei = tg.standin.create_user("Mei", language_code="zh")
    await mei.send_text("/language")
    picker = await mei.next_message()
    assert picker["text"] == "请选择语言："
    tap = await mei.tap(picker, "English")
    answer = await tap.answer()
    assert answer["text"] == "Done: I will speak English from now on."
    assert mei.message(picker["message_id"])["text"] == "Done: I will speak English from now on."

    await mei.start()
    assert (await mei.next_message())["text"].startswith("Hi Mei, welcome")
    async with tg.runtime.uow_factory() as uow:
        user = await uow.users.get_by_channel("telegram", str(mei.id))
    assert user is not None and user.locale == "en"


async def test_language_command_with_an_argument_switches_at_once(tg: RunningBot) -> None:
    ann = tg.standin.create_user("Ann", language_code="en")
    await ann.send_text("/language zh")
    assert (await ann.next_message())["text"] == "好的，以后我会用中文和你交流。"


async def test_an_unknown_language_is_refused_clearly_and_changes_nothing(tg: RunningBot) -> None:
    ann = tg.standin.create_user("Ann", language_code="en")
    await ann.send_text("/language fr")
    reply = await ann.next_message()
    expected = render_error(
        DomainError("error.user.unsupported_locale", locale="fr", locales="zh, en"), "en"
    )
    assert reply["text"] == expected
    assert expected != gettext("error.generic", "en")
    async with tg.runtime.uow_factory() as uow:
        user = await uow.users.get_by_channel("telegram", str(ann.id))
    assert user is not None and user.locale == "en"


async def test_a_duplicated_update_has_one_effect(tg: RunningBot) -> None:
    tg.standin.duplicate_updates = True
    ann = tg.standin.create_user("Ann", language_code="en")
    await ann.send_text("/language zh")
    await tg.settle()
    assert tg.service.endpoint is not None and tg.service.endpoint.accepted == 2
    replies = ann.bot_messages()
    assert [m["text"] for m in replies] == ["好的，以后我会用中文和你交流。"]
    parts = tg.service.dispatcher["parts"]
    assert parts.deduplication.duplicates == 1


async def test_a_button_nobody_handles_any_more_gets_a_clear_answer(tg: RunningBot) -> None:
    ann = tg.standin.create_user("Ann", language_code="en")
    await ann.start()
    await ann.next_message()
    old = await tg.service.bot.send_message(
        ann.chat_id,
        "An order card from an older release",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Accept", callback_data="v1:accept:7")]]
        ),
    )
    tap = await ann.tap(old.message_id, "Accept")
    answer = await tap.answer()
    assert answer["text"] == gettext("tg.button.stale", "en")
    assert answer["show_alert"] is True


async def test_a_refused_button_is_answered_with_the_reason(tg: RunningBot) -> None:
    mei = tg.standin.create_user("Mei", language_code="zh")
    await mei.start()
    await mei.next_message()
    forged = await tg.service.bot.send_message(
        mei.chat_id,
        "language",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Klingon", callback_data="lang:tlh")]]
        ),
    )
    answer = await (await mei.tap(forged.message_id, "Klingon")).answer()
    assert answer["text"] == render_error(
        DomainError("error.user.unsupported_locale", locale="tlh", locales="zh, en"), "zh"
    )
    assert answer["show_alert"] is True



async def test_a_bug_in_the_core_is_answered_in_the_persons_language_and_changes_nothing(
    tg: RunningBot, caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(command: SetLocale, uow: object) -> None:
        raise RuntimeError("a bug")

    tg.runtime.bus.command_handlers[SetLocale] = broken
    mei = tg.standin.create_user("Mei", language_code="zh")
    with caplog.at_level(logging.ERROR, logger="bots.telegram.errors"):
        await mei.send_text("/language en")
        assert (await mei.next_message())["text"] == gettext("error.generic", "zh")
        await mei.send_text("/language")
        picker = await mei.next_message()
        tap = await mei.tap(picker, "English")
        answer = await tap.answer()
    assert answer["text"] == gettext("error.generic", "zh")
    assert mei.message(picker["message_id"])["text"] == picker["text"]
    assert "RuntimeError: a bug" in caplog.text
    async with tg.runtime.uow_factory() as uow:
        user = await uow.users.get_by_channel("telegram", str(mei.id))
    assert user is not None and user.locale == "zh"
