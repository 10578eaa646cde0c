"""Audit entries: who did what to which thing, when, from which state to which, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    entity: str  # "order", "application", "user", ...
    entity_id: str
    action: str  # the verb: "approve", "accept", "ban", ...
    actor_id: int | None
    at: datetime
    from_state: str | None = None
    to_state: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
