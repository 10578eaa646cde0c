"""The WeChat webhook: `GET /wechat` verification and `POST /wechat` message intake.

What reaches the product is only what passed, in order: the query signature
(token + timestamp + nonce, timestamp not stale), defusedxml (no DTD, entities or external
references; malformed -> 400), in encrypted modes the message signature over `Encrypt`
and AES decryption (wechatpy), defusedxml again on the plaintext, and wechatpy's parser.
A bad signature gets 403 and bad XML 400; neither reaches the callback.

WeChat waits 5 seconds and then re-posts, so the request is answered at once
(`success`, or a passive reply a fast `quick_reply` returns), the message is claimed in a
`Deduplicator`, and the real work runs afterwards in a tracked task that shutdown awaits.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.replies import BaseReply, create_reply
from wechatpy.utils import WeChatSigner

from bots.wechat.dedup import Deduplicator, InMemoryDeduplicator
from bots.wechat.safexml import UnsafeXml, parse_fields
from bots.wechat.windows import ServiceWindows, interaction_of

logger = logging.getLogger(__name__)

SUCCESS = "success"
DEFAULT_MAX_BODY_BYTES = 64 * 1024  # WeChat pushes are a few hundred bytes


class DeliveryMode(StrEnum):
    PLAINTEXT = "plaintext"
    COMPATIBLE = "compatible"  # plaintext fields and Encrypt side by side
    SAFE = "safe"  # only ToUserName and Encrypt


@dataclass(frozen=True)
class InboundMessage:
    """One accepted, first-seen push from WeChat."""

    message: BaseMessage  # wechatpy's parsed message or event
    fields: Mapping[str, str]  # the top-level fields as sent, e.g. bizmsgmenuid
    openid: str
    dedup_key: str
    mode: DeliveryMode
    received_at: float


PassiveReply = BaseReply | str | None
MessageHandler = Callable[[InboundMessage], Awaitable[None]]
QuickReply = Callable[[InboundMessage], Awaitable[PassiveReply]]


@dataclass
class WebhookStats:
    accepted: int = 0
    duplicates: int = 0
    rejected_signature: int = 0
    rejected_body: int = 0
    handler_errors: int = 0


class _Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature_of(*parts: str) -> str:
    """WeChat's signature: SHA-1 over the sorted, concatenated parts."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def dedup_key_of(app_id: str, fields: Mapping[str, str]) -> str:
    """Messages are unique by MsgId; events by sender, creation time and event name."""
    msg_id = fields.get("MsgId") or fields.get("MsgID")
    if msg_id and fields.get("MsgType", "").lower() != "event":
        return f"{app_id}:msg:{msg_id}"
    sender = fields.get("FromUserName", "")
    created = fields.get("CreateTime", "")
    event = fields.get("Event") or fields.get("MsgType", "")
    return f"{app_id}:evt:{sender}:{created}:{event}"


