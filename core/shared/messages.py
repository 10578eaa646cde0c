"""Commands in, events out, notices to people.

- A `Command` is a request to change something, carrying who acts and an idempotency key
  made at the edge (`tg:{update_id}`, `tg:cb:{callback_query_id}`, `wx:{MsgId}`, a UUID for
  the CLI). The message bus refuses a key it has already seen. A `Query` is a command that
  only reads.
- An `Event` is a fact the core recorded. Events are written to the outbox in the same
  transaction as the change, serialised with `to_payload()` and read back by name.
- A `Notice` is what a person should be told, platform-neutral: a template key, parameters
  and abstract actions ("accept order 42") that each channel renders as buttons or text.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from core.shared.ids import new_id
from core.shared.money import Money


@dataclass(frozen=True, kw_only=True)
class Command:
    actor_id: int | None = None
    idempotency_key: str | None = None

    # A command that only reads (see `Query`).
    read_only: ClassVar[bool] = False


@dataclass(frozen=True, kw_only=True)
class Query(Command):
    """A command that only reads: the bus runs it on a read-only unit of work (no write
    transaction, no idempotency claim; on SQLite it does not queue behind writers). Its
    handler must not write or emit events."""

    read_only: ClassVar[bool] = True


_EVENT_TYPES: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    event_id: str = field(default_factory=new_id)

    # The event's type name, e.g. `OrderPlaced.name`; the outbox uses `type_name()`, which
    # also works for an event that has a field called `name` (that field then wins).
    name: ClassVar[str] = "Event"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not any("name" in inspect.get_annotations(k) for k in cls.__mro__ if k is not Event):
            cls.name = cls.__name__
        if cls.__name__ in _EVENT_TYPES and _EVENT_TYPES[cls.__name__] is not cls:
            raise TypeError(f"two events named {cls.__name__}")
        _EVENT_TYPES[cls.__name__] = cls

    @classmethod
    def type_name(cls) -> str:
        """The name the outbox stores; an event may still have a field called `name`."""
        return cls.__name__

    def to_payload(self) -> dict[str, Any]:
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @staticmethod
    def from_payload(name: str, payload: dict[str, Any]) -> Event:
        cls = _EVENT_TYPES.get(name)
        if cls is None:
            raise LookupError(f"unknown event type {name}")
        hints = _hints(cls)
        values = {
            f.name: _load(hints.get(f.name), payload[f.name])
            for f in dataclasses.fields(cls)
            if f.name in payload
        }
        return cls(**values)


@functools.cache
def _hints(cls: type[Event]) -> dict[str, Any]:
    """An event class's resolved field types, read once (resolving them on every event read
    from the outbox cost more than the rest of reading it)."""
    return typing.get_type_hints(cls)


def _dump(value: Any) -> Any:
    if isinstance(value, Money):
        return {"amount": value.amount, "currency": value.currency}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _load(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    candidates = typing.get_args(hint) or (hint,)
    if Money in candidates and isinstance(value, dict):
        return Money(value["amount"], value["currency"])
    if datetime in candidates and isinstance(value, str):
        return datetime.fromisoformat(value)
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value


@dataclass(frozen=True)
class Action:
    """Something the recipient can do next, e.g. Action("order.accept", {"order_id": 42})."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    label_key: str | None = None


@dataclass(frozen=True)
class Notice:
    recipient_user_id: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    actions: tuple[Action, ...] = ()
    # Delivery is at-least-once; channels drop a notice whose dedup key they already sent.
    dedup_key: str = field(default_factory=new_id)
    # Told to the recipient as one of the platform's operators, not as a party to what
    # happened. Where an operators' group has a card of its own for the event, the group is
    # the one place operators see it and these are not sent.
    for_operators: bool = False
