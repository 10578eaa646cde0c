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
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import aiohttp

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


async def until_healthy(process: asyncio.subprocess.Process, port: int, *, within: float,
                        ready: Callable[[], bool] = lambda: True) -> None:
    """Until its `GET /healthz` answers 200 and `ready()` holds; at once, with what it wrote,
    if it exits first (starting a second interpreter is slow on a busy machine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            if process.returncode is not None:
                written = await process.stdout.read() if process.stdout is not None else b""
                raise AssertionError("yueban run exited early:\n" + written.decode())
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200 and ready():
                        return
            await asyncio.sleep(0.1)
    raise TimeoutError("yueban run did not become healthy")
