"""The contact-leak detector, measured on the labelled set: recall and false positives."""

from __future__ import annotations

import pytest

from core.relay.masking import LeakKind, find_leaks, mask, render, sanitize
from tests.unit.relay.leak_corpus import INNOCENT, LEAKS

RECALL_TARGET = 0.98
FALSE_POSITIVE_LIMIT = 0.02


def test_the_labelled_set_is_large_and_balanced() -> None:
    assert len(LEAKS) + len(INNOCENT) >= 300
    assert len(LEAKS) >= 100 and len(INNOCENT) >= 100
    assert len(set(INNOCENT)) == len(INNOCENT)
    assert len({text for text, _ in LEAKS}) == len(LEAKS)


def test_recall_and_false_positive_rate_meet_the_targets() -> None:
    missed = []
    for text, kinds in LEAKS:
        found = {leak.kind.value for leak in find_leaks(text)}
        if not kinds <= found:
            missed.append((text, sorted(kinds - found)))
    flagged = [
        (text, [(text[leak.start:leak.end], leak.kind.value) for leak in find_leaks(text)])
        for text in INNOCENT
        if find_leaks(text)
    ]
    recall = 1 - len(missed) / len(LEAKS)
    false_positive_rate = len(flagged) / len(INNOCENT)
    report = (
        f"leak detector on {len(LEAKS)} leaks and {len(INNOCENT)} innocent messages: "
        f"recall {recall:.3f} (target >= {RECALL_TARGET}), "
        f"false positives {false_positive_rate:.3f} (limit <= {FALSE_POSITIVE_LIMIT}); "
        f"missed {missed}; flagged {flagged}"
    )
    print(report)
    assert recall >= RECALL_TARGET and false_positive_rate <= FALSE_POSITIVE_LIMIT, report


def test_masked_text_keeps_nothing_of_a_leaked_number() -> None:
    masked = mask("到了打我 138 1234 5678，谢谢")
    shown = render(masked.text, "[已隐藏]")
    assert shown == "到了打我 [已隐藏]，谢谢"
    assert masked.kinds == ("phone",)
    assert masked.count == 1


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("加我微信 zhang_san88 吧", "zhang_san88"),
        ("壹叁捌壹贰叁肆伍陆柒捌", "壹叁捌壹贰叁肆伍陆柒捌"),
        ("1️⃣3️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣", "8️⃣"),
        ("mail a.b@gmail.com now", "gmail"),
    ],
)
def test_no_piece_of_the_secret_survives(text: str, secret: str) -> None:
    assert secret not in render(mask(text).text, "[hidden]")


def test_the_reader_chooses_the_marker_per_kind() -> None:
    masked = mask("vx: abc_123 或 t.me/abcde")
    shown = render(masked.text, lambda kind: f"<{kind}>")
    assert shown == "vx: <wechat> 或 <telegram>"


def test_spans_point_into_the_original_text() -> None:
    text = "电话 １３８ １２３４ ５６７８ 谢谢"
    (leak,) = find_leaks(text)
    assert leak.kind is LeakKind.PHONE
    assert text[leak.start:leak.end] == "１３８ １２３４ ５６７８"


def test_nobody_can_forge_a_placeholder() -> None:
    forged = "\ue000phone\ue001 hi"
    assert sanitize(forged) == "phone hi"
    assert mask(forged).count == 0
    assert render(mask(forged).text, "[hidden]") == "phone hi"


def test_text_without_contacts_is_returned_unchanged() -> None:
    text = "明天13点半，价格1380元，订单 YB20261122001，王者50星"
    masked = mask(text)
    assert masked.text == text and masked.leaks == ()
