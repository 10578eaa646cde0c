"""What nothing else matched: a stale or unknown button, or a message we do not understand.

A button from an old message (its flow changed, its callback data no longer parses, or no
handler claims it) must not leave the person's client spinning: it gets an alert saying
the button no longer works.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bots.i18n import gettext


def router() -> Router:
    fallback = Router(name="fallback")
    fallback.callback_query.register(on_stale_button)
    fallback.message.register(on_unknown_message, F.chat.type == "private")
    return fallback


async def on_stale_button(callback: CallbackQuery, locale: str) -> None:
    await callback.answer(gettext("tg.button.stale", locale), show_alert=True)


async def on_unknown_message(message: Message, locale: str) -> None:
    await message.answer(gettext("tg.unknown_message", locale))