class WeChatWebhook:
    """Verifies, deduplicates and hands WeChat pushes to `on_message` in the background."""

    def __init__(
        self,
        *,
        token: str,
        app_id: str,
        encoding_aes_key: str | None,
        on_message: MessageHandler,
        quick_reply: QuickReply | None = None,
        quick_reply_timeout_seconds: float = 1.0,
        dedup: Deduplicator | None = None,
        windows: ServiceWindows | None = None,
        clock: Callable[[], float] = time.time,
        max_timestamp_skew_seconds: float | None = 300.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not token:
            raise ValueError("the WeChat token must not be empty")
        if not app_id:
            raise ValueError("the WeChat app id must not be empty")
        self._token = token
        self._app_id = app_id
        self._crypto: WeChatCrypto | None = None
        if encoding_aes_key is not None:
            self._crypto = _make_crypto(token, encoding_aes_key, app_id)
        self._on_message = on_message
        self._quick_reply = quick_reply
        self._quick_reply_timeout = quick_reply_timeout_seconds
        self._dedup = dedup or InMemoryDeduplicator()
        self._windows = windows
        self._clock = clock
        self._max_skew = max_timestamp_skew_seconds
        self._max_body = max_body_bytes
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = WebhookStats()

    @property
    def encrypted(self) -> bool:
        return self._crypto is not None

    @property
    def pending(self) -> int:
        """Background tasks still running."""
        return len(self._tasks)

    # -- wiring ---------------------------------------------------------------------

    def attach(self, app: web.Application, path: str = "/wechat") -> None:
        """Add the GET/POST routes to `app` and make its shutdown wait for pending work."""
        app.router.add_get(path, self.handle_get)
        app.router.add_post(path, self.handle_post)
        app.on_shutdown.append(self._on_shutdown)

    def make_app(self, path: str = "/wechat") -> web.Application:
        app = web.Application(client_max_size=self._max_body)
        self.attach(app, path)
        return app

    async def _on_shutdown(self, _app: web.Application) -> None:
        await self.drain()

    async def drain(self, timeout_seconds: float | None = 30.0) -> None:
        """Wait for background work to finish (shutdown calls this)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_seconds)

    # -- handlers -------------------------------------------------------------------

    async def handle_get(self, request: web.Request) -> web.Response:
        try:
            self._check_query_signature(request.query)
        except _Rejected as rejected:
            return self._refuse(rejected)
        echostr = request.query.get("echostr")
        if not echostr:
            return web.Response(status=400, text="missing echostr")
        return web.Response(text=echostr)

    async def handle_post(self, request: web.Request) -> web.Response:
        try:
            inbound, reply_nonce = await self._accept(request)
        except _Rejected as rejected:
            return self._refuse(rejected)
        if not await self._dedup.first_time(inbound.dedup_key):
            self.stats.duplicates += 1
            return web.Response(text=SUCCESS)
        self.stats.accepted += 1
        reply = await self._passive_reply(inbound)
        self._spawn(inbound)
        if reply is None:
            return web.Response(text=SUCCESS)
        xml = create_reply(reply, message=inbound.message, render=True)
        if self._crypto is not None:
            xml = self._crypto.encrypt_message(xml, reply_nonce, str(int(self._clock())))
        return web.Response(text=xml, content_type="application/xml")

    # -- steps ----------------------------------------------------------------------

    def _refuse(self, rejected: _Rejected) -> web.Response:
        if rejected.status == 403:
            self.stats.rejected_signature += 1
        else:
            self.stats.rejected_body += 1
        logger.warning("wechat webhook refused a request: %s", rejected.reason)
        return web.Response(status=rejected.status, text=rejected.reason)

    def _check_query_signature(self, query: Mapping[str, str]) -> None:
        signature = query.get("signature", "")
        timestamp = query.get("timestamp", "")
        nonce = query.get("nonce", "")
        if not (signature and timestamp and nonce):
            raise _Rejected(403, "missing signature, timestamp or nonce")
        expected = signature_of(self._token, timestamp, nonce)
        if not hmac.compare_digest(expected, signature):
            raise _Rejected(403, "bad signature")
        self._check_timestamp(timestamp)

    def _check_timestamp(self, timestamp: str) -> None:
        # The query signature does not cover the body, so a captured query could be
        # replayed with any body; refusing stale timestamps bounds that to minutes.
        if not timestamp.isdigit():
            raise _Rejected(403, "timestamp is not a number")
        if self._max_skew is not None and abs(self._clock() - int(timestamp)) > self._max_skew:
            raise _Rejected(403, "stale timestamp")

    async def _accept(self, request: web.Request) -> tuple[InboundMessage, str]:
        query = request.query
        self._check_query_signature(query)
        encrypted_delivery = query.get("encrypt_type", "raw").lower() == "aes"
        if self._crypto is not None and not encrypted_delivery:
            raise _Rejected(403, "this account is in encrypted mode; plaintext refused")
        if self._crypto is None and encrypted_delivery:
            raise _Rejected(400, "encrypted delivery but no EncodingAESKey is configured")
        if request.content_length is not None and request.content_length > self._max_body:
            raise _Rejected(413, "body too large")
        body = await request.read()
        if len(body) > self._max_body:
            raise _Rejected(413, "body too large")
        try:
            outer = parse_fields(body)
        except UnsafeXml as exc:
            raise _Rejected(400, str(exc)) from exc

        mode = DeliveryMode.PLAINTEXT
        plaintext: str | bytes = body
        fields = outer
        if self._crypto is not None:
            plaintext = self._decrypt(outer, query)
            mode = DeliveryMode.COMPATIBLE if "MsgType" in outer else DeliveryMode.SAFE
            try:
                fields = parse_fields(plaintext)
            except UnsafeXml as exc:
                raise _Rejected(400, f"decrypted message: {exc}") from exc

        for required in ("FromUserName", "CreateTime", "MsgType"):
            if not fields.get(required):
                raise _Rejected(400, f"message lacks {required}")
        message = parse_message(plaintext)
        inbound = InboundMessage(
            message=message,
            fields=fields,
            openid=fields["FromUserName"],
            dedup_key=dedup_key_of(self._app_id, fields),
            mode=mode,
            received_at=self._clock(),
        )
        return inbound, query.get("nonce", "")

    def _decrypt(self, outer: Mapping[str, str], query: Mapping[str, str]) -> str:
        assert self._crypto is not None
        encrypt = outer.get("Encrypt")
        if not encrypt:
            raise _Rejected(400, "encrypted delivery without an Encrypt element")
        msg_signature = query.get("msg_signature", "")
        expected = signature_of(self._token, query["timestamp"], query["nonce"], encrypt)
        if not msg_signature or not hmac.compare_digest(expected, msg_signature):
            raise _Rejected(403, "bad msg_signature")
        try:
            return self._crypto.decrypt_message(
                {"Encrypt": encrypt}, msg_signature, query["timestamp"], query["nonce"]
            )
        except (InvalidSignatureException, InvalidAppIdException) as exc:
            raise _Rejected(403, "ciphertext is not for this account") from exc
        except Exception as exc:
            # Attacker-controlled ciphertext can fail anywhere in base64, AES, padding or
            # UTF-8 decoding; all of it means the same thing to the sender.
            raise _Rejected(400, "undecryptable Encrypt element") from exc

    async def _passive_reply(self, inbound: InboundMessage) -> PassiveReply:
        if self._quick_reply is None:
            return None
        try:
            return await asyncio.wait_for(
                self._quick_reply(inbound), timeout=self._quick_reply_timeout
            )
        except TimeoutError:
            logger.warning("quick reply for %s took too long; answered success", inbound.dedup_key)
        except Exception:
            logger.exception("quick reply for %s failed; answered success", inbound.dedup_key)
        return None

    def _spawn(self, inbound: InboundMessage) -> None:
        task = asyncio.get_running_loop().create_task(self._process(inbound))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, inbound: InboundMessage) -> None:
        try:
            if self._windows is not None:
                interaction = interaction_of(inbound.fields)
                if interaction is not None:
                    await self._windows.record(inbound.openid, interaction, inbound.received_at)
            await self._on_message(inbound)
        except Exception:
            # The request was answered already: a detached task is the last place that can
            # see this failure, so it is logged and counted here.
            self.stats.handler_errors += 1
            logger.exception("handling WeChat message %s failed", inbound.dedup_key)


def _make_crypto(token: str, encoding_aes_key: str, app_id: str) -> WeChatCrypto:
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters (base64 of 32 bytes, no '=')")
    try:
        return WeChatCrypto(token, encoding_aes_key, app_id)
    except (ValueError, AssertionError) as exc:
        raise ValueError("EncodingAESKey is not valid base64 of a 32-byte key") from exc
