"""`TelegramMessenger`: the core's `Messenger` port for Telegram.

A `Notice` becomes plain text in the recipient's language (parameters filled in: money
formatted, times shown in the recipient's time zone) with its actions as an inline keyboard.
Text over Telegram's 4096-character limit is split at paragraph, line or word boundaries
into several messages; the keyboard goes with the last one. No parse mode is used, so
nothing a person typed (a name, a note) can break the message's markup.

Outcomes: a message Telegram accepted is `delivered`; a user who blocked the bot (403) or a
chat Telegram does not know is an undelivered result with a `failure` the caller reports
to the core; flood control is waited out by the session's rate limiter. Network trouble
raises, so the caller retries later.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup

from bots.i18n import gettext
from bots.telegram.keyboards import keyboard_for
from core.ports import ChannelAddress, DeliveryResult
from core.shared.messages import Notice
from core.shared.money import Money

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096


def utf16_length(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji may count twice)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut at the last paragraph, line or space."""
    if limit < 2:
        raise ValueError("limit must allow at least one character")
    pieces: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        cut = _longest_prefix(rest, limit)
        window = rest[:cut]
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            # Cutting in the first half would make a very short piece; cut hard instead.
            if at > cut // 2:
                cut = at + len(separator)
                break
        pieces.append(rest[:cut].rstrip() or rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _longest_prefix(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def chat_ref(chat_id: str) -> int | str:
    """Numeric chat ids as numbers; `@channelname` as it is."""
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


def render_params(params: dict[str, Any], timezone: str) -> dict[str, Any]:
    """Notice parameters as text: money formatted, instants in the reader's time zone."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    rendered: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Money):
            rendered[name] = value.format()
        elif isinstance(value, datetime) and value.tzinfo is not None:
            rendered[name] = value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        else:
            rendered[name] = value
    return rendered


def render_notice(notice: Notice, address: ChannelAddress) -> tuple[str, InlineKeyboardMarkup | None]:
    text = gettext(notice.key, address.locale, **render_params(notice.params, address.timezone))
    return text, keyboard_for(notice.actions, address.locale)


class TelegramMessenger:
    platform = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def deliver(self, notice: Notice, address: ChannelAddress) -> DeliveryResult:
        text, keyboard = render_notice(notice, address)
        pieces = split_text(text)
        last_message_id: int | None = None
        try:
            for index, piece in enumerate(pieces):
                message = await self.bot.send_message(
                    chat_id=chat_ref(address.chat_id),
                    text=piece,
                    reply_markup=keyboard if index == len(pieces) - 1 else None,
                )
                last_message_id = message.message_id
        except TelegramForbiddenError as error:
            log.info("notice %s not delivered to chat %s: %s", notice.key, address.chat_id, error)
            return DeliveryResult(delivered=False, failure="blocked")
        except TelegramBadRequest as error:
            if "chat not found" in error.message.lower():
                return DeliveryResult(delivered=False, failure="chat_not_found")
            log.error("Telegram refused notice %s: %s", notice.key, error.message)
            return DeliveryResult(delivered=False, failure="rejected")
        return DeliveryResult(delivered=True, channel_message_id=str(last_message_id))
