"""Configurable relay values (from settings), injected into handlers as `relay_policy`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RelayPolicy:
    # How long after the order ends the conversation stays open (questions, a last photo).
    close_after: timedelta = timedelta(hours=24)
    # Leaking messages per conversation that only earn a warning before strikes begin.
    leak_warnings: int = 0
    # Most strikes one message can earn however many contacts it holds (0: leaks never strike).
    strikes_per_message: int = 1
    # Ban the sender when their strike count reaches this (0: never; operators decide).
    ban_at_strikes: int = 0
    # Length of that ban in days (0: until an operator lifts it).
    ban_days: int = 7

    def __post_init__(self) -> None:
        if self.close_after < timedelta(0):
            raise ValueError("close_after must not be negative")
        for name in ("leak_warnings", "strikes_per_message", "ban_at_strikes", "ban_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


DEFAULT_RELAY_POLICY = RelayPolicy()
