"""`yueban demo`: the platform, the local Bot API stand-in and the browser chat, on one machine.

One aiohttp application on `YUEBAN_HTTP_HOST:YUEBAN_HTTP_PORT` (http://127.0.0.1:8080 by
default) serves the page and the stand-in. The page talks only to the stand-in (its
`/_standin` endpoints, plus `/demo/...` for its own set-up, the stand-in's files and the
walkthrough's narration); the stand-in talks to the real bot over HTTP exactly as Telegram
would: the bot is `app.telegram`'s production service with `YUEBAN_TELEGRAM_API_BASE`
pointing at the stand-in, receiving updates by webhook on a port of its own on 127.0.0.1.

Everything else is the production wiring: SQLite (a file in the demo folder, unless
`YUEBAN_DATABASE_URL` says otherwise), no Redis, the sandbox payment gateway, the notice
relay, the operators' group and the sweeper. The demo world is seeded on first start and
reused afterwards (`--reset` starts afresh). SIGINT and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.demo.files import FileVault
from app.demo.world import ALL_PEOPLE, OPERATOR, PROVIDERS, DemoWorld, Person, WorldSeeder
from app.scheduler import Sweeper, build_sweeper
from app.settings import Settings
from app.telegram import TelegramService, build_telegram, serve_telegram
from bots.i18n import gettext
from bots.telegram.standin import DEFAULT_TOKEN, BotApiStandIn
from bots.telegram.standin.world import Signal
from core.shared.clock import FixedClock
from storage import migrate
from storage.db import create_engine
from storage.tables.infra import outbox

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
DEFAULT_DATA_DIR = Path(".yueban-demo")
DATABASE_FILE = "demo.db"
FILES_DIR = "files"
BOT_USERNAME = "yueban_demo_bot"
GROUP_TITLE = "Yueban operators"
# Telegram's test payment provider tokens look like this; the stand-in charges nobody.
TEST_PROVIDER_TOKEN = "284685063:TEST:yueban-demo"
FILE_SAVE_INTERVAL_S = 5.0
LONG_POLL_MAX_S = 30.0

# Places a person can share from the page (a real client would read the phone's GPS).
PLACES = (
    ("people_square", 31.2304, 121.4737),
    ("the_bund", 31.2400, 121.4900),
    ("jingan_temple", 31.2237, 121.4455),
    ("xujiahui", 31.1950, 121.4365),
)


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class DemoOptions:
    port: int | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    reset: bool = False
    walkthrough: bool = False
    pace: float = 1.0
    language: str = "en"


# -- settings -------------------------------------------------------------------------------


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def database_url(base: Settings, data_dir: Path) -> str:
    """`YUEBAN_DATABASE_URL` when it was given, else a SQLite file in the demo folder."""
    if "database_url" in base.model_fields_set:
        return base.database_url
    return f"sqlite+aiosqlite:///{(data_dir / DATABASE_FILE).resolve()}"


def bot_settings(base: Settings, options: DemoOptions, *, api_base: str, bot_port: int,
                 group_chat_id: int) -> Settings:
    """The settings the bot and the core run with in the demo.

    Fixed: demo mode, the stand-in's token and URL, a webhook on 127.0.0.1, the operators'
    group, no Redis, no WeChat. Defaults that only the demo changes (each kept when set in
    the environment): a test card-payment token and the sandbox, earnings settle at once,
    providers stay online through a long session, timers are swept every two seconds, an
    order's chat closes as its order ends, new people and the operators' group speak the
    page's language.
    """
    given = base.model_fields_set
    changes: dict[str, Any] = {
        "mode": "demo",
        "database_url": database_url(base, options.data_dir),
        "redis_url": None,
        "http_host": "127.0.0.1",
        "http_port": bot_port,
        "telegram_token": SecretStr(DEFAULT_TOKEN),
        "telegram_api_base": api_base,
        "telegram_webhook_url": f"http://127.0.0.1:{bot_port}/telegram/webhook",
        "telegram_webhook_secret": SecretStr(secrets.token_urlsafe(24)),
        "telegram_admin_chat_id": group_chat_id,
        "wechat_app_id": None,
        "wechat_pay_mch_id": None,
    }
    defaults: dict[str, Any] = {
        "telegram_payment_provider_token": SecretStr(TEST_PROVIDER_TOKEN),
        "sandbox_payments": True,
        "settlement_days": 0,
        "provider_idle_minutes": 24 * 60,
        "booking_sweep_interval_s": 2.0,
        "default_locale": options.language,
        # The next order between the same two people then starts a chat of its own.
        "relay_close_after_hours": 0,
    }
    changes.update({name: value for name, value in defaults.items()
                    if name in Settings.model_fields and name not in given})
    return base.model_copy(update={k: v for k, v in changes.items() if k in Settings.model_fields})


# -- what the page reads besides the stand-in -------------------------------------------------


@dataclass
class Narration:
    """The walkthrough's captions, in order, for the page to show (long-polled)."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    changed: Signal = field(default_factory=Signal)

    def say(self, text: str, *, step: int | None = None, of: int | None = None,
            done: bool = False) -> None:
        self.lines.append({"seq": len(self.lines) + 1, "text": text, "step": step, "of": of,
                           "done": done})
        self.changed.notify()
        log.info("walkthrough: %s", text)


