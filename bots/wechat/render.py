"""Words for WeChat: money, times in the reader's zone, numbered prompts, notice texts, tokens.

An official account shows plain text (no markup, no inline buttons), so every prompt is a
numbered list ("回复数字选择") and every notice action becomes a tappable `msgmenu` line whose
id is a self-describing token (`act:order.accept:42`): a tap works whatever the person's
conversation state is. Texts come from the gettext catalogs (`wx.*` keys in `wechat.po`,
notice keys from each area's catalog).

WeChat counts text in UTF-8 bytes: a passive reply holds at most 2048 of them, so long
texts are cut at line boundaries by `split_text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bots.i18n import gettext
from core.shared.messages import Action, Notice
from core.shared.money import Money

# A passive reply's Content is limited to 2048 bytes; keep a margin for the XML around it.
TEXT_LIMIT_BYTES = 2000
# Template message "thing" fields take at most 20 characters.
TEMPLATE_THING_CHARS = 20
ACTION_PREFIX = "act"


def zone_of(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def money(value: Money) -> str:
    """¥60.00 for yuan (what people in WeChat read), `60.00 USD` otherwise."""
    if value.currency == "CNY":
        return f"¥{value.to_decimal():.2f}"
    return value.format()


def local_time(instant: datetime, timezone: str) -> str:
    return instant.astimezone(zone_of(timezone)).strftime("%Y-%m-%d %H:%M")


def clock_time(instant: datetime, timezone: str) -> str:
    return instant.astimezone(zone_of(timezone)).strftime("%H:%M")


def day_label(day: date, locale: str) -> str:
    weekday = gettext(f"wx.weekday.{day.weekday()}", locale)
    return gettext("wx.day", locale, month=day.month, day=day.day, weekday=weekday)


def render_params(params: Mapping[str, Any], timezone: str) -> dict[str, Any]:
    """Notice parameters as text: money formatted, instants in the reader's zone."""
    rendered: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Money):
            rendered[name] = money(value)
        elif isinstance(value, datetime) and value.tzinfo is not None:
            rendered[name] = local_time(value, timezone)
        elif value is None:
            rendered[name] = "-"
        else:
            rendered[name] = value
    return rendered


def notice_text(notice: Notice, locale: str, timezone: str) -> str:
    return gettext(notice.key, locale, **render_params(notice.params, timezone))


# -- tokens: what a numbered line or a msgmenu choice stands for ----------------------------


def action_token(action: Action) -> str | None:
    """`act:<kind>:<id>` for an action naming at most one thing by integer id, else None."""
    values = list(action.args.values())
    if ":" in action.kind:
        return None
    if not values:
        return f"{ACTION_PREFIX}:{action.kind}:"
    if len(values) == 1 and isinstance(values[0], int) and not isinstance(values[0], bool):
        return f"{ACTION_PREFIX}:{action.kind}:{values[0]}"
    return None


def parse_action_token(token: str) -> tuple[str, int | None] | None:
    prefix, _, rest = token.partition(":")
    kind, _, raw_id = rest.partition(":")
    if prefix != ACTION_PREFIX or not kind:
        return None
    if not raw_id:
        return kind, None
    if not raw_id.isdigit():
        return None
    return kind, int(raw_id)


def action_label(action: Action, locale: str) -> str:
    key = action.label_key or f"action.{action.kind}"
    return gettext(key, locale, **action.args)


def notice_choices(actions: Sequence[Action], locale: str) -> list[tuple[str, str]]:
    """(token, label) for every action a WeChat person can take by tapping or replying."""
    choices: list[tuple[str, str]] = []
    for action in actions:
        token = action_token(action)
        if token is not None and token not in {t for t, _ in choices}:
            choices.append((token, action_label(action, locale)))
    return choices


# -- prompts --------------------------------------------------------------------------------


def numbered(head: str, choices: Sequence[tuple[str, str]], locale: str, *,
             tail_key: str = "wx.reply_number") -> str:
    """The head, one numbered line per choice, and how to answer."""
    if not choices:
        return head
    lines = [head, ""] if head else []
    lines += [f"{index}. {label}" for index, (_, label) in enumerate(choices, start=1)]
    lines += ["", gettext(tail_key, locale)]
    return "\n".join(lines)


def split_text(text: str, limit_bytes: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Pieces of at most `limit_bytes` UTF-8 bytes, cut after a line where possible."""
    if limit_bytes < 8:
        raise ValueError("limit_bytes too small")
    pieces: list[str] = []
    rest = text
    while len(rest.encode("utf-8")) > limit_bytes:
        cut = _fitting_prefix(rest, limit_bytes)
        newline = rest.rfind("\n", 0, cut)
        if newline > cut // 2:
            cut = newline + 1
        pieces.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _fitting_prefix(text: str, limit_bytes: int) -> int:
    used = 0
    for index, char in enumerate(text):
        used += len(char.encode("utf-8"))
        if used > limit_bytes:
            return index
    return len(text)


def shorten(text: str, limit: int = TEMPLATE_THING_CHARS) -> str:
    """The first line of `text`, at most `limit` characters (an ellipsis marks a cut)."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def template_fields(notice: Notice, locale: str, timezone: str, now: datetime) -> dict[str, str]:
    """The short fields of the fallback template message (see `WeChatMessenger`)."""
    number = notice.params.get("number")
    return {
        "thing1": shorten(notice_text(notice, locale, timezone)),
        "character_string2": str(number) if number else "-",
        "time3": local_time(now, timezone),
        "thing4": shorten(gettext("wx.template.hint", locale)),
    }
