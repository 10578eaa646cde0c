"""Yueban's official account served for real (`app.wechat`) against the local WeChat stand-in.

`wechat_world` starts the production wiring (`build_wechat` + `serve_wechat`) on a free port,
on the test's database (SQLite and PostgreSQL through `database_url`), with the stand-in as
WeChat's API and WeChat Pay. People (`Person`) write to it through the stand-in's driver,
signed (and encrypted, in the compatible and safe modes) exactly as WeChat posts, and read
what they received: passive replies, customer-service messages and template messages, in
the order they arrived. The notice relay is driven by `settle()`, so every test sees a
deterministic order of messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from app.wechat import WeChatService, build_wechat, serve_wechat
from bots.wechat.standin import Delivery, SentMessage, WeChatDriver, WeChatStandIn
from bots.wechat.webhook import DeliveryMode
from core.catalog.commands import ApproveApplication, ListCategories, SeedCatalog
from core.identity.commands import RegisterFromChannel
from core.shared.clock import FixedClock
from tests.integration.catalog.support import application

TOKEN = "yuebanwechattoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEMPLATE_ID = "tpl-order-notice"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def text_of(message: SentMessage) -> str:
    """What a person sees of one message from the account, as one string."""
    payload = message.payload
    if message.kind == "template":
        data = payload.get("data", {})
        return "[template] " + " | ".join(str(v.get("value")) for v in data.values())
    if message.msgtype == "text":
        return str(payload["text"]["content"])
    if message.msgtype == "msgmenu":
        menu = payload["msgmenu"]
        lines = [menu.get("head_content", "")]
        lines += [f"[{c['content']}]" for c in menu.get("list", [])]
        return "\n".join(lines)
    if message.msgtype == "image":
        return "[image]"
    return f"[{message.msgtype}]"


@dataclass
class Person:
    """Someone in WeChat writing to the account and reading what it sends back."""

    world: WeChatWorld
    openid: str
    inbox: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    _seen: int = 0
    _events: int = 0

    @property
    def mode(self) -> DeliveryMode:
        return self.world.mode

    async def _push(self, fields: dict[str, str]) -> Delivery:
        delivery = await self.world.driver.deliver(fields, mode=self.mode)
        self.deliveries.append(delivery)
        assert delivery.acknowledged, delivery
        if delivery.reply is not None and delivery.reply.get("Content"):
            self.inbox.append(delivery.reply["Content"])
        await self.world.settle()
        return delivery

    async def say(self, text: str) -> str:
        """Send `text`; returns everything received since (replies and notices)."""
        before = len(self.inbox)
        await self._push(self.world.driver.text(self.openid, text))
        return "\n---\n".join(self.inbox[before:])

    async def tap(self, token: str, label: str = "") -> str:
        """Tap a msgmenu choice (WeChat sends its label as text, with its id)."""
        before = len(self.inbox)
        await self._push(self.world.driver.text(self.openid, label or token, bizmsgmenuid=token))
        return "\n---\n".join(self.inbox[before:])

    def _event(self, fields: dict[str, str]) -> dict[str, str]:
        # WeChat tells events apart by sender, CreateTime (seconds) and event name, so two
        # menu taps in one second are one event to it; a person here taps a second apart.
        self._events += 1
        fields["CreateTime"] = str(int(fields["CreateTime"]) + self._events)
        return fields

    async def click(self, key: str) -> str:
        before = len(self.inbox)
        await self._push(self._event(self.world.driver.click(self.openid, key)))
        return "\n---\n".join(self.inbox[before:])

    async def follow(self) -> str:
        before = len(self.inbox)
        await self._push(self._event(self.world.driver.subscribe(self.openid)))
        return "\n---\n".join(self.inbox[before:])

    async def unfollow(self) -> None:
        await self._push(self._event(self.world.driver.unsubscribe(self.openid)))

    async def send_location(self, lat: float, lon: float) -> str:
        before = len(self.inbox)
        await self._push(self.world.driver.location(self.openid, lat, lon))
        return "\n---\n".join(self.inbox[before:])

    async def choose(self, containing: str) -> str:
        """Reply with the number of the line of the last prompt that contains `containing`."""
        return await self.say(str(self.number_of(containing)))

    def number_of(self, containing: str) -> int:
        for text in reversed(self.inbox):
            for line in text.splitlines():
                number, dot, label = line.strip("[]").partition(". ")
                if dot and number.isdigit() and containing in label:
                    return int(number)
        raise AssertionError(f"no numbered line with {containing!r} in {self.inbox[-3:]}")

    def collect(self) -> None:
        sent = self.world.standin.messages_to(self.openid)
        for message in sent[self._seen:]:
            self.inbox.append(text_of(message))
        self._seen = len(sent)

    @property
    def last(self) -> str:
        return self.inbox[-1] if self.inbox else ""

    def received(self, fragment: str) -> bool:
        return any(fragment in text for text in self.inbox)

    def templates(self) -> list[SentMessage]:
        return [m for m in self.world.standin.messages_to(self.openid) if m.kind == "template"]

    async def user_id(self) -> int:
        async with self.world.runtime.uow_factory() as uow:
            user = await uow.users.get_by_channel("wechat", self.openid)
        assert user is not None
        return int(user.id)


@dataclass
class WeChatWorld:
    service: WeChatService
    standin: WeChatStandIn
    runtime: Runtime
    driver: WeChatDriver
    mode: DeliveryMode
    clock: FixedClock
    people: list[Person] = field(default_factory=list)

    @property
    def url(self) -> str:
        settings = self.service.settings
        return f"http://{settings.http_host}:{settings.http_port}"

    def person(self, openid: str) -> Person:
        person = Person(self, openid)
        self.people.append(person)
        return person

    async def settle(self) -> None:
        """Wait until every push is answered and every notice is sent; then read inboxes."""
        for _ in range(20):
            await self.service.settle()
            stats = await self.service.relay.drain()
            await self.service.settle()
            if not stats.busy and not self.service.webhook.pending:
                break
        for person in self.people:
            person.collect()


async def until_up(url: str, task: asyncio.Task[None]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(500):
            if task.done():
                task.result()
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.01)
    raise TimeoutError("the WeChat service did not come up")


def wechat_settings(database_url: str, standin: WeChatStandIn, mode: DeliveryMode,
                    **changes: Any) -> Settings:
    port = free_port()
    values: dict[str, Any] = {
        "_env_file": None,
        "mode": "demo",
        "database_url": database_url,
        "http_port": port,
        "wechat_app_id": standin.app_id,
        "wechat_app_secret": standin.app_secret,
        "wechat_token": TOKEN,
        "wechat_api_base": standin.base_url,
        "wechat_template_id": TEMPLATE_ID,
        "wechat_pay_mch_id": standin.mch_id,
        "wechat_pay_api_key": standin.mch_key,
        "wechat_pay_api_base": standin.base_url,
        "wechat_pay_notify_url": f"http://127.0.0.1:{port}/pay/wechat/notify",
    }
    if mode is not DeliveryMode.PLAINTEXT:
        values["wechat_aes_key"] = AES_KEY
    values.update(changes)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_world(settings: Settings, engine: AsyncEngine, clock: FixedClock,
                        standin: WeChatStandIn, mode: DeliveryMode, *, redis: Any = None,
                        redis_namespace: str = "yueban",
                        driver_options: dict[str, Any] | None = None) -> AsyncIterator[WeChatWorld]:
    runtime = bootstrap(settings, clock=clock, engine=engine)
    service = build_wechat(settings, runtime, redis=redis, redis_namespace=redis_namespace)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_wechat(service, stop, run_relay=False))
    url = f"http://127.0.0.1:{settings.http_port}"
    driver = standin.driver(url + "/wechat", token=TOKEN,
                            encoding_aes_key=AES_KEY if mode is not DeliveryMode.PLAINTEXT else None,
                            **(driver_options or {}))
    world = WeChatWorld(service, standin, runtime, driver, mode, clock)
    try:
        await until_up(url, task)
        yield world
    finally:
        stop.set()
        await task


@pytest.fixture
async def standin() -> AsyncIterator[WeChatStandIn]:
    async with WeChatStandIn(notify_intervals=(0.05, 0.1, 0.2)) as server:
        yield server


@pytest.fixture(params=[DeliveryMode.SAFE])
def mode(request: pytest.FixtureRequest) -> DeliveryMode:
    return DeliveryMode(request.param)


@pytest.fixture
async def world(database_url: str, engine: AsyncEngine, clock: FixedClock,
                standin: WeChatStandIn, mode: DeliveryMode) -> AsyncIterator[WeChatWorld]:
    settings = wechat_settings(database_url, standin, mode)
    async with running_world(settings, engine, clock, standin, mode) as running:
        yield running


async def make_provider(world: WeChatWorld, person: Person, *, price: int = 6000,
                        category_slug: str = "league-of-legends",
                        rules: tuple[str, ...] = ("mon 09:00-18:00", "fri 20:00-02:00")) -> int:
    """An approved provider whose account is `person`'s WeChat account; returns the user id."""
    bus = world.runtime.bus
    await bus.handle(SeedCatalog())
    categories = {c.slug: c for c in await bus.handle(ListCategories())}
    user = await bus.handle(RegisterFromChannel(platform="wechat", external_id=person.openid,
                                                chat_id=person.openid))
    submitted = await bus.handle(application(user.id, categories[category_slug], price=price,
                                             name="小雨", rules=rules))
    await bus.handle(ApproveApplication(application_id=submitted.id))
    # The actor cache would otherwise remember the person as a customer for a minute.
    world.service.product.actors.forget(person.openid)
    await world.settle()
    return int(user.id)
