"""`/start` and `/help`: the first contact. The middleware has already registered the person."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bots.i18n import gettext
from bots.telegram.middlewares import Actor


def router() -> Router:
    start = Router(name="start")
    start.message.filter(F.chat.type == "private")
    start.message.register(on_start, CommandStart())
    start.message.register(on_help, Command("help"))
    return start


async def on_start(message: Message, actor: Actor, locale: str) -> None:
    await message.answer(gettext("tg.start.welcome", locale, name=actor.display_name))


async def on_help(message: Message, locale: str) -> None:
    await message.answer(gettext("tg.help", locale))
