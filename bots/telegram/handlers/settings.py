"""`/language`: show the language picker, or switch at once with `/language en`."""

from __future__ import annotations

from dataclasses import replace

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, Update

from bots.i18n import gettext
from bots.telegram.callbacks import LanguageCallback
from bots.telegram.keyboards import language_keyboard
from bots.telegram.middlewares import Actor, ActorCache
from core.identity.commands import SetLocale
from core.messagebus import MessageBus


def router() -> Router:
    settings = Router(name="settings")
    settings.message.filter(F.chat.type == "private")
    settings.message.register(on_language_command, Command("language"))
    settings.callback_query.register(on_language_chosen, LanguageCallback.filter())
    return settings


async def on_language_command(
    message: Message,
    command: CommandObject,
    actor: Actor,
    locale: str,
    bus: MessageBus,
    actor_cache: ActorCache,
    event_update: Update,
) -> None:
    if not command.args:
        await message.answer(
            gettext("tg.language.choose", locale), reply_markup=language_keyboard(locale)
        )
        return
    user = await bus.handle(
        SetLocale(
            user_id=actor.user_id,
            locale=command.args.strip().lower(),
            actor_id=actor.user_id,
            idempotency_key=f"tg:{event_update.update_id}",
        )
    )
    actor_cache.put(replace(actor, locale=user.locale))
    await message.answer(gettext("tg.language.changed", user.locale))


async def on_language_chosen(
    callback: CallbackQuery,
    callback_data: LanguageCallback,
    actor: Actor,
    bus: MessageBus,
    actor_cache: ActorCache,
) -> None:
    user = await bus.handle(
        SetLocale(
            user_id=actor.user_id,
            locale=callback_data.locale,
            actor_id=actor.user_id,
            idempotency_key=f"tg:cb:{callback.id}",
        )
    )
    actor_cache.put(replace(actor, locale=user.locale))
    text = gettext("tg.language.changed", user.locale)
    if isinstance(callback.message, Message):
        await callback.message.edit_text(text)
    await callback.answer(text)
