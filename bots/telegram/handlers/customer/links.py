"""`/start` with a payload: the links people share.

- `p_<id>`: a provider's share link opens their card.
- `r_<id>`: a referral. There is no referral programme yet, so the person is welcomed and
  told so plainly (the inviter's name is shown when the link is genuine).
- `e_<id>`: an event check-in. Events do not exist yet either; the person is told so.
- Anything else is named as a link that does not work.
"""

from __future__ import annotations

import re

from aiogram import Bot, F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bots.i18n import gettext
from bots.telegram.handlers.customer import browse
from bots.telegram.handlers.customer.common import leave, t
from bots.telegram.middlewares import Actor
from core.identity.commands import GetUser
from core.messagebus import MessageBus
from core.shared.errors import NotFound

PAYLOAD = re.compile(r"^([pre])_(\d{1,18})$")


def router() -> Router:
    links = Router(name="customer.links")
    links.message.register(on_link, CommandStart(deep_link=True), F.chat.type == "private")
    return links


async def on_link(
    message: Message,
    command: CommandObject,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    bot: Bot,
    state: FSMContext,
) -> None:
    await leave(state)
    match = PAYLOAD.match((command.args or "").strip())
    if match is None:
        await message.answer(t("link.unknown", locale))
        return
    kind, number = match.group(1), int(match.group(2))
    if kind == "p":
        await browse.send_card(bot, actor, bus, locale, number)
        return
    await message.answer(gettext("tg.start.welcome", locale, name=actor.display_name))
    if kind == "e":
        await message.answer(t("link.event_unavailable", locale))
        return
    try:
        inviter = await bus.handle(GetUser(user_id=number, actor_id=actor.user_id))
    except NotFound:
        await message.answer(t("link.referral_unknown", locale))
        return
    if inviter.id == actor.user_id:
        await message.answer(t("link.referral_self", locale))
        return
    await message.answer(t("link.referral", locale, name=inviter.display_name))
