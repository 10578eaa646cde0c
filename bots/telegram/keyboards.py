"""Inline keyboards: notice actions rendered as buttons, and the keyboards of the small flows.

A notice's actions are abstract ("accept order 42"); here each becomes one button whose label
is the translated `label_key` (or `action.<kind>`), and whose payload is packed by
`callbacks.encode_action`. An action with a `url` argument becomes a link button.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bots.i18n import LOCALES, gettext
from bots.telegram.callbacks import LanguageCallback, UnencodableAction, encode_action
from core.shared.messages import Action

log = logging.getLogger(__name__)

def action_label(action: Action, locale: str) -> str:
    key = action.label_key or f"action.{action.kind}"
    return gettext(key, locale, **action.args)


def action_button(action: Action, locale: str) -> InlineKeyboardButton:
    label = action_label(action, locale)
    url = action.args.get("url")
    if isinstance(url, str):
        return InlineKeyboardButton(text=label, url=url)
    return InlineKeyboardButton(text=label, callback_data=encode_action(action))


def keyboard_for(actions: Sequence[Action], locale: str) -> InlineKeyboardMarkup | None:
    """One button per row, in the order the core gave; None when there is nothing to press."""
    rows: list[list[InlineKeyboardButton]] = []
    for action in actions:
        try:
            rows.append([action_button(action, locale)])
        except UnencodableAction:
            # The text still goes out; a button we cannot encode would be refused by Telegram
            # and take the whole message with it.
            log.exception("notice action %r left out of the keyboard", action.kind)
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def language_keyboard(current: str) -> InlineKeyboardMarkup:
    # Each language is named in its own script, whatever the current locale.
    buttons = [
        InlineKeyboardButton(
            text=("✓ " if code == current else "") + gettext(f"tg.language.name.{code}", code),
            callback_data=LanguageCallback(locale=code).pack(),
        )
        for code in LOCALES
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])