@dataclass
class PageState:
    """What `/demo/config` tells the page: the panes, the people, the texts."""

    language: str
    panes: list[dict[str, Any]] = field(default_factory=list)
    roles: dict[int, str] = field(default_factory=dict)  # Telegram id -> role label key


PAGE_TEXT_KEYS = (
    "title", "subtitle", "add_person", "add_person_title", "add_person_name",
    "add_person_language", "add_person_create", "add_person_open", "add_person_cancel",
    "send", "type_message", "start", "attach", "sample_photo", "choose_photo",
    "share_location", "pick_place", "custom_place", "latitude", "longitude", "share",
    "pay", "test_payment", "paid", "payment_failed", "invoice", "location", "open_map",
    "edited", "deleted", "reply", "replying_to", "cancel_reply", "typing",
    "callback_alert_close", "voice", "document", "sticker", "no_messages", "close_pane",
    "connection_lost", "refunded", "video", "force_reply", "blocked", "keyboard",
    "role_customer", "role_provider", "role_newcomer", "role_operators", "role_hall_manager",
    "role_reviewer", "role_person",
    "place_people_square", "place_the_bund", "place_jingan_temple", "place_xujiahui",
)


def page_texts(language: str) -> dict[str, str]:
    return {key: gettext(f"demo.page.{key}", language) for key in PAGE_TEXT_KEYS}


