"""Validation of an official account's custom menu against WeChat's rules.

WeChat refuses a bad menu with a bare error code (40016, 40018, ...); checking first
gives the operator every problem at once, by position, before any API call. Rules:
1 to 3 top-level buttons, each either an action or 1 to 5 sub-buttons; top-level names
at most 16 bytes (UTF-8, about 4 Chinese characters), sub-button names at most 60 bytes;
`key` at most 128 bytes, `url` at most 1024 bytes.
https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_TOP_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_TOP_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024

_KEY_TYPES = frozenset({
    "click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
    "pic_photo_or_album", "pic_weixin", "location_select",
})
_MEDIA_TYPES = frozenset({"media_id", "view_limited"})
_ARTICLE_TYPES = frozenset({"article_id", "article_view_limited"})
BUTTON_TYPES = _KEY_TYPES | _MEDIA_TYPES | _ARTICLE_TYPES | {"view", "miniprogram"}


class MenuInvalid(ValueError):
    """The menu breaks WeChat's rules; `problems` lists each one with its position."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid WeChat menu: " + "; ".join(self.problems))


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _check_action(where: str, button: Mapping[str, Any], problems: list[str]) -> None:
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        problems.append(f"{where}: type must be one of {sorted(BUTTON_TYPES)}, got {kind!r}")
        return
    if kind in _KEY_TYPES:
        key = button.get("key")
        if not isinstance(key, str) or not key:
            problems.append(f"{where}: type {kind!r} needs a non-empty key")
        elif _byte_len(key) > MAX_KEY_BYTES:
            problems.append(f"{where}: key is {_byte_len(key)} bytes, at most {MAX_KEY_BYTES}")
    if kind in ("view", "miniprogram"):
        url = button.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problems.append(f"{where}: type {kind!r} needs an http(s) url")
        elif _byte_len(url) > MAX_URL_BYTES:
            problems.append(f"{where}: url is {_byte_len(url)} bytes, at most {MAX_URL_BYTES}")
    if kind == "miniprogram":
        for field in ("appid", "pagepath"):
            if not isinstance(button.get(field), str) or not button.get(field):
                problems.append(f"{where}: type 'miniprogram' needs {field}")
    if kind in _MEDIA_TYPES and not button.get("media_id"):
        problems.append(f"{where}: type {kind!r} needs media_id")
    if kind in _ARTICLE_TYPES and not button.get("article_id"):
        problems.append(f"{where}: type {kind!r} needs article_id")


def _check_name(where: str, button: Mapping[str, Any], limit: int, problems: list[str]) -> None:
    name = button.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: name must be a non-empty string")
    elif _byte_len(name) > limit:
        problems.append(f"{where}: name {name!r} is {_byte_len(name)} bytes, at most {limit}")


def validate_menu(menu: Mapping[str, Any]) -> None:
    """Raise `MenuInvalid` listing every rule `menu` breaks; return None when it is valid."""
    problems: list[str] = []
    buttons = menu.get("button") if isinstance(menu, Mapping) else None
    if not isinstance(buttons, list) or not buttons:
        raise MenuInvalid(["menu needs a non-empty 'button' list"])
    if len(buttons) > MAX_TOP_BUTTONS:
        problems.append(f"at most {MAX_TOP_BUTTONS} top-level buttons, got {len(buttons)}")
    for index, button in enumerate(buttons, start=1):
        where = f"button {index}"
        if not isinstance(button, Mapping):
            problems.append(f"{where}: must be an object")
            continue
        _check_name(where, button, MAX_TOP_NAME_BYTES, problems)
        subs = button.get("sub_button")
        if subs is None or subs == []:
            _check_action(where, button, problems)
            continue
        if not isinstance(subs, list):
            problems.append(f"{where}: sub_button must be a list")
            continue
        if "type" in button:
            problems.append(f"{where}: a button with sub-buttons cannot have its own type")
        if len(subs) > MAX_SUB_BUTTONS:
            problems.append(f"{where}: at most {MAX_SUB_BUTTONS} sub-buttons, got {len(subs)}")
        for sub_index, sub in enumerate(subs, start=1):
            sub_where = f"{where}.{sub_index}"
            if not isinstance(sub, Mapping):
                problems.append(f"{sub_where}: must be an object")
                continue
            _check_name(sub_where, sub, MAX_SUB_NAME_BYTES, problems)
            if sub.get("sub_button"):
                problems.append(f"{sub_where}: menus are two levels deep at most")
            _check_action(sub_where, sub, problems)
    if problems:
        raise MenuInvalid(problems)
