"""Fixtures for `yueban demo` end to end: the world seeded once by the command itself, a copy
of it for each test, the demo running in the test's process, and Debian's chromium driven by
Playwright (never a downloaded browser).

Without chromium (or the `playwright` package) the browser tests skip and say how to get it
(`make browser`); under `CI=true` they fail instead, because CI must run them.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from app.demo.server import DemoOptions, RunningDemo, start_demo
from app.settings import Settings

if TYPE_CHECKING:
    from playwright.async_api import Page

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SEEDING_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 30.0


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser test must run)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """The environment without YUEBAN_* settings a developer may have exported: the demo
    must use its own folder, not the developer's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUEBAN_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class DemoProcess:
    """`yueban demo` as a child process, its output read line by line."""

    process: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, fragment: str, timeout: float) -> str:
        """The first output line containing `fragment` (earlier lines are kept)."""
        for line in self.lines:
            if fragment in line:
                return line
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {fragment!r} in the demo's output:\n{self.output}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the demo exited ({self.process.wait()}) before "
                                     f"{fragment!r}:\n{self.output}")
            self.lines.append(line)
            if fragment in line:
                return line

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send `signum` and wait for the exit code; the rest of the output is kept."""
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the demo did not stop on {signum}:\n{self.output}") from None
        self._drain()
        return code

    def _drain(self, timeout: float = 5.0) -> None:
        """Keep the last lines the process wrote before it ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                return
            self.lines.append(line)


def run_demo_command(data_dir: Path, *args: str) -> DemoProcess:
    port = free_port()
    command = [sys.executable, "-c", "from app.cli import main; main()", "demo",
               "--port", str(port), "--data-dir", str(data_dir), *args]
    process = subprocess.Popen(
        command, cwd=ROOT, env=clean_environment(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, encoding="utf-8",
    )
    demo = DemoProcess(process, port)
    threading.Thread(target=demo._read, daemon=True).start()
    return demo


@contextlib.contextmanager
def demo_command(data_dir: Path, *args: str) -> Iterator[DemoProcess]:
    demo = run_demo_command(data_dir, *args)
    try:
        yield demo
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait()


@dataclass(frozen=True)
class SeededWorld:
    folder: Path
    first_output: str


@pytest.fixture(scope="session")
def seeded_world(tmp_path_factory: pytest.TempPathFactory) -> SeededWorld:
    """A demo folder seeded by a first `yueban demo`, stopped with Ctrl-C (SIGINT)."""
    folder = tmp_path_factory.mktemp("demo") / "seeded"
    with demo_command(folder) as demo:
        demo.wait_for("Press Ctrl-C", SEEDING_TIMEOUT_S)
        code = demo.stop(signal.SIGINT)
        assert code == 0, demo.output
    return SeededWorld(folder, demo.output)


@pytest.fixture
def demo_dir(seeded_world: SeededWorld, tmp_path: Path) -> Path:
    """A copy of the seeded demo folder of this test's own."""
    target = tmp_path / "demo"
    shutil.copytree(seeded_world.folder, target)
    return target


@pytest.fixture
def no_yueban_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("YUEBAN_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def demo(demo_dir: Path, no_yueban_environment: None) -> AsyncIterator[RunningDemo]:
    """The demo running in this test's event loop, on a free port."""
    running = await start_demo(DemoOptions(port=0, data_dir=demo_dir),
                               Settings(_env_file=None))  # type: ignore[call-arg]
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture(scope="session")
def chromium() -> str:
    if not CHROMIUM.exists():
        _unavailable(f"browser test skipped: {CHROMIUM} is missing; `make browser` installs "
                     "Debian's chromium (as root with apt-get), or set CHROMIUM_PATH")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _unavailable("browser test skipped: the playwright package is missing; "
                     "pip install -e '.[dev]'")
    return str(CHROMIUM)


@pytest.fixture
async def page(chromium: str) -> AsyncIterator[Page]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium,
                                                   args=CHROMIUM_FLAGS)
        try:
            context = await browser.new_context(viewport={"width": 1600, "height": 950})
            page = await context.new_page()
            errors: list[Any] = []
            page.on("pageerror", lambda error: errors.append(error))
            yield page
            assert errors == [], f"the page raised: {errors}"
        finally:
            await browser.close()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
