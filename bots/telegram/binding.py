"""One step, not a chain, to tie each Telegram object to its bot.

Every aiogram object (an update, a message, a chat, each button of a keyboard) remembers
the bot it came through in a private attribute, `_bot`, set by `model_post_init`. pydantic
wraps `model_post_init` again in every subclass of a model with private attributes, and
each wrapper initialises the private attributes before calling the one it wraps: building a
button runs four wrappers, parsing a tap with a keyboard runs some seventy. That chain was
about 7% of the bot's CPU (parsing each update, reading each answer, building each
keyboard).

`bind_bots_directly()` gives each aiogram class whose chain ends in aiogram's own
`BotContextController.model_post_init`, and whose only private attribute is `_bot`, one
function that leaves the object exactly as the chain does. A class with its own
`model_post_init` or another private attribute keeps its chain. pydantic calls
`model_post_init` by name, so validators built before the change use it too.
"""

from __future__ import annotations

from typing import Any

from aiogram.client.context_controller import BotContextController
from pydantic_core import PydanticUndefined

_AIOGRAMS = BotContextController.__dict__["model_post_init"]


def _bind(self: BotContextController, context: Any, /) -> None:
    bot = context.get("bot") if context else None
    private = getattr(self, "__pydantic_private__", None)
    if private is None:
        object.__setattr__(self, "__pydantic_private__", {"_bot": bot})
    else:
        private["_bot"] = bot


def _innermost(function: Any) -> Any:
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function


def _bindable(cls: type[BotContextController]) -> bool:
    own = cls.__dict__.get("model_post_init")
    if own is None or own is _bind:
        return False
    private = cls.__private_attributes__
    return (
        _innermost(own) is _innermost(_AIOGRAMS)
        and set(private) == {"_bot"}
        and private["_bot"].get_default() is PydanticUndefined
    )


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def bind_bots_directly() -> int:
    """Replace the chain in every class it can; returns how many classes changed (none the
    second time)."""
    changed = 0
    for cls in (BotContextController, *_subclasses(BotContextController)):
        if _bindable(cls):
            cls.model_post_init = _bind  # type: ignore[method-assign]
            changed += 1
    return changed
