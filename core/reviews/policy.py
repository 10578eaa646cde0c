"""Configurable review values, injected into handlers as `review_policy`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ReviewPolicy:
    # How long after writing it a review may still be changed (YUEBAN_REVIEW_EDIT_HOURS).
    edit_window: timedelta = timedelta(hours=48)


DEFAULT_REVIEW_POLICY = ReviewPolicy()
