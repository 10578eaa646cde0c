"""What admin commands need from the outside: a way to run a command and a locale.

`app/cli.py` provides the implementation (it owns the wiring); admin commands never build
the bus themselves.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

import typer
from rich.console import Console

from bots.i18n import render_error
from core.shared.errors import DomainError
from core.shared.messages import Command
from core.shared.money import Money

console = Console()
err_console = Console(stderr=True)


class AdminRuntime(Protocol):
    locale: str

    async def execute(self, command: Command) -> Any: ...


def runtime_of(ctx: typer.Context) -> AdminRuntime:
    root = ctx.find_root()
    assert root.obj is not None, "the admin CLI runs inside `yueban admin`"
    return root.obj  # type: ignore[no-any-return]


def cli_key() -> str:
    """A fresh idempotency key for one CLI invocation."""
    return f"cli:{uuid.uuid4().hex}"


def run(ctx: typer.Context, command: Command) -> Any:
    """Run one command; a domain error becomes a localized message and exit code 1."""
    runtime = runtime_of(ctx)
    try:
        return asyncio.run(runtime.execute(command))
    except DomainError as error:
        err_console.print(f"[red]{render_error(error, runtime.locale)}[/red]")
        raise typer.Exit(code=1) from error


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Money):
        return {"amount": value.amount, "currency": value.currency, "display": value.format()}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(to_jsonable(value), ensure_ascii=False, indent=2, default=str))
