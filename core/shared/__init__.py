"""The shared kernel: money, errors, clock, ids, and the Command/Event/Notice base types."""

from core.shared.clock import Clock, FixedClock, SystemClock
from core.shared.errors import (
    AlreadyProcessed,
    ConcurrencyConflict,
    DomainError,
    Forbidden,
    NotFound,
)
from core.shared.messages import Action, Command, Event, Notice
from core.shared.money import CURRENCIES, Money

__all__ = [
    "CURRENCIES",
    "Action",
    "AlreadyProcessed",
    "Clock",
    "Command",
    "ConcurrencyConflict",
    "DomainError",
    "Event",
    "FixedClock",
    "Forbidden",
    "Money",
    "NotFound",
    "Notice",
    "SystemClock",
]
