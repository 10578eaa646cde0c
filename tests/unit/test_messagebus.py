"""The message bus: one transaction per command, idempotent keys, events after commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from core.messagebus import MessageBus
from core.shared.clock import FixedClock
from core.shared.errors import AlreadyProcessed, ConcurrencyConflict, DomainError
from core.shared.messages import Command, Event, Query
from tests.fakes import FakeUnitOfWork


@dataclass(frozen=True)
class Greet(Command):
    name: str


@dataclass(frozen=True, kw_only=True)
class Greeted(Event):
    name: str


def make_bus(handlers: dict[type, Any], events: dict[type, list[Any]] | None = None) -> tuple[MessageBus, dict[str, Any]]:
    stores: dict[str, Any] = {}
    bus = MessageBus(lambda: FakeUnitOfWork(stores), handlers, events or {}, {"clock": FixedClock()})
    return bus, stores


async def test_a_command_runs_its_handler_and_commits_its_events() -> None:
    greetings: list[str] = []

    async def greet(cmd: Greet, uow: FakeUnitOfWork) -> str:
        uow.emit(Greeted(name=cmd.name))
        return f"hello {cmd.name}"

    async def remember(event: Greeted, uow: FakeUnitOfWork) -> None:
        greetings.append(event.name)

    bus, stores = make_bus({Greet: greet}, {Greeted: [remember]})
    assert await bus.handle(Greet("ann", idempotency_key="k1")) == "hello ann"
    assert greetings == ["ann"]
    assert [r.event.name for r in stores["outbox"].records] == ["ann"]


async def test_the_same_idempotency_key_has_one_effect() -> None:
    calls: list[str] = []

    async def greet(cmd: Greet, uow: FakeUnitOfWork) -> None:
        calls.append(cmd.name)

    bus, _ = make_bus({Greet: greet})
    await bus.handle(Greet("ann", idempotency_key="tg:cb:1"))
    with pytest.raises(AlreadyProcessed):
        await bus.handle(Greet("ann", idempotency_key="tg:cb:1"))
    assert calls == ["ann"]


@dataclass(frozen=True)
class CountGreetings(Query):
    name: str


async def test_a_query_runs_on_the_read_factory_and_claims_no_key() -> None:
    opened: list[str] = []
    stores: dict[str, Any] = {}

    def factory(kind: str) -> Any:
        def make() -> FakeUnitOfWork:
            opened.append(kind)
            return FakeUnitOfWork(stores)
        return make

    async def count(query: CountGreetings, uow: FakeUnitOfWork) -> int:
        return len(query.name)

    bus = MessageBus(factory("write"), {CountGreetings: count}, {}, {"clock": FixedClock()},
                     read_uow_factory=factory("read"))
    # Asked twice with the same key: a query changes nothing, so both are answered.
    assert await bus.handle(CountGreetings("ann", idempotency_key="tg:cb:7")) == 3
    assert await bus.handle(CountGreetings("ann", idempotency_key="tg:cb:7")) == 3
    assert opened == ["read", "read"]


async def test_a_refused_command_leaves_no_events_and_frees_its_key() -> None:
    async def refuse(cmd: Greet, uow: FakeUnitOfWork) -> None:
        uow.emit(Greeted(name=cmd.name))
        raise DomainError("error.generic")

    bus, stores = make_bus({Greet: refuse})
    with pytest.raises(DomainError):
        await bus.handle(Greet("ann", idempotency_key="k"))
    assert stores["outbox"].records == []
    assert "k" not in stores["idempotency"].keys


async def test_a_lost_race_is_retried_and_then_succeeds() -> None:
    attempts: list[int] = []

    async def flaky(cmd: Greet, uow: FakeUnitOfWork) -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise ConcurrencyConflict("order")
        return "ok"

    bus, _ = make_bus({Greet: flaky})
    assert await bus.handle(Greet("ann")) == "ok"
    assert len(attempts) == 2


async def test_dependencies_are_injected_by_parameter_name() -> None:
    async def greet(cmd: Greet, uow: FakeUnitOfWork, clock: FixedClock) -> str:
        return clock.now().isoformat()

    bus, _ = make_bus({Greet: greet})
    assert (await bus.handle(Greet("x"))).startswith("2026-01-05T09:00")


def test_an_event_type_is_known_by_name_unless_it_has_a_name_field() -> None:
    assert Greeted.type_name() == "Greeted"
    assert Greeted(name="ann").name == "ann"

    @dataclass(frozen=True, kw_only=True)
    class Paid(Event):
        amount: int

    assert Paid.name == "Paid" == Paid(amount=1).name == Paid.type_name()
