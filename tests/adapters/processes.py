"""`yueban run` as a child process of a test, never outliving it.

It runs in a process group of its own, killed (its workers with it) however the test ends,
and the kernel sends it SIGTERM if pytest itself is killed, where no `finally` runs: left
behind, it would keep serving its port and keep the output pipe open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from app.lifeline import signal_when_orphaned


@contextlib.asynccontextmanager
async def yueban_run(env: Mapping[str, str], cwd: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`yueban run` with `env`, its output (stderr too) on its stdout pipe."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "run", env=dict(env), cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True, preexec_fn=signal_when_orphaned,
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def stop(process: asyncio.subprocess.Process, within: float) -> str:
    """Ask it to stop (SIGTERM, unless it has ended) and return all it wrote, waiting at most
    `within` seconds."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    output: bytes = (await asyncio.wait_for(process.communicate(), within))[0]
    return output.decode()
