"""`yueban run` with `YUEBAN_HTTP_WORKERS=2`: two processes serve one port, an update is
answered once whichever worker gets it (and however often it comes), SIGTERM stops them
all, a worker that dies takes the service down loudly, and settings the workers could not
share are refused naming the setting."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner

from app.cli import app
from app.http import supervise
from bots.telegram.standin import BotApiStandIn, RateLimits
from tests.adapters.processes import until_healthy, yueban_run
from tests.adapters.telegram.conftest import free_port
from tests.adapters.telegram.waiting_worker import wait_in_a_worker
from tests.conftest import _truncate_all

SECRET = "workers-test-secret_1"
PG_EXAMPLE = "postgresql+asyncpg://postgres@127.0.0.1:5432/yueban"
KEY = "ZGVtby1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="
WORKER = re.compile(r"^(\d+) \(pid (\d+)\)$")


@dataclass
class Served:
    process: asyncio.subprocess.Process
    standin: BotApiStandIn
    port: int
    updates: list[dict[str, Any]] = field(default_factory=list)  # what the stand-in sent

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram/webhook"

    async def worker_of(self, method: str, url: str, **request: Any) -> tuple[int, int]:
        """(worker index, pid) that answered a request on a connection of its own."""
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http, \
                http.request(method, url, **request) as response:
            assert response.status == 200, await response.text()
            found = WORKER.match(response.headers.get("X-Yueban-Worker", ""))
        assert found, "the answer names no worker"
        return int(found[1]), int(found[2])

    async def output(self) -> str:
        stdout, _ = await asyncio.wait_for(self.process.communicate(), 40)
        return stdout.decode()


@contextlib.asynccontextmanager
async def serving(postgres_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    await _truncate_all(postgres_url)
    port = free_port()
    # A bot of its own: Redis keys carry the bot's id, so nothing is left from another run.
    token = f"{7_100_000_000 + secrets.randbelow(10**8)}:AAWorkers{secrets.token_hex(8)}"
    async with BotApiStandIn.running(token=token, rate_limits=RateLimits.off()) as standin:
        updates: list[dict[str, Any]] = []
        emit = standin.bot.emit

        def recorded(update_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
            update = emit(update_type, payload)
            if update is not None:
                updates.append(update)
            return update

        standin.bot.emit = recorded  # type: ignore[method-assign]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("YUEBAN_")},
            "YUEBAN_MODE": "demo",
            "YUEBAN_HTTP_WORKERS": "2",
            "YUEBAN_DATABASE_URL": postgres_url,
            "YUEBAN_REDIS_URL": redis_url,
            "YUEBAN_TELEGRAM_TOKEN": standin.token,
            "YUEBAN_TELEGRAM_API_BASE": standin.base_url,
            "YUEBAN_TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "YUEBAN_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "YUEBAN_HTTP_PORT": str(port),
        }
        try:
            async with yueban_run(env, tmp_path) as process:
                served = Served(process, standin, port, updates)
                await _until_serving(served)
                yield served
        finally:
            await _forget(redis_url, standin.bot.bot_id)


async def _until_serving(served: Served) -> None:
    await until_healthy(served.process, served.port, within=40,
                        ready=lambda: served.standin.bot.webhook is not None)


async def _forget(redis_url: str, bot_id: int) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter("yueban:*") if str(bot_id).encode() in key]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _ended(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet: an orphan's new parent may be slow to reap it
    (or never do so in a container), but a zombie runs nothing and holds no socket."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


async def _until_ended(pids: Iterable[int], within: float) -> float:
    """Seconds until every one of `pids` ended; fails after `within`."""
    started = time.monotonic()
    while not all(_ended(pid) for pid in pids):
        assert time.monotonic() - started < within, [p for p in pids if not _ended(p)]
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def _port_is_free(port: int) -> bool:
    """Whether a new server could listen on `port` (SO_REUSEADDR as servers set it, but not
    SO_REUSEPORT, which would let it share the port with a stale one)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def _parent_of(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after it.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


async def _workers_answering(served: Served, wanted: int = 2) -> dict[int, int]:
    """Which workers answer: asked until `wanted` have, for up to 30 s, since one worker may
    be up well before the other (each imports and wires everything on its own)."""
    seen: dict[int, int] = {}
    deadline = asyncio.get_running_loop().time() + 30
    while len(seen) < wanted and asyncio.get_running_loop().time() < deadline:
        index, pid = await served.worker_of("GET", f"http://127.0.0.1:{served.port}/healthz")
        seen[index] = pid
        if len(seen) < wanted:
            await asyncio.sleep(0.01)
    return seen


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow  # a parent and two worker processes importing aiogram: several seconds
async def test_two_workers_answer_each_update_once_and_stop_together(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    async with serving(postgres_url, redis_url, tmp_path) as served:
        standin = served.standin
        standin.duplicate_updates = True  # Telegram may deliver an update twice
        workers = await _workers_answering(served)
        assert sorted(workers) == [0, 1]
        assert len(set(workers.values())) == 2
        assert all(_parent_of(pid) == served.process.pid for pid in workers.values())

        people = [standin.create_user(name, language_code="en")
                  for name in ("Ann", "Bo", "Cai", "Dan", "Eve", "Fay")]
        for person in people:
            await person.start()
        for person in people:
            reply = await person.next_message(within=15)
            assert reply["text"].startswith(f"Hi {person.user['first_name']}, welcome")
        # Every update again, each on a connection of its own, so the kernel spreads them:
        # the worker that did not answer it the first time must know it was answered.
        answered_by = set()
        for update in list(served.updates):
            for _ in range(3):
                index, _pid = await served.worker_of(
                    "POST", served.webhook, json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
                answered_by.add(index)
        assert answered_by == {0, 1}
        await asyncio.sleep(1.5)  # what a repeat would have sent has been sent by now
        for person in people:
            welcomes = [m for m in person.bot_messages() if "welcome" in (m.get("text") or "")]
            assert len(welcomes) == 1, (person.user["first_name"], welcomes)

        # One worker registered the webhook and the menu; the other did not.
        assert len(standin.calls("setWebhook")) == 1
        menus = [c.params.get("language_code") for c in standin.calls("setMyCommands")]
        assert set(menus) >= {None, "zh", "en"}
        assert len(menus) == len(set(menus))

        served.process.send_signal(signal.SIGTERM)
        output = await served.output()
        assert served.process.returncode == 0, output
        assert "Telegram bot (webhook)" in output and "2 workers" in output
        assert all(_gone(pid) for pid in workers.values()), output


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow  # a parent and two worker processes importing aiogram: several seconds
async def test_workers_stop_when_their_parent_is_killed_and_free_the_port(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    # SIGKILL forwards nothing: left running, the workers would keep serving the port
    # beside whatever `yueban run` is started next.
    async with serving(postgres_url, redis_url, tmp_path) as served:
        workers = await _workers_answering(served)
        assert sorted(workers) == [0, 1]
        served.process.kill()
        await _until_ended(workers.values(), within=10)
        assert _port_is_free(served.port)
        output = await served.output()
        for index in (0, 1):
            assert f"worker {index} stopped: its parent (pid {served.process.pid}) is gone" \
                in output, output


# A parent that starts one child ending with it (`app.lifeline`) and waits.
PARENT = """
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), *sys.argv[2:]])
time.sleep(120)
"""
# The child: SIGTERM writes `stopped` and exits, or is ignored; `ready` holds its pid.
CHILD = """
import os, signal, sys, time
from pathlib import Path
import app.lifeline
parent, folder, grace, check_every, ask_kernel, obey = sys.argv[1:]
folder = Path(folder)
app.lifeline.CHECK_EVERY_S = float(check_every)
def stop(signum, frame):
    (folder / "stopped").write_text(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop if obey == "obey" else signal.SIG_IGN)
app.lifeline.end_with_parent(int(parent), grace=float(grace),
                             ask_kernel=ask_kernel == "kernel")
(folder / "ready").write_text(str(os.getpid()))
time.sleep(120)
"""


async def _orphan(tmp_path: Path, *, grace: float, check_every: float, ask_kernel: bool,
                  obey: bool) -> float:
    """Start a parent and its child, SIGKILL the parent; seconds until the child ended."""
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PARENT, CHILD, str(tmp_path), str(grace), str(check_every),
        "kernel" if ask_kernel else "thread", "obey" if obey else "ignore",
        start_new_session=True)
    try:
        ready = tmp_path / "ready"
        for _ in range(300):
            if ready.exists() and ready.read_text():
                break
            await asyncio.sleep(0.05)
        child = int(ready.read_text())
        parent.kill()
        return await _until_ended([child], within=5 if obey else grace + 5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)  # the child too, if it outlived the test
        await parent.wait()


@pytest.mark.parametrize(("ask_kernel", "check_every"), [(True, 3600), (False, 0.1)],
                         ids=["prctl", "polling"])
async def test_a_worker_whose_parent_is_killed_is_stopped_as_by_sigterm(
        tmp_path: Path, ask_kernel: bool, check_every: float) -> None:
    # With prctl the kernel signals at once (the hourly check would be too late); polling
    # is what systems without prctl(PR_SET_PDEATHSIG) rely on.
    await _orphan(tmp_path, grace=30, check_every=check_every, ask_kernel=ask_kernel,
                  obey=True)
    assert (tmp_path / "stopped").read_text() == "SIGTERM"


async def test_a_worker_whose_parent_ended_before_it_asked_the_kernel_stops_at_once(
        tmp_path: Path) -> None:
    # The parent died while the worker was starting: the kernel has nothing left to watch.
    ended = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await ended.wait()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(ended.pid), str(tmp_path), "30", "3600", "kernel",
        "obey", start_new_session=True)
    try:
        assert await asyncio.wait_for(child.wait(), 10) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert (tmp_path / "stopped").read_text() == "SIGTERM"
    assert not (tmp_path / "ready").exists()


async def test_a_worker_that_does_not_stop_is_killed_after_the_grace(tmp_path: Path) -> None:
    took = await _orphan(tmp_path, grace=1, check_every=0.1, ask_kernel=True, obey=False)
    assert took > 1
    assert not (tmp_path / "stopped").exists()


def test_a_worker_that_dies_stops_the_others_and_is_named(tmp_path: Path) -> None:
    # The supervisor `yueban run` uses, over workers that only wait: kill one, and the
    # parent stops the other and says which died.
    pids: dict[int, int] = {}

    def kill_worker_1() -> None:
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            for index in (0, 1):
                with contextlib.suppress(FileNotFoundError, ValueError):
                    pids[index] = int((tmp_path / f"{index}.pid").read_text())
            time.sleep(0.05)
        os.kill(pids[1], signal.SIGKILL)

    said: list[str] = []
    killer = threading.Thread(target=kill_worker_1)
    killer.start()
    code = supervise(2, functools.partial(wait_in_a_worker, tmp_path), said.append)
    killer.join()
    assert code == 1
    assert said == [f"yueban run: worker 1 (pid {pids[1]}) exited unexpectedly with exit code "
                    "-9 (killed by SIGKILL); stopping the other workers"]
    assert _gone(pids[0])


# -- refusals: no process is started -------------------------------------------------------------


def _run(env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    base = {"YUEBAN_MODE": "production", "YUEBAN_ENCRYPTION_KEY": KEY,
            "YUEBAN_HTTP_WORKERS": "2", "YUEBAN_DATABASE_URL": PG_EXAMPLE,
            "YUEBAN_REDIS_URL": "redis://127.0.0.1:6379/0",
            "YUEBAN_TELEGRAM_TOKEN": "123456789:AAHreal-looking_token",
            "YUEBAN_TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook",
            "YUEBAN_TELEGRAM_WEBHOOK_SECRET": "a-real-secret_42"}
    merged = {**base, **env}
    result = CliRunner().invoke(app, ["run"], env={k: v or None for k, v in merged.items()})
    return result.exit_code, result.output


WECHAT_ONLY = {"YUEBAN_TELEGRAM_TOKEN": "", "YUEBAN_TELEGRAM_WEBHOOK_URL": "",
               "YUEBAN_TELEGRAM_WEBHOOK_SECRET": "", "YUEBAN_WECHAT_APP_ID": "wx0123456789abcdef",
               "YUEBAN_WECHAT_APP_SECRET": "a-real-app-secret", "YUEBAN_WECHAT_TOKEN": "realtoken42"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"YUEBAN_TELEGRAM_WEBHOOK_URL": ""},
         "YUEBAN_HTTP_WORKERS=2 needs YUEBAN_TELEGRAM_WEBHOOK_URL"),
        ({"YUEBAN_REDIS_URL": ""}, "YUEBAN_HTTP_WORKERS=2 needs YUEBAN_REDIS_URL"),
        ({"YUEBAN_DATABASE_URL": "sqlite+aiosqlite:///./yueban.db"},
         "YUEBAN_HTTP_WORKERS=2 needs PostgreSQL"),
        ({**WECHAT_ONLY, "YUEBAN_REDIS_URL": ""}, "YUEBAN_HTTP_WORKERS=2 needs YUEBAN_REDIS_URL"),
        ({**WECHAT_ONLY, "YUEBAN_DATABASE_URL": "sqlite+aiosqlite:///./yueban.db"},
         "YUEBAN_HTTP_WORKERS=2 needs PostgreSQL"),
    ],
    ids=["telegram-long-polling", "no-redis", "sqlite", "wechat-no-redis", "wechat-sqlite"],
)
def test_settings_the_workers_could_not_share_are_refused_naming_the_setting(
        env: dict[str, str], named: str, tmp_path: Path) -> None:
    code, output = _run(env, tmp_path)
    assert code == 2, output
    assert f"cannot start: {named}" in output


def test_one_worker_needs_none_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.telegram

    served: list[Any] = []

    async def run_telegram(settings: Any, **_: Any) -> None:
        served.append(settings)

    monkeypatch.setattr(app.telegram, "run_telegram", run_telegram)
    code, output = _run({"YUEBAN_HTTP_WORKERS": "1", "YUEBAN_REDIS_URL": "",
                         "YUEBAN_TELEGRAM_WEBHOOK_URL": "", "YUEBAN_TELEGRAM_WEBHOOK_SECRET": "",
                         "YUEBAN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"},
                        tmp_path)
    assert code == 0, output
    assert [s.http_workers for s in served] == [1]
