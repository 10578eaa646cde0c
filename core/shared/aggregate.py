"""Base for aggregates: a version for optimistic concurrency and a list of recorded events."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.shared.messages import Event


@dataclass(kw_only=True)
class Aggregate:
    # 0 means "never saved"; repositories bump it on every save and refuse a stale one.
    version: int = 0
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    def record(self, event: Event) -> None:
        self.events.append(event)