class DemoStandIn(BotApiStandIn):
    """The stand-in, plus the page and what only the page needs, on the same server."""

    def __init__(self, page: PageState, narration: Narration, **options: Any) -> None:
        super().__init__(**options)
        self.page = page
        self.narration = narration

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.router.add_get("/", self._index)
        app.router.add_get("/demo/config", self._config)
        app.router.add_get("/demo/narration", self._narration)
        app.router.add_get("/demo/files/{file_id}", self._file)
        app.router.add_static("/demo/static/", STATIC, show_index=False)
        return app

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _config(self, request: web.Request) -> web.Response:
        world = self.bot
        people = [
            {"id": user["id"], "name": " ".join(filter(None, (user.get("first_name"),
                                                               user.get("last_name")))),
             "language": user.get("language_code"),
             "role": self.page.roles.get(int(user["id"]), "role_person")}
            for user in world.users.values()
        ]
        return web.json_response({"ok": True, "result": {
            "bot": world.bot_user,
            "language": self.page.language,
            "texts": page_texts(self.page.language),
            "panes": self.page.panes,
            "people": people,
            "places": [{"key": key, "latitude": lat, "longitude": lon}
                       for key, lat, lon in PLACES],
            "event_seq": len(world.events),
        }})

    async def _narration(self, request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
            timeout = min(max(float(request.query.get("timeout", "0")), 0.0), LONG_POLL_MAX_S)
        except ValueError:
            return web.json_response({"ok": False, "description": "after and timeout are numbers"},
                                     status=400)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            lines = self.narration.lines[after:]
            remaining = deadline - loop.time()
            if lines or remaining <= 0 or self.api.closing:
                return web.json_response({"ok": True, "result": lines})
            await self.narration.changed.wait(remaining)

    async def _file(self, request: web.Request) -> web.Response:
        stored = self.bot.files.get(request.match_info["file_id"])
        if stored is None:
            return web.json_response({"ok": False, "description": "no such file"}, status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type,
                            headers={"Cache-Control": "max-age=86400"})


# -- the running demo -----------------------------------------------------------------------


@dataclass
class RunningDemo:
    """Everything `yueban demo` runs; tests start one in-process with `start_demo`."""

    options: DemoOptions
    settings: Settings
    standin: DemoStandIn
    world: DemoWorld
    group_chat_id: int
    runtime: Runtime
    service: TelegramService
    sweeper: Sweeper
    vault: FileVault
    narration: Narration
    url: str
    bot_task: asyncio.Task[None]
    bot_stop: asyncio.Event
    sweep_task: asyncio.Task[None]
    sweep_stop: asyncio.Event
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop in order: the walkthrough, timers, the bot, then the stand-in; keep files."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # A sweep under way finishes before the database goes away.
        self.sweep_stop.set()
        with contextlib.suppress(Exception):
            await self.sweep_task
        await self.sweeper.stop()
        self.bot_stop.set()
        with contextlib.suppress(Exception):
            await self.bot_task
        self.vault.save(self.standin.bot)
        await self.standin.stop()
        await self.runtime.engine.dispose()


Report = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


async def start_demo(options: DemoOptions, base: Settings | None = None,
                     report: Report = _quiet) -> RunningDemo:
    """Start the stand-in and the page, migrate, seed (or reuse) the world, then start the
    bot and the sweeper. The port is taken first, so a busy port changes no data."""
    base = base if base is not None else Settings()
    host = base.http_host
    port = options.port if options.port is not None else base.http_port
    data_dir = options.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    # The demo folder holds a database and files: keep it out of version control.
    (data_dir / ".gitignore").write_text("*\n", encoding="utf-8")

    page = PageState(language=options.language)
    narration = Narration()
    standin = DemoStandIn(page, narration, bot_username=BOT_USERNAME, bot_first_name="Yueban")
    for spec in ALL_PEOPLE:
        standin.create_user(spec.first_name, last_name=spec.last_name or None,
                            language_code=_language(spec.language, spec.follows_page_language,
                                                    options.language),
                            user_id=spec.telegram_id)
    operator_sim = standin.user(OPERATOR.telegram_id)
    group = standin.create_group(GROUP_TITLE, [operator_sim], admins=[operator_sim],
                                 bot_is_admin=True)
    try:
        await standin.start(host, port)
    except OSError as error:
        raise DemoError(gettext("demo.cli.port_taken", options.language, host=host, port=port,
                                error=error.strerror or str(error))) from error
    # Listening on every interface: this machine still reaches the page at 127.0.0.1.
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    public_url = f"http://{shown_host}:{standin.port}"
    api_base = f"http://127.0.0.1:{standin.port}"
    settings = bot_settings(base, options, api_base=api_base, bot_port=_free_port(),
                            group_chat_id=group.id)
    engine: AsyncEngine | None = None
    try:
        if options.reset:
            await _reset(settings.database_url, data_dir, report)
        vault = FileVault(data_dir / FILES_DIR)
        vault.restore(standin.bot)
        await migrate.aupgrade(settings.database_url)
        engine = create_engine(settings.database_url)
        world = await _seed(settings, engine, standin, options, report)
        vault.save(standin.bot)
        _restore_other_people(standin, world)
        _describe_panes(page, world, group.id, options.language)
        runtime = bootstrap(settings, engine=engine)
        service = build_telegram(settings, runtime)
        stop = asyncio.Event()
        serving = asyncio.create_task(serve_telegram(service, stop), name="demo-bot")
        try:
            await _until_bot_is_up(standin, serving, settings)
        except BaseException:
            stop.set()
            with contextlib.suppress(Exception):
                await serving
            raise
        sweeper = build_sweeper(runtime)
        sweep_stop = asyncio.Event()
        sweeping = asyncio.create_task(
            _sweep(sweeper, settings.booking_sweep_interval_s, sweep_stop), name="demo-sweeper")
    except BaseException:
        await standin.stop()
        if engine is not None:
            await engine.dispose()
        raise
    demo = RunningDemo(options, settings, standin, world, group.id, runtime, service, sweeper,
                       vault, narration, public_url, serving, stop, sweeping, sweep_stop)
    demo.tasks.append(asyncio.create_task(_keep_files(demo), name="demo-files"))
    return demo


def _language(own: str, follows_page: bool, page_language: str) -> str:
    return page_language if follows_page else own


async def _reset(url: str, data_dir: Path, report: Report) -> None:
    report("reset")
    if not _remove_local_data(url, data_dir):
        await migrate.adowngrade(url, "base")


def _remove_local_data(url: str, data_dir: Path) -> bool:
    """Delete the kept files and a SQLite database; False when the database is a server's."""
    shutil.rmtree(data_dir / FILES_DIR, ignore_errors=True)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return False
    for suffix in ("", "-wal", "-shm"):
        Path(parsed.database + suffix).unlink(missing_ok=True)
    return True


async def _seed(settings: Settings, engine: AsyncEngine, standin: DemoStandIn,
                options: DemoOptions, report: Report) -> DemoWorld:
    """Seed on a clock of its own; the history's notices are not sent to anybody."""
    async with engine.connect() as connection:
        before = (await connection.execute(sa.select(sa.func.max(outbox.c.id)))).scalar() or 0
    clock = FixedClock(datetime.now(UTC))
    history = bootstrap(settings, clock=clock, engine=engine)

    def store(kind: str, data: bytes) -> str:
        return standin.bot.store_file(kind, data, mime_type="image/png", extension="png").file_id

    seeder = WorldSeeder(history.bus, clock, store, page_language=options.language,
                         progress=report)
    world = await seeder.seed(datetime.now(UTC))
    # Everything the seeding recorded already happened: nobody is told about it now.
    async with engine.begin() as connection:
        await connection.execute(
            outbox.update()
            .where(outbox.c.id > before, outbox.c.dispatched_at.is_(None))
            .values(dispatched_at=datetime.now(UTC))
        )
    return world


def _restore_other_people(standin: DemoStandIn, world: DemoWorld) -> None:
    """People added in the page in earlier runs come back with their Telegram accounts."""
    for telegram_id, user in world.others.items():
        if telegram_id in standin.bot.users:
            continue
        first, _, last = user.display_name.partition(" ")
        standin.create_user(first or "Guest", last_name=last or None,
                            language_code=user.locale, user_id=telegram_id)


def _describe_panes(page: PageState, world: DemoWorld, group_chat_id: int, language: str) -> None:
    def pane(person: Person, role: str, chat_id: int | None = None) -> dict[str, Any]:
        return {"role": role, "user_id": person.telegram_id,
                "chat_id": chat_id if chat_id is not None else person.telegram_id,
                "title": person.spec.full_name if chat_id is None else GROUP_TITLE,
                "subtitle": gettext(f"demo.page.{role}", language)}

    page.panes = [
        pane(world.customer, "role_customer"),
        pane(world.provider, "role_provider"),
        pane(world.newcomer, "role_newcomer"),
        pane(world.operator, "role_operators", group_chat_id),
    ]
    page.roles = {spec.person.telegram_id: "role_provider" for spec in PROVIDERS}
    page.roles.update({
        world.customer.telegram_id: "role_customer",
        world.newcomer.telegram_id: "role_newcomer",
        world.operator.telegram_id: "role_operators",
        world.hall_manager.telegram_id: "role_hall_manager",
    })
    for person in world.people.values():
        page.roles.setdefault(person.telegram_id, "role_reviewer")


async def _until_bot_is_up(standin: BotApiStandIn, serving: asyncio.Task[None],
                           settings: Settings) -> None:
    """The bot answers /healthz and has registered its webhook with the stand-in."""
    health = f"http://127.0.0.1:{settings.http_port}/healthz"
    async with aiohttp.ClientSession() as http:
        for _ in range(3000):
            if serving.done():
                serving.result()
                raise DemoError("the bot stopped while starting")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(health) as response:
                    if response.status == 200 and standin.bot.webhook is not None:
                        return
            await asyncio.sleep(0.01)
    raise DemoError("the bot did not come up within 30 s")


async def _sweep(sweeper: Sweeper, interval_s: float, stop: asyncio.Event) -> None:
    """The sweeper's ticks one after another until the demo stops. (Not APScheduler's
    timer: stopping here waits for a tick under way, so none outlives the database.)"""
    while not stop.is_set():
        await sweeper.tick()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await stop.wait()


async def _keep_files(demo: RunningDemo) -> None:
    """Write new stand-in files to the demo folder now and then (a crash loses little)."""
    while True:
        await asyncio.sleep(FILE_SAVE_INTERVAL_S)
        try:
            demo.vault.save(demo.standin.bot)
        except OSError:
            log.exception("could not keep the demo's files")


# -- `yueban demo` ----------------------------------------------------------------------------


async def run_demo(options: DemoOptions, base: Settings | None = None,
                   echo: Callable[[str], None] = print) -> int:
    """Serve until SIGINT or SIGTERM; with `--walkthrough` play the journey in the page."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    language = options.language

    def report(step: str) -> None:
        echo(gettext(f"demo.cli.{step}", language))

    starting = asyncio.create_task(start_demo(options, base, report))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        echo(gettext("demo.cli.stopped", language))
        return 0
    stopper.cancel()
    demo = starting.result()
    try:
        report_world(demo, echo)
        echo(gettext("demo.cli.ready", language, url=demo.url))
        if options.walkthrough:
            from app.demo.walkthrough import play

            async def walk() -> None:
                result = await play(demo, pace=options.pace)
                echo(gettext("demo.cli.walkthrough_done" if result.completed
                             else "demo.cli.walkthrough_failed", language, reason=result.reason))

            demo.tasks.append(asyncio.create_task(walk(), name="demo-walkthrough"))
        echo(gettext("demo.cli.stop_hint", language))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({stopper, demo.bot_task}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if demo.bot_task.done() and not stop.is_set():
            # The bot stopped by itself: say why rather than serve a page nobody answers.
            error = demo.bot_task.exception() if not demo.bot_task.cancelled() else None
            echo(gettext("demo.cli.bot_died", language, error=error or "-"))
            return 1
    finally:
        echo(gettext("demo.cli.stopping", language))
        await demo.close()
    echo(gettext("demo.cli.stopped", language))
    return 0


def report_world(demo: RunningDemo, echo: Callable[[str], None]) -> None:
    seeded = demo.world.report
    key = "demo.cli.world_seeded" if seeded.providers_added else "demo.cli.world_reused"
    echo(gettext(key, demo.options.language, providers=len(PROVIDERS),
                 reviews=seeded.reviews_added, database=demo.settings.database_url))

