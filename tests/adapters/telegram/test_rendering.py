"""Notices become Telegram messages: callback data always fits in 64 bytes, long text is
split where a reader would split it, money and times read naturally."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bots.telegram.callbacks import (
    MAX_ACTION_KIND_LENGTH,
    ActionCallback,
    LanguageCallback,
    UnencodableAction,
    encode_action,
)
from bots.telegram.keyboards import keyboard_for
from bots.telegram.messenger import render_notice, split_text, utf16_length
from core.ports import ChannelAddress
from core.shared.messages import Action, Notice
from core.shared.money import Money

LARGEST_IDS = (2**63 - 1, -(2**63))


@pytest.mark.parametrize("big_id", LARGEST_IDS)
def test_the_largest_ids_fit_in_64_bytes_of_callback_data(big_id: int) -> None:
    kind = "k" * MAX_ACTION_KIND_LENGTH
    packed = encode_action(Action(kind, {"order_id": big_id}))
    assert len(packed.encode()) <= 64
    assert ActionCallback.unpack(packed) == ActionCallback(kind=kind, id=big_id)


def test_an_action_kind_too_long_to_fit_is_refused_before_telegram_sees_it() -> None:
    with pytest.raises(UnencodableAction):
        encode_action(Action("k" * (MAX_ACTION_KIND_LENGTH + 1), {"order_id": 1}))


def test_actions_with_more_than_one_id_need_their_own_callback_factory() -> None:
    with pytest.raises(UnencodableAction):
        encode_action(Action("dispute.partial", {"dispute_id": 5, "percent": 50}))
    with pytest.raises(UnencodableAction):
        encode_action(Action("order.note", {"text": "hello"}))


def test_a_registered_action_uses_its_own_callback_data() -> None:
    packed = encode_action(Action("settings.language", {"locale": "en"}))
    assert LanguageCallback.unpack(packed).locale == "en"


def test_an_action_that_cannot_be_a_button_is_left_out_and_the_rest_stay() -> None:
    keyboard = keyboard_for(
        [
            Action("order.accept", {"order_id": 42}),
            Action("order.note", {"text": "cannot fit"}),
            Action("help.open", {"url": "https://example.com/help"}),
        ],
        "en",
    )
    assert keyboard is not None
    buttons = [row[0] for row in keyboard.inline_keyboard]
    assert [b.callback_data for b in buttons] == ["a:order.accept:42", None]
    assert buttons[1].url == "https://example.com/help"
    assert keyboard_for([], "en") is None


def test_text_over_4096_characters_is_split_at_a_paragraph() -> None:
    first = "a" * 3000
    second = "b" * 2000
    pieces = split_text(f"{first}\n\n{second}")
    assert pieces == [first, second]


def test_text_without_breaks_is_split_hard_and_nothing_is_lost() -> None:
    text = "x" * 9000
    pieces = split_text(text)
    assert [len(p) for p in pieces] == [4096, 4096, 808]
    assert "".join(pieces) == text


def test_length_is_counted_as_telegram_counts_it() -> None:
    text = "🙂" * 3000  # 6,000 UTF-16 units
    pieces = split_text(text)
    assert all(utf16_length(p) <= 4096 for p in pieces)
    assert "".join(pieces) == text
    assert split_text("short") == ["short"]


def test_money_and_times_are_shown_in_the_readers_terms() -> None:
    notice = Notice(
        7,
        "error.money.currency_mismatch",
        {"left": Money(1250, "CNY"), "right": datetime(2026, 1, 5, 11, 30, tzinfo=UTC)},
    )
    text, _ = render_notice(notice, ChannelAddress("telegram", "7", "en", "Asia/Shanghai"))
    assert text == "Amounts in 12.50 CNY and 2026-01-05 19:30 cannot be combined."
