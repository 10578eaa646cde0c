"""Slot cells: how a time range becomes rows that two bookings cannot both hold.

A provider's time is cut into fixed cells of `CELL_MINUTES` from the epoch (UTC). A booking
of [start, end) reserves every cell the range touches; storage keeps one row per
(provider_id, cell_start) under a UNIQUE key, so two bookings that overlap by even a minute
share a cell and only one of them can be written. Ranges are widened to whole cells, which
makes the guarantee conservative: slots aligned to 15 minutes (what the catalog offers)
never collide falsely.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

CELL_MINUTES = 15
_CELL = timedelta(minutes=CELL_MINUTES)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cell_floor(instant: datetime) -> datetime:
    steps = (instant - _EPOCH) // _CELL
    return _EPOCH + steps * _CELL


def cells_for(start: datetime, end: datetime) -> list[datetime]:
    """The start of every cell that [start, end) touches, ascending."""
    if end <= start:
        raise ValueError("a slot must end after it starts")
    cells = []
    cell = cell_floor(start)
    while cell < end:
        cells.append(cell)
        cell += _CELL
    return cells


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]
