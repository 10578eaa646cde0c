"""The official account's custom menu: Browse (浏览), My orders (我的订单), Me (我的).

Each sub-button is a CLICK whose key names what it opens; the product handles a key exactly
as the text command of the same name, so the menu, typed words and numbered replies lead
to the same screens. The menu is checked with `validate_menu` (3 buttons of at most 5
sub-buttons, name lengths in bytes) before it is sent to WeChat.
"""

from __future__ import annotations

from typing import Any

from bots.wechat.menu import validate_menu

# CLICK key -> the command it stands for (see handlers.COMMANDS).
MENU_KEYS: dict[str, str] = {
    "BROWSE": "browse",
    "BROWSE_ONLINE": "online_now",
    "ORDERS": "orders",
    "ORDERS_PROVIDER": "provider_orders",
    "ME": "me",
    "WALLET": "wallet",
    "LINK": "linkcode",
    "LANGUAGE": "language",
    "HELP": "help",
}


def _click(name: str, key: str) -> dict[str, str]:
    return {"type": "click", "name": name, "key": key}


def build_menu() -> dict[str, Any]:
    """The menu in Chinese (WeChat shows one default menu to everyone); validated."""
    menu = {
        "button": [
            {"name": "浏览", "sub_button": [
                _click("全部服务", "BROWSE"),
                _click("现在有空", "BROWSE_ONLINE"),
            ]},
            {"name": "我的订单", "sub_button": [
                _click("我下的单", "ORDERS"),
                _click("我接的单", "ORDERS_PROVIDER"),
            ]},
            {"name": "我的", "sub_button": [
                _click("个人中心", "ME"),
                _click("钱包", "WALLET"),
                _click("绑定 Telegram", "LINK"),
                _click("语言 Language", "LANGUAGE"),
                _click("帮助", "HELP"),
            ]},
        ]
    }
    validate_menu(menu)
    return menu
