"""Translations for everything people read: gettext catalogs (zh, en) loaded with Babel.

Message ids are stable keys (`error.category.unknown`, `order.card.title`); each locale's
`.po` files map them to text with `{name}` placeholders filled from the parameters. Every
`*.po` file in `locales/<locale>/LC_MESSAGES/` is loaded (one file per area: `messages.po`,
`catalog.po`, `wallet.po`, …) and merged. The `.po` files are the source; they are compiled
in memory at first use, so no build step is needed.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from core.shared.errors import DomainError
from core.shared.money import Money

LOCALES_DIR = Path(__file__).parent / "locales"
LOCALES = ("zh", "en")
DEFAULT_LOCALE = "zh"
DOMAIN = "messages"


def normalize_locale(code: str | None) -> str:
    """Telegram `language_code` ("zh-hans", "en-US") or a setting -> one of LOCALES."""
    if not code:
        return DEFAULT_LOCALE
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else "en"


def _compile(path: Path, locale: str) -> Translations:
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


@cache
def _translations(locale: str) -> Translations:
    files = sorted((LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po"))
    merged = _compile(files[0], locale)
    for path in files[1:]:
        merged.merge(_compile(path, locale))
    return merged


# The locale as asked for (None, "en", "zh-hans", …) -> its merged catalog, the dict that
# `Translations.gettext` looks a key up in first. Every text a person reads is looked up
# here, so a lookup is one dict read and a code seen before is not normalised again; a key
# the catalog lacks still goes through `gettext` (which answers with the key itself).
_MESSAGES: dict[str | None, dict[Any, str]] = {}


def _messages(locale: str | None) -> dict[Any, str]:
    messages = _MESSAGES.get(locale)
    if messages is None:
        messages = _translations(normalize_locale(locale))._catalog
        if len(_MESSAGES) < 256:  # the codes clients send are few; never grow without bound
            _MESSAGES[locale] = messages
    return messages


def _text(key: str, locale: str | None) -> str:
    text = _messages(locale).get(key)
    if text is None:
        return _translations(normalize_locale(locale)).gettext(key)
    return text


def has_text(key: str, locale: str) -> bool:
    return _text(key, locale) != key


def gettext(key: str, locale: str | None = None, /, **params: Any) -> str:
    """The text for `key` in `locale`, with `{placeholders}` filled; the key itself if missing.

    `key` and `locale` are positional-only so a parameter may itself be called `locale`.
    """
    text = _text(key, locale)
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


def render_error(error: DomainError, locale: str | None = None) -> str:
    """The one place a domain error becomes words for a person."""
    if not has_text(error.key, normalize_locale(locale)):
        return gettext("error.generic", locale)
    return gettext(error.key, locale, **{k: _plain(v) for k, v in error.params.items()})


def _plain(value: Any) -> Any:
    return value.format() if isinstance(value, Money) else value
