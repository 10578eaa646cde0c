"""Menu validation: every broken rule reported at once, by position."""

from __future__ import annotations

from typing import Any

import pytest

from bots.wechat.menu import MenuInvalid, validate_menu


def click(name: str, key: str = "K") -> dict[str, Any]:
    return {"name": name, "type": "click", "key": key}


def test_the_largest_allowed_menu_passes() -> None:
    validate_menu({"button": [
        {"name": "五个汉字啊x", "sub_button": [click("子" * 20) for _ in range(5)]}  # 16 B, 60 B
        for _ in range(3)
    ]})


@pytest.mark.parametrize(
    ("menu", "problem"),
    [
        ({"button": []}, "non-empty 'button' list"),
        ({"button": [click("a")] * 4}, "at most 3 top-level buttons, got 4"),
        ({"button": [{"name": "more", "sub_button": [click("x")] * 6}]},
         "button 1: at most 5 sub-buttons, got 6"),
        ({"button": [click("五个汉字啊呀")]}, "button 1: name '五个汉字啊呀' is 18 bytes, at most 16"),
        ({"button": [{"name": "m", "sub_button": [click("字" * 21)]}]},
         "button 1.1: name"),
        ({"button": [{"name": "m", "type": "click"}]}, "needs a non-empty key"),
        ({"button": [{"name": "m", "type": "view", "url": "ftp://x"}]}, "http(s) url"),
        ({"button": [{"name": "m", "type": "teleport"}]}, "type must be one of"),
        ({"button": [click("m", key="k" * 129)]}, "key is 129 bytes, at most 128"),
        ({"button": [{"name": "", "type": "click", "key": "K"}]}, "non-empty string"),
    ],
)
def test_broken_rules_are_named(menu: dict[str, Any], problem: str) -> None:
    with pytest.raises(MenuInvalid) as raised:
        validate_menu(menu)
    assert problem in str(raised.value)


def test_all_problems_are_reported_together() -> None:
    menu = {"button": [click("a" * 17), {"name": "b", "sub_button": [click("c")] * 6},
                       click("d"), click("e")]}
    with pytest.raises(MenuInvalid) as raised:
        validate_menu(menu)
    assert len(raised.value.problems) == 3
