"""The stand-in's driver side: WeChat posting pushes to a webhook, WeChat Pay posting notifies.

Pushes are signed with the account token and, in compatible or safe mode, AES-encrypted
with the EncodingAESKey, exactly as WeChat sends them. Like WeChat, the driver gives a
webhook 5 seconds, then retries (3 times by default) with the same MsgId and CreateTime;
a 4xx answer is final. Pay notifies are signed with the merchant key (MD5 or
HMAC-SHA256), optionally forged, and re-sent until the receiver answers SUCCESS.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from bots.wechat.safexml import UnsafeXml, parse_fields, render_fields
from bots.wechat.standin.paysign import MD5, Forgery, forge, signed_xml
from bots.wechat.webhook import DeliveryMode, signature_of

if TYPE_CHECKING:
    from bots.wechat.standin.api import WeChatStandIn

_msg_ids = itertools.count(int(time.time() * 1000) * 1000)


def _nonce() -> str:
    return "".join(random.choices(string.digits, k=10))


@dataclass(frozen=True)
class Attempt:
    status: int | None  # None: timed out or could not connect
    elapsed_ms: float
    error: str | None = None


@dataclass
class Delivery:
    """What happened to one push: every attempt, and the final answer."""

    fields: dict[str, str]
    mode: DeliveryMode
    attempts: list[Attempt] = field(default_factory=list)
    status: int | None = None
    body: str = ""
    reply: dict[str, str] | None = None  # the passive reply's fields, decrypted

    @property
    def acknowledged(self) -> bool:
        return self.status == 200

    @property
    def msg_id(self) -> str | None:
        return self.fields.get("MsgId")


@dataclass
class NotifyReport:
    """A pay notify's delivery: attempts made and whether SUCCESS came back."""

    url: str
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged: bool = False
    answers: list[str] = field(default_factory=list)


