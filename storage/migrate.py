"""Alembic behind plain functions: upgrade, downgrade, current, for the CLI and the tests."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str, stdout: io.TextIOBase | None = None) -> Config:
    config = Config(stdout=stdout) if stdout is not None else Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    # env.py runs its own event loop; keep it off any loop the caller is running.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args)
    raise RuntimeError("call the async variants (aupgrade, …) from inside an event loop")


def upgrade(url: str, revision: str = "head") -> None:
    _in_thread(command.upgrade, alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    _in_thread(command.downgrade, alembic_config(url), revision)


def current(url: str) -> str:
    buffer = io.StringIO()
    _in_thread(command.current, alembic_config(url, stdout=buffer))
    return buffer.getvalue().strip()


async def aupgrade(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


async def adowngrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)


def revisions_base_to_head(url: str = "sqlite://") -> Iterator[str]:
    """Every revision id, oldest first (for the stairway test)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return reversed([r.revision for r in script.walk_revisions("base", "heads")])
