"""Typed `callback_data` for every inline button the bot sends, always within 64 bytes.

Telegram refuses `callback_data` longer than 64 bytes, so buttons carry ids, never text.
Every button is a `CallbackData` factory (aiogram packs it as `prefix:field:field`).

Notice actions (`core.shared.messages.Action`, e.g. `Action("order.accept", {"order_id": 42})`)
become buttons through `encode_action`: a flow registers a factory for its kind with
`@action_callback("kind")`; an unregistered kind whose arguments are at most one integer id
falls back to `ActionCallback(kind=..., id=...)`, which a flow's router matches with
`ActionCallback.filter(F.kind == "order.accept")`. Packing checks the limit, and
`MAX_ACTION_KIND_LENGTH` keeps the fallback within it even for the largest 64-bit id
(`tests/adapters/telegram/test_callbacks.py` proves it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiogram.filters.callback_data import MAX_CALLBACK_LENGTH, CallbackData

from core.shared.messages import Action

# "a" + ":" + kind + ":" + "-9223372036854775808" (20 characters) stays within 64 bytes.
MAX_ACTION_KIND_LENGTH = MAX_CALLBACK_LENGTH - len("a::") - 20


class ActionCallback(CallbackData, prefix="a"):
    """A notice action naming one thing by id: `a:order.accept:42`."""

    kind: str
    id: int | None = None


class LanguageCallback(CallbackData, prefix="lang"):
    """The language picker: `lang:en`."""

    locale: str


class UnencodableAction(ValueError):
    """An action that cannot become a button (unknown kind with non-id arguments, too long)."""


ActionEncoder = Callable[[Mapping[str, Any]], CallbackData]

_ENCODERS: dict[str, ActionEncoder] = {}


def action_callback(kind: str) -> Callable[[ActionEncoder], ActionEncoder]:
    """Register how the action `kind` becomes callback data (for actions with several args)."""

    def register(encoder: ActionEncoder) -> ActionEncoder:
        if kind in _ENCODERS and _ENCODERS[kind] is not encoder:
            raise ValueError(f"two encoders for action {kind!r}")
        _ENCODERS[kind] = encoder
        return encoder

    return register


def encode_action(action: Action) -> str:
    """The packed callback data for `action`; raises UnencodableAction if it cannot fit."""
    encoder = _ENCODERS.get(action.kind)
    try:
        data = encoder(action.args) if encoder else _fallback(action)
        packed = data.pack()
    except ValueError as error:
        raise UnencodableAction(f"action {action.kind!r}: {error}") from error
    return packed


@action_callback("settings.language")
def _language(args: Mapping[str, Any]) -> CallbackData:
    """A notice may offer to switch language: `Action("settings.language", {"locale": "en"})`."""
    return LanguageCallback(locale=str(args.get("locale", "")))


def _fallback(action: Action) -> ActionCallback:
    if len(action.kind) > MAX_ACTION_KIND_LENGTH or ":" in action.kind:
        raise UnencodableAction(
            f"kind longer than {MAX_ACTION_KIND_LENGTH} characters or containing ':'"
        )
    values = list(action.args.values())
    if not values:
        return ActionCallback(kind=action.kind)
    if len(values) == 1 and isinstance(values[0], int) and not isinstance(values[0], bool):
        return ActionCallback(kind=action.kind, id=values[0])
    raise UnencodableAction(
        "arguments other than one integer id need an encoder registered with @action_callback"
    )