class WeChatDriver:
    """Posts signed (and, with a key, encrypted) WeChat pushes to a webhook URL."""

    def __init__(
        self,
        *,
        webhook_url: str,
        token: str,
        app_id: str,
        encoding_aes_key: str | None = None,
        account_id: str = "gh_standin00001",
        timeout_seconds: float = 5.0,
        retries: int = 3,
        retry_delay_seconds: float = 0.0,
        standin: WeChatStandIn | None = None,
        clock: Callable[[], float] = time.time,
        connection_limit: int = 100,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.webhook_url = webhook_url
        self._token = token
        self._app_id = app_id
        self._aes_key = encoding_aes_key
        self._prp = (
            PrpCrypto(base64.b64decode(encoding_aes_key + "=")) if encoding_aes_key else None
        )
        self._reply_crypto = (
            WeChatCrypto(token, encoding_aes_key, app_id) if encoding_aes_key else None
        )
        self.account_id = account_id
        self._timeout = timeout_seconds
        self._retries = retries
        self._retry_delay = retry_delay_seconds
        self._standin = standin
        self._clock = clock
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_limit)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    @property
    def default_mode(self) -> DeliveryMode:
        return DeliveryMode.SAFE if self._aes_key else DeliveryMode.PLAINTEXT

    # -- building pushes -----------------------------------------------------------

    def _base(self, openid: str, msg_type: str) -> dict[str, str]:
        return {
            "ToUserName": self.account_id,
            "FromUserName": openid,
            "CreateTime": str(int(self._clock())),
            "MsgType": msg_type,
        }

    def text(self, openid: str, content: str, *, bizmsgmenuid: str | None = None) -> dict[str, str]:
        fields = {**self._base(openid, "text"), "Content": content}
        if bizmsgmenuid is not None:
            fields["bizmsgmenuid"] = bizmsgmenuid  # a tap on a msgmenu choice
        fields["MsgId"] = str(next(_msg_ids))
        return fields

    def image(self, openid: str, pic_url: str, media_id: str) -> dict[str, str]:
        return {**self._base(openid, "image"), "PicUrl": pic_url, "MediaId": media_id,
                "MsgId": str(next(_msg_ids))}

    def voice(self, openid: str, media_id: str, *, fmt: str = "amr",
              recognition: str | None = None) -> dict[str, str]:
        fields = {**self._base(openid, "voice"), "MediaId": media_id, "Format": fmt}
        if recognition is not None:
            fields["Recognition"] = recognition
        fields["MsgId"] = str(next(_msg_ids))
        return fields

    def location(self, openid: str, latitude: float, longitude: float, *, scale: int = 15,
                 label: str = "") -> dict[str, str]:
        return {**self._base(openid, "location"), "Location_X": f"{latitude:.6f}",
                "Location_Y": f"{longitude:.6f}", "Scale": str(scale), "Label": label,
                "MsgId": str(next(_msg_ids))}

    def subscribe(self, openid: str, *, scene: str | None = None) -> dict[str, str]:
        fields = {**self._base(openid, "event"), "Event": "subscribe"}
        if scene is not None:  # followed by scanning a parametric QR code
            fields["EventKey"] = f"qrscene_{scene}"
        return fields

    def unsubscribe(self, openid: str) -> dict[str, str]:
        return {**self._base(openid, "event"), "Event": "unsubscribe"}

    def click(self, openid: str, key: str) -> dict[str, str]:
        return {**self._base(openid, "event"), "Event": "CLICK", "EventKey": key}

    # -- signing and encrypting ----------------------------------------------------

    def signed_query(self, *, good_signature: bool = True,
                     timestamp: str | None = None) -> dict[str, str]:
        timestamp = timestamp or str(int(self._clock()))
        nonce = _nonce()
        signature = signature_of(self._token, timestamp, nonce)
        if not good_signature:
            signature = signature_of(self._token + "x", timestamp, nonce)
        return {"signature": signature, "timestamp": timestamp, "nonce": nonce}

    def render(self, fields: Mapping[str, str], mode: DeliveryMode, *,
               good_signature: bool = True) -> tuple[dict[str, str], bytes]:
        """The query string and body WeChat would send for `fields` in `mode`."""
        query = self.signed_query(good_signature=good_signature)
        query["openid"] = fields.get("FromUserName", "")
        plain = render_fields(fields)
        if mode is DeliveryMode.PLAINTEXT:
            return query, plain.encode()
        if self._prp is None:
            raise ValueError(f"{mode} mode needs an EncodingAESKey")
        encrypt = self._prp.encrypt(plain, self._app_id)
        encrypt = encrypt.decode() if isinstance(encrypt, bytes) else encrypt
        msg_signature = signature_of(self._token, query["timestamp"], query["nonce"], encrypt)
        if not good_signature:
            msg_signature = signature_of(self._token + "x", query["timestamp"], query["nonce"],
                                         encrypt)
        query.update(encrypt_type="aes", msg_signature=msg_signature)
        outer: dict[str, str] = (
            {**fields, "Encrypt": encrypt} if mode is DeliveryMode.COMPATIBLE
            else {"ToUserName": fields.get("ToUserName", self.account_id), "Encrypt": encrypt}
        )
        return query, render_fields(outer).encode()

    # -- sending -------------------------------------------------------------------

    async def deliver(
        self,
        fields: Mapping[str, str],
        *,
        mode: DeliveryMode | str | None = None,
        url: str | None = None,
        good_signature: bool = True,
    ) -> Delivery:
        """Post one push, retrying like WeChat on timeouts, connection errors and 5xx."""
        mode = DeliveryMode(mode) if mode is not None else self.default_mode
        delivery = Delivery(fields=dict(fields), mode=mode)
        if self._standin is not None and good_signature:
            # WeChat opens the service window when the user acts, whatever our server says.
            self._standin.record_interaction(fields)
        for attempt_no in range(self._retries + 1):
            if attempt_no and self._retry_delay:
                await asyncio.sleep(self._retry_delay)
            query, body = self.render(fields, mode, good_signature=good_signature)
            attempt, text = await self._post(url or self.webhook_url, query, body)
            delivery.attempts.append(attempt)
            delivery.status = attempt.status
            delivery.body = text
            if attempt.status is not None and attempt.status < 500:
                break
        if delivery.status == 200 and delivery.body.lstrip().startswith("<"):
            delivery.reply = self._open_reply(delivery.body)
        return delivery

    async def post_raw(self, body: bytes, *, query: Mapping[str, str] | None = None,
                       url: str | None = None) -> tuple[int, str]:
        """Post any body under a valid query signature (for hostile-payload tests), once."""
        attempt, text = await self._post(url or self.webhook_url,
                                         dict(query or self.signed_query()), body)
        return attempt.status or 0, text

    async def verify_url(self, echostr: str, *, good_signature: bool = True,
                         url: str | None = None) -> tuple[int, str]:
        """The GET WeChat makes when the developer saves the server URL."""
        params = {**self.signed_query(good_signature=good_signature), "echostr": echostr}
        async with self._http().get(url or self.webhook_url, params=params,
                                    timeout=aiohttp.ClientTimeout(total=self._timeout)) as resp:
            return resp.status, await resp.text()

    async def _post(self, url: str, query: Mapping[str, str], body: bytes) -> tuple[Attempt, str]:
        started = time.perf_counter()
        try:
            async with self._http().post(
                url, params=dict(query), data=body,
                headers={"Content-Type": "text/xml"},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as resp:
                text = await resp.text()
                elapsed = (time.perf_counter() - started) * 1000
                return Attempt(resp.status, elapsed), text
        except (TimeoutError, aiohttp.ClientError) as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return Attempt(None, elapsed, f"{type(exc).__name__}: {exc}"), ""

    def _open_reply(self, body: str) -> dict[str, str] | None:
        try:
            fields = parse_fields(body)
        except UnsafeXml:
            return None
        if "Encrypt" in fields and self._reply_crypto is not None:
            plain = self._reply_crypto.decrypt_message(
                fields, fields.get("MsgSignature", ""), fields.get("TimeStamp", ""),
                fields.get("Nonce", ""))
            return parse_fields(plain)
        return fields

    # -- WeChat Pay notifies -------------------------------------------------------

    async def deliver_pay_notify(
        self,
        url: str,
        fields: Mapping[str, str],
        *,
        key: str,
        sign_type: str = MD5,
        forgery: Forgery | None = None,
        intervals: Sequence[float] = (0.05, 0.1, 0.2),
    ) -> NotifyReport:
        """Post a signed pay result until the receiver answers SUCCESS or attempts run out."""
        report = NotifyReport(url=url)
        body = (forge(fields, key, sign_type, forgery) if forgery is not None
                else signed_xml(fields, key, sign_type)).encode()
        for attempt_no in range(len(intervals) + 1):
            if attempt_no:
                await asyncio.sleep(intervals[attempt_no - 1])
            attempt, text = await self._post(url, {}, body)
            report.attempts.append(attempt)
            report.answers.append(text)
            if attempt.status == 200 and _says_success(text):
                report.acknowledged = True
                break
        return report


def _says_success(text: str) -> bool:
    try:
        return parse_fields(text).get("return_code") == "SUCCESS"
    except UnsafeXml:
        return False

