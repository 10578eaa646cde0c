"""Running the WeChat official account from Settings: wiring, HTTP routes, menu, relay.

- `YUEBAN_WECHAT_APP_ID`, `_APP_SECRET`, `_TOKEN` and `_AES_KEY` (unset: plaintext mode)
  make the webhook and the API client; `YUEBAN_WECHAT_API_BASE` points the client at any
  WeChat API server (a local stand-in in tests).
- With WeChat Pay merchant settings (`YUEBAN_WECHAT_PAY_MCH_ID`, `_API_KEY`,
  `_NOTIFY_URL`, ...) the wallet's `wechat_pay` gateway exists (see `app/bootstrap.py`) and
  `POST /pay/wechat/notify` is served. A notify for an order payment credits the wallet
  (`ConfirmPayment`) and then holds the money for the order (`PayOrder`); if the hold
  cannot be written for a passing reason the notify answers FAIL, so WeChat Pay repeats it
  and the hold is tried again (crediting happens once whatever the repeats).
- `GET/POST /wechat`, `/pay/wechat/notify` and `/healthz` are served on
  `YUEBAN_HTTP_HOST:YUEBAN_HTTP_PORT`. With Telegram enabled too, both channels share one
  aiohttp application and one notice relay (see `app/http.py`).
- With `YUEBAN_REDIS_URL`, the access token, service windows, dedup claims and
  conversation state are shared by every worker; otherwise they live in this process.
- Notices reach WeChat users through `WeChatMessenger`, registered with the outbox relay.
- Order chats (the relay): WeChat messages reach the other side through `WeChatCourier`,
  and other channels reach WeChat people through `WeChatCarrier`. What WeChat refused for
  want of a window waits in the core's queue; `WeChatQueue` delivers it on the person's
  next interaction (the webhook's windows are `ReopeningWindows`). `relay_media` gives the
  other platforms' media sources, for queued photos and voice from there.
- `YUEBAN_WECHAT_TEMPLATE_ID`: the template used for notices outside the 48-hour window.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import sqlalchemy as sa
from aiohttp import web

from app.bootstrap import Runtime
from app.notifications import NotificationRelay
from app.settings import ConfigurationError, Settings
from bots.wechat.client import WeChatApi
from bots.wechat.conversation import ProductOptions
from bots.wechat.dedup import Deduplicator, InMemoryDeduplicator, RedisDeduplicator
from bots.wechat.handlers import WeChatProduct
from bots.wechat.menus import build_menu
from bots.wechat.messenger import WeChatMessenger
from bots.wechat.pay import NOTIFY_PATH, WeChatPayNotify
from bots.wechat.relay import MediaSource, WeChatCarrier, WeChatCourier, WeChatMedia, WeChatQueue
from bots.wechat.sessions import InMemorySessionStore, RedisSessionStore, SessionStore
from bots.wechat.tokens import InMemoryTokenStore, RedisTokenStore, TokenStore
from bots.wechat.webhook import DEFAULT_MAX_BODY_BYTES, WeChatWebhook
from bots.wechat.windows import (
    InMemoryServiceWindows,
    RedisServiceWindows,
    ReopeningWindows,
    ServiceWindows,
)
from core.booking.commands import PayOrder
from core.booking.states import OrderState
from core.shared.errors import AlreadyProcessed, DomainError
from core.wallet.commands import ConfirmPayment
from core.wallet.views import PaymentOutcome

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/wechat"
HEALTH_PATH = "/healthz"
DEFAULT_WECHAT_API_BASE = "https://api.weixin.qq.com"


def check_wechat_settings(settings: Settings) -> None:
    """Refuse settings WeChat would refuse, naming the setting to fix."""
    if not settings.wechat_app_id:
        raise ConfigurationError("YUEBAN_WECHAT_APP_ID is not set")
    if settings.wechat_app_secret is None or not settings.wechat_app_secret.get_secret_value():
        raise ConfigurationError("YUEBAN_WECHAT_APP_SECRET is not set")
    if settings.wechat_token is None or not settings.wechat_token.get_secret_value():
        raise ConfigurationError("YUEBAN_WECHAT_TOKEN is not set")
    key = settings.wechat_aes_key.get_secret_value() if settings.wechat_aes_key else ""
    if key and len(key) != 43:
        raise ConfigurationError(
            "YUEBAN_WECHAT_AES_KEY must be the 43-character EncodingAESKey from the WeChat "
            "admin console (or unset for plaintext mode)"
        )
    for name, url in (("YUEBAN_WECHAT_API_BASE", settings.wechat_api_base),
                      ("YUEBAN_WECHAT_PAY_API_BASE", settings.wechat_pay_api_base)):
        parsed = urlparse(url)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ConfigurationError(f"{name} must be an http(s) URL")
    if settings.wechat_pay_mch_id:
        if settings.wechat_pay_api_key is None:
            raise ConfigurationError("YUEBAN_WECHAT_PAY_API_KEY is not set")
        notify = urlparse(settings.wechat_pay_notify_url or "")
        if notify.scheme not in {"http", "https"} or not notify.netloc:
            raise ConfigurationError(
                "YUEBAN_WECHAT_PAY_NOTIFY_URL must be the public http(s) URL of "
                f"POST {NOTIFY_PATH}"
            )


@dataclass
class WeChatService:
    """Everything the running official account is made of (tests look inside)."""

    settings: Settings
    runtime: Runtime
    api: WeChatApi
    webhook: WeChatWebhook
    product: WeChatProduct
    messenger: WeChatMessenger
    relay: NotificationRelay
    owns_relay: bool
    relay_carrier: WeChatCarrier
    pay_notify: WeChatPayNotify | None = None
    relay_queue: WeChatQueue | None = None
    redis: Redis | None = None
    # Set once the menu was sent to WeChat (or sending it failed), after the server starts.
    menu_done: asyncio.Event = field(default_factory=asyncio.Event)

    def mount(self, app: web.Application) -> None:
        """Add `/wechat` and `/pay/wechat/notify` to `app`; its shutdown drains our work."""
        self.webhook.attach(app, WEBHOOK_PATH)
        if self.pay_notify is not None:
            self.pay_notify.register(app, NOTIFY_PATH)

        async def drain(_: web.Application) -> None:
            await self.product.drain()

        app.on_shutdown.append(drain)

    async def health(self) -> None:
        """Raise when the service cannot do its work (the database does not answer)."""
        async with self.runtime.engine.connect() as connection:
            await connection.execute(sa.text("select 1"))
        if self.redis is not None:
            await self.redis.ping()

    async def install_menu(self) -> None:
        """Send the custom menu to WeChat (a failure is logged: the account still works)."""
        try:
            await self.api.create_menu(build_menu())
        except Exception as error:
            log.warning("could not create the WeChat menu: %s", error)
        finally:
            self.menu_done.set()

    async def settle(self) -> None:
        """Wait until every accepted push has been answered (tests and shutdown)."""
        while self.webhook.pending or self.product.pending:
            await self.webhook.drain()
            await self.product.drain()

    def close(self) -> None:
        self.api.close()


def build_wechat(
    settings: Settings,
    runtime: Runtime,
    *,
    redis: Redis | None = None,
    redis_namespace: str = "yueban",
    relay: NotificationRelay | None = None,
    relay_carriers: Mapping[str, Any] | None = None,
    relay_media: Mapping[str, MediaSource] | None = None,
) -> WeChatService:
    """The webhook, the product, the messenger; a relay of its own unless one is given.

    `relay_carriers` deliver order-chat messages to people on other platforms (Telegram's
    carrier, when both channels run); `service.relay_carrier` is WeChat's, for them.
    """
    check_wechat_settings(settings)
    app_id = settings.wechat_app_id
    assert app_id and settings.wechat_app_secret and settings.wechat_token
    prefix = f"{redis_namespace}:wechat"
    windows: ServiceWindows = (
        RedisServiceWindows(redis, app_id, prefix=prefix) if redis else InMemoryServiceWindows()
    )
    tokens: TokenStore = RedisTokenStore(redis, app_id, prefix=prefix) if redis else InMemoryTokenStore()
    dedup: Deduplicator = (
        RedisDeduplicator(redis, prefix=f"{prefix}:dedup:") if redis else InMemoryDeduplicator()
    )
    sessions: SessionStore = (
        RedisSessionStore(redis, app_id, prefix=prefix) if redis else InMemorySessionStore()
    )
    api_base = settings.wechat_api_base.rstrip("/")
    api = WeChatApi(
        app_id=app_id, app_secret=settings.wechat_app_secret.get_secret_value(), tokens=tokens,
        windows=windows, api_base=None if api_base == DEFAULT_WECHAT_API_BASE else api_base,
    )
    gateways = runtime.bus.dependencies["payment_gateways"]
    carrier = WeChatCarrier(api)
    media = WeChatMedia(api)
    courier = WeChatCourier(runtime.bus, carrier, media, relay_carriers)
    queue = WeChatQueue(runtime.bus, carrier, {"wechat": media, **(relay_media or {})})
    carrier.on_refused_edit = queue.queue_edit
    product = WeChatProduct(
        bus=runtime.bus, api=api, clock=runtime.clock, sessions=sessions, courier=courier,
        options=ProductOptions(wechat_pay="wechat_pay" in gateways, sandbox="sandbox" in gateways),
    )
    aes_key = settings.wechat_aes_key.get_secret_value() if settings.wechat_aes_key else None
    webhook = WeChatWebhook(
        token=settings.wechat_token.get_secret_value(), app_id=app_id,
        encoding_aes_key=aes_key or None, on_message=product.on_message,
        quick_reply=product.quick_reply, dedup=dedup,
        windows=ReopeningWindows(windows, queue.flush),
        max_body_bytes=DEFAULT_MAX_BODY_BYTES,
    )
    messenger = WeChatMessenger(api, template_id=settings.wechat_template_id, sessions=sessions,
                                clock=runtime.clock.now)
    owns_relay = relay is None
    if relay is None:
        relay = NotificationRelay(runtime.uow_factory, runtime.bus, {"wechat": messenger},
                                  clock=runtime.clock)
        runtime.bus.after_commit.append(relay.on_commit)
    else:
        # One relay plans deliveries for every platform it serves: a second relay would
        # mark events dispatched without planning the other platform's deliveries.
        relay.messengers["wechat"] = messenger
    pay_notify = None
    if "wechat_pay" in gateways and settings.wechat_pay_mch_id and settings.wechat_pay_api_key:
        pay_notify = WeChatPayNotify(
            app_id=app_id, mch_id=settings.wechat_pay_mch_id,
            api_key=settings.wechat_pay_api_key.get_secret_value(),
            dispatch=lambda command: confirm_and_hold(runtime, command),
        )
    return WeChatService(settings, runtime, api, webhook, product, messenger, relay, owns_relay,
                         carrier, pay_notify, queue, redis)


async def confirm_and_hold(runtime: Runtime, command: ConfirmPayment) -> Any:
    """Credit a WeChat Pay payment, then hold it for its order (if it was for one).

    The wallet credits a payment once however often WeChat repeats the notify. The hold
    (`PayOrder` with the same payment ref) is idempotent too; if it fails for a passing
    reason the answer is a refusal, so WeChat Pay repeats the notify and the hold is tried
    again. An order that can no longer be paid (it expired meanwhile) keeps the money in the
    customer's wallet, which they were told about.
    """
    outcome = await runtime.bus.handle(command)
    if not getattr(outcome, "accepted", False):
        return outcome
    try:
        await hold_for_order(runtime, command.gateway, command.payment_ref)
    except Exception:
        log.exception("WeChat Pay payment %s credited but not yet held", command.payment_ref)
        return PaymentOutcome("refused", command.gateway, command.payment_ref,
                              problem="hold not written; repeat the notify")
    return outcome


async def hold_for_order(runtime: Runtime, gateway: str, payment_ref: str) -> None:
    async with runtime.uow_factory() as uow:
        payment = await uow.payments.get(gateway, payment_ref)
        if payment is None or payment.purpose != "order" or payment.order_id is None:
            return
        order = await uow.orders.get(payment.order_id)
    if order.state is not OrderState.AWAITING_PAYMENT:
        return
    try:
        await runtime.bus.handle(PayOrder(
            actor_id=payment.customer_id, order_id=order.id, method=gateway,
            payment_ref=payment_ref, idempotency_key=f"wxpay:{payment_ref}:hold",
        ))
    except AlreadyProcessed:
        return
    except DomainError as error:
        log.info("WeChat Pay payment %s stays in the wallet: %r", payment_ref, error)


# -- serving on its own -----------------------------------------------------------------------


def health_routes(app: web.Application, check: Any) -> None:
    async def healthz(_: web.Request) -> web.Response:
        try:
            await check()
        except Exception as error:
            log.warning("health check failed: %s", error)
            return web.json_response(
                {"status": "unavailable", "reason": type(error).__name__}, status=503)
        return web.json_response({"status": "ok"})

    app.router.add_get(HEALTH_PATH, healthz)


async def serve_wechat(service: WeChatService, stop: asyncio.Event, *,
                       run_relay: bool = True, announce: bool = True,
                       mounts: Sequence[Callable[[web.Application], None]] = ()) -> None:
    """Serve WeChat alone until `stop` is set; shut down intake, work, relay in that order.

    With `YUEBAN_HTTP_WORKERS` above 1 every worker listens on the port (SO_REUSEPORT);
    only the one that `announce`s sends the custom menu to WeChat.
    """
    settings = service.settings
    app = web.Application(client_max_size=DEFAULT_MAX_BODY_BYTES)
    service.mount(app)
    health_routes(app, service.health)
    for mount in mounts:
        mount(app)
    relay_stop = asyncio.Event()
    relay_task = (asyncio.create_task(service.relay.run(relay_stop), name="notice-relay")
                  if run_relay and service.owns_relay else None)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port,
                          reuse_port=settings.http_workers > 1).start()
        log.info("WeChat webhook on %s:%s%s", settings.http_host, settings.http_port, WEBHOOK_PATH)
        if announce:
            await service.install_menu()
        else:
            service.menu_done.set()
        await stop.wait()
    finally:
        await runner.cleanup()  # stops intake and drains messages in flight
        relay_stop.set()
        if relay_task is not None:
            await relay_task
        service.close()
