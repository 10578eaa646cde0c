"""Typed callback data of the operators' cards beyond the notice actions (64 bytes at most)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class DisputeSplit(CallbackData, prefix="ods"):
    """Refund this share (basis points) of a disputed order; -1 goes back to the card."""

    order_id: int
    refund_bps: int
