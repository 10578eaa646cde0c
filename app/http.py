"""`yueban run`: every chat channel on one HTTP server and one relay, in one or N processes.

Telegram and WeChat both listen on `YUEBAN_HTTP_HOST:YUEBAN_HTTP_PORT`, so with both
enabled they share one aiohttp application: the Telegram service serves it (webhook or
long polling, `/healthz`) and WeChat mounts `/wechat` and `/pay/wechat/notify` on it. They
also share one notice relay (Telegram's, with the WeChat messenger registered in it): a
relay plans deliveries only for the platforms it serves, so two relays would each mark
events dispatched and leave the other platform's notices unplanned. Order chats cross
between them: each channel's relay courier is given the other channel's carrier. With WeChat alone,
`app.wechat.serve_wechat` serves its own application and relay.

With `YUEBAN_HTTP_WORKERS` above 1, `run_workers` starts that many worker processes
("spawn": each a whole runtime, as one process would be) that all listen on the same host
and port with SO_REUSEPORT, so the kernel spreads connections over them. What they must
agree on is shared: update de-duplication, conversation state, rate limits and albums in
Redis, the outbox claimed row by row (`FOR UPDATE SKIP LOCKED`) and one sweeper by leader
lock in PostgreSQL. Worker 0 alone registers the Telegram webhook and the menus. The parent
serves nothing: it forwards SIGINT/SIGTERM to the workers, waits for them, and when one dies
unexpectedly stops the others and exits non-zero naming it. When the parent itself dies
without a word (SIGKILL, the OOM killer), each worker stops as on SIGTERM (`app.lifeline`),
so no stale worker keeps the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import TYPE_CHECKING

from aiohttp import web

from app.bootstrap import Runtime, bootstrap
from app.lifeline import run_with_parent
from app.process import tune_collector
from app.scheduler import sweeping
from app.settings import ConfigurationError, Settings
from app.wechat import build_wechat, check_wechat_settings, serve_wechat

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from redis.asyncio import Redis

log = logging.getLogger(__name__)

Mount = Callable[[web.Application], None]


async def serve_channels(settings: Settings, runtime: Runtime, stop: asyncio.Event, *,
                         redis: Redis | None = None, redis_namespace: str = "yueban",
                         announce: bool = True, mounts: Sequence[Mount] = ()) -> None:
    """Serve WeChat, and Telegram when it is enabled too, until `stop` is set; only when
    `announce` register the Telegram webhook and the menus (one worker of many does)."""
    if not settings.telegram_enabled:
        await serve_wechat(build_wechat(settings, runtime, redis=redis,
                                        redis_namespace=redis_namespace), stop,
                           announce=announce, mounts=mounts)
        return
    from app.telegram import build_telegram, serve_telegram
    from bots.telegram.handlers.relay import TelegramCarrier, TelegramMedia

    telegram = build_telegram(settings, runtime, redis=redis, redis_namespace=redis_namespace)
    # Order chats cross platforms: each channel's courier gets the other's carrier.
    wechat = build_wechat(
        settings, runtime, redis=redis, redis_namespace=redis_namespace, relay=telegram.relay,
        relay_carriers={"telegram": TelegramCarrier(
            telegram.bot,
            protect_content=bool(telegram.dispatcher.workflow_data.get("relay_protect_content")),
        )},
        relay_media={"telegram": TelegramMedia(telegram.bot)},
    )
    telegram.dispatcher["relay_carriers"] = {"wechat": wechat.relay_carrier}
    menu = asyncio.create_task(wechat.install_menu(), name="wechat-menu") if announce else None
    try:
        await serve_telegram(telegram, stop, mounts=[wechat.mount, *mounts], announce=announce)
    finally:
        if menu is not None:
            await menu
        wechat.close()


async def run_channels(settings: Settings, *, announce: bool = True,
                       mounts: Sequence[Mount] = ()) -> None:
    """`yueban run` with WeChat enabled: wire everything, serve until SIGINT/SIGTERM."""
    check_wechat_settings(settings)
    runtime = bootstrap(settings)
    redis = _redis(settings.redis_url) if settings.redis_url else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    tune_collector()
    try:
        async with sweeping(runtime):
            await serve_channels(settings, runtime, stop, redis=redis, announce=announce,
                                 mounts=mounts)
    finally:
        if redis is not None:
            await redis.aclose()
        await runtime.close()


def _redis(url: str) -> Redis:
    from storage.redis_client import redis_client

    return redis_client(url)


# -- N worker processes on one port --------------------------------------------------------------

WORKER_HEADER = "X-Yueban-Worker"
# How long stopping workers may take (they finish the updates in flight) before they are killed.
STOP_GRACE_S = 30.0


def check_workers(settings: Settings) -> None:
    """Refuse more than one worker where the workers could not share their state."""
    count = settings.http_workers
    if count <= 1:
        return
    setting = f"YUEBAN_HTTP_WORKERS={count}"
    if settings.database_url.startswith("sqlite"):
        raise ConfigurationError(
            f"{setting} needs PostgreSQL: SQLite (YUEBAN_DATABASE_URL) takes one writer at a "
            "time and its sweeper lock holds only on one machine; set YUEBAN_HTTP_WORKERS=1 "
            "or a postgresql+asyncpg:// URL"
        )
    if not settings.redis_url:
        raise ConfigurationError(
            f"{setting} needs YUEBAN_REDIS_URL: without Redis each worker keeps its own update "
            "de-duplication, conversation state and rate limits, so a repeated update would be "
            "answered twice; set YUEBAN_HTTP_WORKERS=1 or YUEBAN_REDIS_URL"
        )
    if settings.telegram_enabled and not settings.telegram_webhook_url:
        raise ConfigurationError(
            f"{setting} needs YUEBAN_TELEGRAM_WEBHOOK_URL: without it the bot long-polls, and "
            "Telegram hands updates to one getUpdates poller only; set YUEBAN_HTTP_WORKERS=1 "
            "or a webhook URL"
        )


def run_workers(settings: Settings, echo: Callable[[str], None]) -> int:
    """Serve with `settings.http_workers` processes until SIGINT/SIGTERM; the exit code."""
    return supervise(settings.http_workers, functools.partial(_worker_main, settings), echo)


def supervise(count: int, target: Callable[[int], None], echo: Callable[[str], None]) -> int:
    """Run `target(index)` in `count` spawned processes until SIGINT/SIGTERM; the exit code.

    The signal is forwarded to every worker. 0 after a stop that every worker obeyed; 1 when
    a worker died unexpectedly (the others are then stopped) or failed to stop, with a line
    through `echo` naming it. A worker stops by itself if this process ends without telling
    it (killed, crashed): see `app.lifeline`.
    """
    context = multiprocessing.get_context("spawn")
    asked: list[int] = []  # the signals received, forwarded to the workers

    def remember(signum: int, _frame: object) -> None:
        asked.append(signum)

    previous = {signum: signal.signal(signum, remember)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    workers: list[BaseProcess] = []
    try:
        for index in range(count):
            if asked:
                break
            worker = context.Process(target=run_with_parent,
                                     args=(os.getpid(), STOP_GRACE_S, target, index),
                                     name=f"yueban-worker-{index}")
            worker.start()
            workers.append(worker)
        return _supervise(workers, asked, echo)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _supervise(workers: list[BaseProcess], asked: list[int],
               echo: Callable[[str], None]) -> int:
    failed = False
    stop_signal: int | None = None
    signalled: set[int] = set()
    ended: set[int] = set()
    deadline: float | None = None
    while any(worker.exitcode is None for worker in workers):
        wait([w.sentinel for w in workers if w.exitcode is None], timeout=0.2)
        if stop_signal is None and asked:
            stop_signal = asked[0]
        for index, worker in enumerate(workers):
            code = worker.exitcode
            if code is None or index in ended:
                continue
            ended.add(index)
            if stop_signal is None:
                echo(f"yueban run: worker {index} (pid {worker.pid}) exited unexpectedly "
                     f"with {_exit(code)}; stopping the other workers")
                failed, stop_signal = True, signal.SIGTERM
            elif code not in (0, -signal.SIGTERM, -signal.SIGINT):
                echo(f"yueban run: worker {index} (pid {worker.pid}) stopped with {_exit(code)}")
                failed = True
        if stop_signal is None:
            continue
        for index, worker in enumerate(workers):
            if worker.exitcode is None and index not in signalled and worker.pid is not None:
                signalled.add(index)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, stop_signal)
        if deadline is None:
            deadline = time.monotonic() + STOP_GRACE_S
        elif time.monotonic() > deadline:
            for index, worker in enumerate(workers):
                if worker.exitcode is None:
                    echo(f"yueban run: worker {index} (pid {worker.pid}) did not stop within "
                         f"{STOP_GRACE_S:.0f} s; killing it")
                    worker.kill()
                    ended.add(index)
                    failed = True
            for worker in workers:
                worker.join()
    return 1 if failed else 0


def _exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"exit code {code} (killed by {signal.Signals(-code).name})"
    return f"exit code {code}"


def _worker_main(settings: Settings, index: int) -> None:
    """One worker process: the whole of `yueban run`, announcing only as worker 0."""
    logging.basicConfig(level=logging.WARNING,
                        format=f"%(asctime)s worker {index} %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(settings.log_level.upper())
    log.info("worker %s (pid %s) starting", index, os.getpid())
    try:
        asyncio.run(serve_worker(settings, index))
    except KeyboardInterrupt:  # SIGINT before the worker took over its signals
        pass


async def serve_worker(settings: Settings, index: int) -> None:
    mounts = [_identify(index)]
    if settings.wechat_enabled:
        await run_channels(settings, announce=index == 0, mounts=mounts)
        return
    from app.telegram import run_telegram

    await run_telegram(settings, announce=index == 0, mounts=mounts)


def _identify(index: int) -> Mount:
    """Every answer names the worker that gave it (for operators reading a load balancer)."""
    label = f"{index} (pid {os.getpid()})"

    async def stamp(_: web.Request, response: web.StreamResponse) -> None:
        response.headers[WORKER_HEADER] = label

    def mount(app: web.Application) -> None:
        app.on_response_prepare.append(stamp)

    return mount
