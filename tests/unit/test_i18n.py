"""Every message key the core can raise has a text in Chinese and in English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bots.i18n import LOCALES, gettext, has_text, normalize_locale, render_error
from core.shared.errors import AlreadyProcessed, DomainError

ROOT = Path(__file__).resolve().parents[2]
# DomainError("error.x", …), NotFound("error.x"), Forbidden("error.x"), error=... key literals
KEY_PATTERN = re.compile(r"""\b(?:DomainError|NotFound|Forbidden|\w+Error)\(\s*["']((?:error)\.[a-z0-9_.]+)["']""")


def raised_keys() -> set[str]:
    keys: set[str] = set()
    for path in (ROOT / "core").rglob("*.py"):
        keys.update(KEY_PATTERN.findall(path.read_text(encoding="utf-8")))
    return keys


def test_the_core_raises_keyed_errors() -> None:
    assert "error.money.unknown_currency" in raised_keys()


@pytest.mark.parametrize("locale", LOCALES)
def test_every_raised_key_is_translated(locale: str) -> None:
    missing = sorted(k for k in raised_keys() | {"error.already_processed", "error.concurrency_conflict"} if not has_text(k, locale))
    assert missing == [], f"untranslated in {locale}: {missing}"


def test_errors_render_in_the_users_language_with_parameters() -> None:
    error = DomainError("error.money.unknown_currency", currency="BTC")
    assert render_error(error, "en") == "Unknown currency: BTC."
    assert render_error(error, "zh-hans") == "未知币种：BTC。"
    assert "already" in render_error(AlreadyProcessed("k"), "en-US")


def test_an_unknown_key_falls_back_to_a_generic_message() -> None:
    assert render_error(DomainError("error.nobody.knows"), "en") == gettext("error.generic", "en")


def test_locale_codes_from_telegram_are_normalised() -> None:
    assert normalize_locale("zh-hans") == "zh"
    assert normalize_locale("en-GB") == "en"
    assert normalize_locale("ru") == "en"
    assert normalize_locale(None) == "zh"


def test_no_key_is_defined_twice_across_area_catalogs() -> None:
    from babel.messages.pofile import read_po

    from bots.i18n import LOCALES_DIR

    for locale in LOCALES:
        seen: dict[str, str] = {}
        for path in sorted((LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po")):
            with path.open("rb") as po:
                for message in read_po(po):
                    if message.id:
                        assert message.id not in seen, f"{message.id} in {path.name} and {seen[message.id]}"
                        seen[message.id] = path.name


def test_zh_and_en_define_the_same_keys() -> None:
    from babel.messages.pofile import read_po

    from bots.i18n import LOCALES_DIR

    keys = {}
    for locale in LOCALES:
        ids: set[str] = set()
        for path in (LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po"):
            with path.open("rb") as po:
                ids |= {m.id for m in read_po(po) if m.id}
        keys[locale] = ids
    assert keys["zh"] ^ keys["en"] == set()
