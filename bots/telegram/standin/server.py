"""The stand-in as a real HTTP server on 127.0.0.1, and its Python face ``BotApiStandIn``.

Routes, as on api.telegram.org: ``/bot<token>/<method>`` (GET query, POST urlencoded,
POST JSON, POST multipart/form-data with files, all as aiogram sends them) and
``/file/bot<token>/<file_path>`` for downloads after getFile. ``/_standin/...`` is the
control surface for a browser page (see ``control``). ``BotApiStandIn.running()`` starts
it on a free port for a test or the demo and stops it afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from bots.telegram.standin.control import setup_control_routes
from bots.telegram.standin.errors import BotApiError, bad_request, not_found, unauthorized
from bots.telegram.standin.methods import BotApi
from bots.telegram.standin.ratelimit import RateLimits
from bots.telegram.standin.simulation import SimGroup, SimUser
from bots.telegram.standin.spec import ApiSpec, UploadedFile, default_spec_path
from bots.telegram.standin.webhook import WebhookDelivery
from bots.telegram.standin.world import ApiCall, BotWorld, ChatEvent

log = logging.getLogger("yueban.telegram.standin")

DEFAULT_TOKEN = "7000000001:AAStandInBotTokenForLocalTesting0001"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # Telegram's limit for files bots upload
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


# json.dumps with options builds a new encoder on every call; answers share this one.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


class BotApiStandIn:
    """A local Telegram Bot API server with simulated users, for tests and the demo."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "yueban_test_bot",
        bot_first_name: str = "Yueban",
        spec_path: Path | str | None = None,
        rate_limits: RateLimits | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        webhook_delivery: WebhookDelivery | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.spec = self._load_spec(Path(spec_path) if spec_path else default_spec_path())
        self.delivery = webhook_delivery or WebhookDelivery()
        self.api = BotApi(self.spec, webhooks=self.delivery)
        self.delivery.api = self.api
        self.rate_limits = rate_limits if rate_limits is not None else RateLimits()
        self.clock = clock
        self.monotonic = monotonic
        self.max_upload_bytes = max_upload_bytes
        self.worlds: dict[str, BotWorld] = {}
        self.bot = self.add_bot(token, username=bot_username, first_name=bot_first_name)
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @staticmethod
    def _load_spec(path: Path) -> ApiSpec | None:
        try:
            return ApiSpec.load(path)
        except FileNotFoundError:
            log.warning("Bot API spec %s not found: the stand-in runs WITHOUT request "
                        "validation", path)
            return None

    @property
    def validation_active(self) -> bool:
        return self.spec is not None

    # -- bots ------------------------------------------------------------------------------

    def add_bot(self, token: str, *, username: str, first_name: str) -> BotWorld:
        if not _TOKEN_RE.match(token):
            raise ValueError("a bot token looks like 123456:ABC-def")
        if token in self.worlds:
            raise ValueError("this bot already exists")
        world = BotWorld(token, username=username, first_name=first_name,
                         rate_limits=self.rate_limits, clock=self.clock,
                         monotonic=self.monotonic)
        self.worlds[token] = world
        return world

    def world_by_id(self, bot_id: int) -> BotWorld:
        for world in self.worlds.values():
            if world.bot_id == bot_id:
                return world
        raise KeyError(f"no bot {bot_id}")

    @property
    def token(self) -> str:
        return self.bot.token

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the stand-in is not running")
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_upload_bytes + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        setup_control_routes(app, self)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("the stand-in is already running")
        self.api.closing = False
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        self.host, self.port = sock.getsockname()[:2]

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.api.closing = True
        for world in self.worlds.values():
            world.updates_changed.notify()
            world.events_changed.notify()
        await self.delivery.close()
        # Let long polls see the flag and answer before connections are torn down.
        await asyncio.sleep(0)
        runner, self._runner = self._runner, None
        await runner.cleanup()

    @classmethod
    @asynccontextmanager
    async def running(
        cls, host: str = "127.0.0.1", port: int = 0, **options: Any
    ) -> AsyncIterator[BotApiStandIn]:
        """``async with BotApiStandIn.running() as standin:`` serves on a free port."""
        standin = cls(**options)
        await standin.start(host, port)
        try:
            yield standin
        finally:
            await standin.stop()

    # -- settings --------------------------------------------------------------------------

    def set_rate_limits(self, limits: RateLimits) -> None:
        self.rate_limits = limits
        for world in self.worlds.values():
            world.limiter.reconfigure(limits)

    @property
    def duplicate_updates(self) -> bool:
        return self.bot.duplicate_updates

    @duplicate_updates.setter
    def duplicate_updates(self, enabled: bool) -> None:
        self.bot.duplicate_updates = enabled

    # -- simulated people (default bot) ----------------------------------------------------

    def create_user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
        world: BotWorld | None = None,
    ) -> SimUser:
        """A Telegram user with an open private chat with the bot."""
        target = world or self.bot
        user = target.add_user(first_name, username=username, last_name=last_name,
                               language_code=language_code, user_id=user_id)
        return SimUser(target, user)

    def user(self, user_id: int, *, world: BotWorld | None = None) -> SimUser:
        target = world or self.bot
        if user_id not in target.users:
            raise KeyError(f"no user {user_id}")
        return SimUser(target, target.users[user_id])

    def create_group(
        self,
        title: str,
        members: Iterable[SimUser | int],
        *,
        admins: Iterable[SimUser | int] = (),
        supergroup: bool = True,
        bot_is_admin: bool = False,
        username: str | None = None,
        world: BotWorld | None = None,
    ) -> SimGroup:
        """A group with the bot in it; the first admin listed is the creator."""
        target = world or self.bot
        admin_ids = [a.id if isinstance(a, SimUser) else int(a) for a in admins]
        member_ids = [m.id if isinstance(m, SimUser) else int(m) for m in members]
        ordered = [*[a for a in admin_ids if a in member_ids],
                   *[m for m in member_ids if m not in admin_ids]]
        state = target.add_group(title, ordered, admin_ids=admin_ids, supergroup=supergroup,
                                 username=username)
        if bot_is_admin:
            state.bot_status = "administrator"
        return SimGroup(target, state)

    # -- what happened (default bot) -------------------------------------------------------

    def calls(self, method: str | None = None) -> list[ApiCall]:
        wanted = method.lower() if method else None
        return [c for c in self.bot.calls if wanted is None or c.method.lower() == wanted]

    def history(self, chat_id: int) -> list[dict[str, Any]]:
        return self.bot.history(chat_id)

    def events(self, chat_id: int | None = None, after: int = 0) -> list[ChatEvent]:
        return self.bot.chat_events(chat_id, after)

    # -- HTTP ------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        world = self.worlds.get(request.match_info["token"])
        method = request.match_info["method"]
        try:
            if world is None:
                raise unauthorized()
            params, files = await self._read_params(request)
            result = await self.api.call(world, method, params, files)
        except BotApiError as error:
            return web.Response(text=_dumps(error.payload()), status=error.error_code,
                                content_type="application/json")
        return web.Response(text=_dumps({"ok": True, "result": result}),
                            content_type="application/json")

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method != "POST" or not request.body_exists:
            return params, files
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("the request body must be a JSON object")
            params.update(body)
        elif content_type == "application/x-www-form-urlencoded":
            params.update(dict(await request.post()))
        elif content_type.startswith("multipart/"):
            reader = await request.multipart()
            received = 0
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                data = bytes(await part.read())
                received += len(data)
                if received > self.max_upload_bytes:
                    raise BotApiError(413, "Request Entity Too Large")
                if part.filename is not None:
                    files[part.name] = UploadedFile(
                        part.name, part.filename,
                        part.headers.get("Content-Type", "application/octet-stream"), data)
                else:
                    try:
                        params[part.name] = data.decode("utf-8")
                    except UnicodeDecodeError:
                        raise bad_request(f"field {part.name} is not UTF-8 text") from None
        return params, files

    async def _handle_file(self, request: web.Request) -> web.Response:
        world = self.worlds.get(request.match_info["token"])
        stored = world.files_by_path.get(request.match_info["path"]) if world else None
        if stored is None:
            error = not_found()
            return web.Response(text=_dumps(error.payload()), status=404,
                                content_type="application/json")
        return web.Response(body=stored.data, content_type=stored.mime_type)
