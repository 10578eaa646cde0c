"""Identifiers: random ids for new things, deterministic ones for idempotent system flows."""

from __future__ import annotations

import uuid

# A fixed namespace so uuid5 keys are stable across processes and releases.
YUEBAN_NAMESPACE = uuid.UUID("6f1d2c1e-7a57-4c7e-9a43-59b2a1f0c0de")


def new_id() -> str:
    return uuid.uuid4().hex


def deterministic_id(*parts: object) -> str:
    """The same parts always give the same id: `deterministic_id("order", 42, "hold")`."""
    name = ":".join(str(p) for p in parts)
    return uuid.uuid5(YUEBAN_NAMESPACE, name).hex
