"""Typed callback data of the provider flows (the form and the workspace), within 64 bytes.

Buttons that mirror a notice action (accept order 42, reply to review 7) use the shared
`ActionCallback` instead, so a button under a notice and the same button in a workspace
list reach one handler.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ApplyStep(CallbackData, prefix="apf"):
    """A button of the application form: `apf:photos_done:0`, `apf:edit:3`, `apf:hours:1`."""

    action: str
    value: int = 0


class ApplyCategory(CallbackData, prefix="apc"):
    """A category picked for an offer (a parent opens its children)."""

    category_id: int


class PresenceChoice(CallbackData, prefix="wsp"):
    presence: str


class WorkspaceView(CallbackData, prefix="wsv"):
    """One screen of the workspace: home, orders, earnings, reviews."""

    view: str


class RejectReason(CallbackData, prefix="wsr"):
    """A reason picked for rejecting an order; `other` asks for one in words, `back` undoes."""

    order_id: int
    reason: str


class FinishWithoutPhoto(CallbackData, prefix="wsf"):
    order_id: int


class WithdrawStart(CallbackData, prefix="wsw"):
    currency: str


class WithdrawAmount(CallbackData, prefix="wsa"):
    """An amount picked for a withdrawal (minor units), before the payout method."""

    currency: str
    amount: int


class WithdrawMethod(CallbackData, prefix="wsm"):
    currency: str
    amount: int
    method: str
