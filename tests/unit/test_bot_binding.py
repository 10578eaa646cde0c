"""Telegram objects tied to their bot in one step leave every object as aiogram's chain does."""

from __future__ import annotations

import json
from typing import Any

from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, TelegramObject, Update
from pydantic import PrivateAttr

from bots.telegram.binding import bind_bots_directly

KEYBOARD = {"inline_keyboard": [
    [{"text": f"Provider {n}", "callback_data": f"cp:{n}:card"}] for n in range(3)
] + [[{"text": "◀", "callback_data": "cb:1:p:0"}, {"text": "▶", "callback_data": "cb:1:p:2"}]]}
TAP = {"update_id": 7, "callback_query": {
    "id": "42", "chat_instance": "9", "data": "cp:1:card",
    "from": {"id": 5, "is_bot": False, "first_name": "Carl", "language_code": "en"},
    "message": {
        "message_id": 3, "date": 1_700_000_000, "text": "Providers",
        "chat": {"id": 5, "type": "private", "first_name": "Carl"},
        "from": {"id": 1, "is_bot": True, "first_name": "Yueban", "username": "yueban_bot"},
        "reply_markup": KEYBOARD,
    },
}}


def objects_in(value: Any) -> list[TelegramObject]:
    """Every Telegram object inside `value`, itself included."""
    found = []
    if isinstance(value, TelegramObject):
        found.append(value)
        value = [getattr(value, name) for name in type(value).model_fields]
    if isinstance(value, list | tuple):
        for item in value:
            found.extend(objects_in(item))
    return found


def private_state(value: Any) -> list[tuple[str, dict[str, Any] | None]]:
    return [(type(o).__name__, o.__pydantic_private__) for o in objects_in(value)]


def parsed(bot: Bot | None) -> Update:
    return Update.model_validate_json(json.dumps(TAP), context={"bot": bot} if bot else None)


def test_objects_are_left_exactly_as_the_chain_leaves_them() -> None:
    bot = Bot("123:abc")
    # Whatever ran first in this process, compare with aiogram's own chain, put back.
    from aiogram.client import context_controller

    assert len(_ORIGINAL_CHAIN) > 100, "read after something in this process replaced the chain"
    chain_update = _with_the_chain(context_controller, lambda: parsed(bot))
    chain_button = _with_the_chain(context_controller, lambda: InlineKeyboardButton(
        text="x", callback_data="y"))
    bind_bots_directly()

    update = parsed(bot)
    assert update == chain_update
    assert private_state(update) == private_state(chain_update)
    assert len(objects_in(update)) == 12  # every button of the keyboard was checked
    assert all(o.bot is bot for o in objects_in(update))
    assert update.callback_query.message.reply_markup.inline_keyboard[1][0].bot is bot

    button = InlineKeyboardButton(text="x", callback_data="y")
    assert private_state(button) == private_state(chain_button) == [
        ("InlineKeyboardButton", {"_bot": None})]
    assert all(o.bot is None for o in objects_in(parsed(None)))
    markup = InlineKeyboardMarkup(inline_keyboard=[[button]]).as_(bot)
    assert markup.bot is bot


def _with_the_chain(module: Any, make: Any) -> Any:
    """`make()` with every class's `model_post_init` back to pydantic's chain."""
    from bots.telegram import binding

    classes = [module.BotContextController, *binding._subclasses(module.BotContextController)]
    saved = {cls: cls.__dict__["model_post_init"] for cls in classes
             if cls.__dict__.get("model_post_init") is binding._bind}
    originals = {cls: _ORIGINAL_CHAIN.get(cls) for cls in saved}
    try:
        for cls, original in originals.items():
            if original is not None:
                cls.model_post_init = original
        return make()
    finally:
        for cls, bound in saved.items():
            cls.model_post_init = bound


def test_a_class_with_its_own_private_state_keeps_its_chain() -> None:
    bind_bots_directly()

    class Noted(TelegramObject):
        text: str
        _note: int = PrivateAttr(default=3)

    assert bind_bots_directly() == 0  # nothing it may take over
    bot = Bot("123:abc")
    noted = Noted.model_validate({"text": "hi"}, context={"bot": bot})
    assert noted.__pydantic_private__ == {"_note": 3, "_bot": bot}
    assert noted.bot is bot


def test_it_changes_nothing_twice() -> None:
    bind_bots_directly()
    assert bind_bots_directly() == 0


# pydantic's own chain for each class, read when the tests are collected: only `build_bot`
# replaces it, and no test module builds a bot on import.
def _chains() -> dict[type, Any]:
    from aiogram.client.context_controller import BotContextController

    from bots.telegram import binding

    return {cls: cls.__dict__["model_post_init"]
            for cls in (BotContextController, *binding._subclasses(BotContextController))
            if "model_post_init" in cls.__dict__
            and cls.__dict__["model_post_init"] is not binding._bind}


_ORIGINAL_CHAIN = _chains()
