"""The operators' side of the Telegram bot: the admin group's cards and the decisions on them.

`operator_cards` (in `cards`) says which events the group sees and with which buttons;
`router()` takes the operators' decisions (in `decisions`). `OperatorGroup` names the group
chat (`YUEBAN_TELEGRAM_ADMIN_CHAT_ID`) and the language it is written in; `app/telegram.py`
routes the cards there and gives the router the group as `operator_group`.
"""

from __future__ import annotations

from bots.telegram.handlers.operator.cards import GROUP_RECIPIENT, OperatorGroup, operator_cards
from bots.telegram.handlers.operator.decisions import router

__all__ = ["GROUP_RECIPIENT", "OperatorGroup", "operator_cards", "router"]
