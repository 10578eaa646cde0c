"""The stand-in's API side: a local WeChat (and WeChat Pay v2) served over real HTTP.

It issues access tokens and enforces them (41001 missing, 40001 invalid, 42001 expired),
keeps each user's customer-service window by Tencent's rules (45015 closed, 45047 quota),
validates menus and media like WeChat, takes unified orders and refunds signed with the
merchant key, and records every call and every message sent to each openid. Tests read
the records from Python or as JSON under `/_standin/`, and trigger the failure cases
(expire or revoke tokens, close a window, exhaust a quota, a passing system error on the
next sends to one user) the same two ways.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import PurePath
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from bots.wechat.safexml import UnsafeXml, parse_fields
from bots.wechat.standin.driver import NotifyReport, WeChatDriver
from bots.wechat.standin.paysign import MD5, SIGN_TYPES, Forgery, signature_valid, signed_xml
from bots.wechat.standin.server import LocalServer
from bots.wechat.windows import DEFAULT_RULES, Interaction, WindowRule, interaction_of

_MENU_TYPES = frozenset({
    "click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
    "pic_weixin", "location_select", "media_id", "view_limited", "article_id",
    "article_view_limited", "miniprogram",
})
_CUSTOM_TYPES = frozenset({
    "text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu", "wxcard",
    "miniprogrampage",
})
# Template fields by the kind their key names, and the most characters WeChat takes in each
# (https://developers.weixin.qq.com/doc/offiaccount/Subscription_Messages/api.html).
_TEMPLATE_FIELD_LIMITS = {"thing": 20, "character_string": 32, "number": 32, "phrase": 5,
                          "letter": 32, "symbol": 5, "name": 10, "phone_number": 17,
                          "car_number": 8, "time": 64, "date": 64, "amount": 32}
_MEDIA_LIMITS = {
    "image": (10 * 1024 * 1024, {".bmp", ".png", ".jpeg", ".jpg", ".gif"}),
    "voice": (2 * 1024 * 1024, {".amr", ".mp3"}),
    "video": (10 * 1024 * 1024, {".mp4"}),
    "thumb": (64 * 1024, {".jpg", ".jpeg"}),
}


def _rid() -> str:
    return f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": f"{errmsg} rid: {_rid()}"}


def _check_template_data(data: dict[str, Any]) -> dict[str, Any] | None:
    """Each field is {"value": text}; a typed field (thing1, character_string2, ...) holds
    at most as many characters as WeChat allows for its kind."""
    for key, field_value in data.items():
        if not isinstance(field_value, dict) or not isinstance(field_value.get("value"), str):
            return _error(47001, "data format error")
        kind = key.rstrip("0123456789")
        limit = _TEMPLATE_FIELD_LIMITS.get(kind)
        if limit is not None and len(field_value["value"]) > limit:
            return _error(47003, f"argument invalid! data.{key}.value exceeds length limit")
    return None


@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    errcode: int | str
    at: float


@dataclass(frozen=True)
class SentMessage:
    openid: str
    kind: str  # "custom" or "template"
    msgtype: str
    payload: dict[str, Any]
    at: float


@dataclass(frozen=True)
class Media:
    media_id: str
    media_type: str
    filename: str
    content_type: str
    content: bytes
    created_at: int


@dataclass
class PayOrder:
    out_trade_no: str
    total_fee: int
    body: str
    trade_type: str
    notify_url: str
    sign_type: str
    prepay_id: str
    code_url: str | None
    openid: str | None
    attach: str | None
    transaction_id: str
    paid: bool = False
    refunds: dict[str, int] = field(default_factory=dict)  # out_refund_no -> refund_fee

    @property
    def refunded(self) -> int:
        return sum(self.refunds.values())


@dataclass
class _Window:
    remaining: int = 0
    expires_at: float = 0.0


class WeChatStandIn:
    """A local WeChat server; `base_url` is what `WeChatApi(api_base=...)` points at."""

    def __init__(
        self,
        *,
        app_id: str = "wx0123456789abcdef",
        app_secret: str = "standin-app-secret",
        account_id: str = "gh_standin00001",
        token_ttl_seconds: int = 7200,
        mch_id: str = "1900000109",
        mch_key: str = "standinmerchantkey0123456789abcd",
        rules: Mapping[Interaction, WindowRule] = DEFAULT_RULES,
        notify_intervals: tuple[float, ...] = (0.05, 0.1, 0.2),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.account_id = account_id
        self.token_ttl_seconds = token_ttl_seconds
        self.mch_id = mch_id
        self.mch_key = mch_key
        self._rules = dict(rules)
        self.notify_intervals = notify_intervals
        self._clock = clock
        self.calls: list[ApiCall] = []
        self.messages: dict[str, list[SentMessage]] = defaultdict(list)
        self._tokens: dict[str, float] = {}  # token -> expires_at
        self._revoked: set[str] = set()
        self._windows: dict[str, _Window] = {}
        self.unsubscribed: set[str] = set()
        self._failing: dict[str, int] = {}  # openid -> sends still answered -1
        self.templates: set[str] | None = None  # None: accept any template id
        self.menu: dict[str, Any] | None = None
        self.media: dict[str, Media] = {}
        self.orders: dict[str, PayOrder] = {}
        self._msgids = 1000
        self._drivers: list[WeChatDriver] = []
        self.server = LocalServer(self._make_app())

    # -- lifecycle -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.server.base_url

    async def start(self) -> str:
        return await self.server.start()

    async def stop(self) -> None:
        for driver in self._drivers:
            await driver.close()
        await self.server.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    def driver(self, webhook_url: str, *, token: str, encoding_aes_key: str | None = None,
               **options: Any) -> WeChatDriver:
        """A driver posting to `webhook_url` as this account; it opens users' windows here."""
        driver = WeChatDriver(webhook_url=webhook_url, token=token, app_id=self.app_id,
                              encoding_aes_key=encoding_aes_key, account_id=self.account_id,
                              standin=self, clock=self._clock, **options)
        self._drivers.append(driver)
        return driver

    # -- controls tests use ----------------------------------------------------------

    @property
    def token_requests(self) -> int:
        return sum(1 for call in self.calls if call.path == "/cgi-bin/token" and call.errcode == 0)

    def calls_to(self, path: str) -> list[ApiCall]:
        return [call for call in self.calls if call.path == path]

    def messages_to(self, openid: str) -> list[SentMessage]:
        return list(self.messages.get(openid, []))

    def expire_tokens(self) -> None:
        """Every issued token is now past its expiry: calls get 42001."""
        now = self._clock()
        for token in self._tokens:
            self._tokens[token] = min(self._tokens[token], now - 1)

    def revoke_tokens(self) -> None:
        """Every issued token is now invalid (as after a secret reset): calls get 40001."""
        self._revoked.update(self._tokens)

    def record_interaction(self, fields: Mapping[str, str]) -> None:
        """A user action the driver delivered; opens that user's window per Tencent's rules."""
        openid = fields.get("FromUserName", "")
        if fields.get("MsgType") == "event" and fields.get("Event", "").lower() == "unsubscribe":
            self.unsubscribed.add(openid)
            self._windows.pop(openid, None)
            return
        if fields.get("MsgType") == "event" and fields.get("Event", "").lower() == "subscribe":
            self.unsubscribed.discard(openid)
        interaction = interaction_of(fields)
        if openid and interaction is not None:
            self.open_window(openid, interaction)

    def open_window(self, openid: str, interaction: Interaction = Interaction.MESSAGE) -> None:
        rule = self._rules[interaction]
        now = self._clock()
        window = self._windows.setdefault(openid, _Window())
        live = now < window.expires_at
        window.remaining = max(window.remaining if live else 0, rule.quota)
        window.expires_at = max(window.expires_at if live else 0.0, now + rule.ttl_seconds)

    def close_window(self, openid: str) -> None:
        """As if 48 hours passed since the user last wrote: sends get 45015."""
        self._windows.pop(openid, None)

    def fail_sends(self, openid: str, times: int = 1) -> None:
        """The next `times` customer-service sends to `openid` get WeChat's -1 (system
        busy): nothing is delivered and the quota is not spent."""
        self._failing[openid] = self._failing.get(openid, 0) + times

    def exhaust_quota(self, openid: str) -> None:
        """The user's window is open but its sends are used up: sends get 45047."""
        window = self._windows.setdefault(openid, _Window())
        if window.expires_at <= self._clock():
            window.expires_at = self._clock() + self._rules[Interaction.MESSAGE].ttl_seconds
        window.remaining = 0

    async def pay(self, out_trade_no: str, *, forgery: Forgery | None = None,
                  openid: str = "oStandinPayer0000000000000000") -> NotifyReport:
        """The customer pays: mark the order paid and notify its notify_url until SUCCESS."""
        order = self.orders.get(out_trade_no)
        if order is None:
            raise KeyError(f"no unified order {out_trade_no!r}")
        order.paid = True
        fields = {
            "appid": self.app_id,
            "mch_id": self.mch_id,
            "nonce_str": secrets.token_hex(16),
            "result_code": "SUCCESS",
            "return_code": "SUCCESS",
            "openid": order.openid or openid,
            "is_subscribe": "Y",
            "trade_type": order.trade_type,
            "bank_type": "CFT",
            "total_fee": str(order.total_fee),
            "cash_fee": str(order.total_fee),
            "fee_type": "CNY",
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "time_end": datetime.fromtimestamp(self._clock(), UTC).strftime("%Y%m%d%H%M%S"),
        }
        if order.attach:
            fields["attach"] = order.attach
        if order.sign_type != MD5:
            fields["sign_type"] = order.sign_type
        notifier = WeChatDriver(webhook_url=order.notify_url, token="-", app_id=self.app_id)
        try:
            return await notifier.deliver_pay_notify(
                order.notify_url, fields, key=self.mch_key, sign_type=order.sign_type,
                forgery=forgery, intervals=self.notify_intervals)
        finally:
            await notifier.close()

    # -- HTTP ------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_post("/cgi-bin/message/template/send", self._template_send)
        app.router.add_post("/cgi-bin/menu/create", self._menu_create)
        app.router.add_get("/cgi-bin/menu/get", self._menu_get)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/pay/unifiedorder", self._unifiedorder)
        app.router.add_post("/secapi/pay/refund", self._refund)
        app.router.add_get("/_standin/calls", self._inspect_calls)
        app.router.add_get("/_standin/messages", self._inspect_messages)
        app.router.add_get("/_standin/messages/{openid}", self._inspect_messages)
        app.router.add_get("/_standin/orders", self._inspect_orders)
        app.router.add_post("/_standin/tokens/expire", self._control)
        app.router.add_post("/_standin/tokens/revoke", self._control)
        app.router.add_post("/_standin/windows/{openid}/{action}", self._control)
        return app

    def _record(self, request: web.Request, body: Any, errcode: int | str) -> None:
        query = {k: v for k, v in request.query.items() if k not in ("secret", "access_token")}
        self.calls.append(ApiCall(request.method, request.path, query, body, errcode,
                                  self._clock()))

    def _answer(self, request: web.Request, body: Any, payload: dict[str, Any]) -> web.Response:
        self._record(request, body, int(payload.get("errcode", 0)))
        return web.json_response(payload)

    def _token_error(self, request: web.Request) -> dict[str, Any] | None:
        token = request.query.get("access_token")
        if not token:
            return _error(41001, "access_token missing")
        if token in self._revoked or token not in self._tokens:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        if self._tokens[token] <= self._clock():
            return _error(42001, "access_token expired")
        return None

    async def _json_body(self, request: web.Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def _token(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("grant_type") != "client_credential":
            return self._answer(request, None, _error(40002, "invalid grant_type"))
        if query.get("appid") != self.app_id:
            return self._answer(request, None, _error(40013, "invalid appid"))
        if query.get("secret") != self.app_secret:
            return self._answer(request, None, _error(40125, "invalid appsecret"))
        token = secrets.token_urlsafe(96)
        self._tokens[token] = self._clock() + self.token_ttl_seconds
        return self._answer(request, None,
                            {"access_token": token, "expires_in": self.token_ttl_seconds})

    async def _custom_send(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        error = self._token_error(request) or self._check_custom(body)
        if error is not None:
            return self._answer(request, body, error)
        assert body is not None
        openid = body["touser"]
        if self._failing.get(openid):
            self._failing[openid] -= 1
            return self._answer(request, body, _error(-1, "system error"))
        window = self._windows.get(openid)
        if window is None or window.expires_at <= self._clock() or openid in self.unsubscribed:
            return self._answer(request, body, _error(
                45015, "response out of time limit or subscription is canceled"))
        if window.remaining <= 0:
            return self._answer(request, body, _error(45047, "out of response count limit"))
        window.remaining -= 1
        self.messages[openid].append(SentMessage(openid, "custom", body["msgtype"], body,
                                                 self._clock()))
        return self._answer(request, body, {"errcode": 0, "errmsg": "ok"})

    def _check_custom(self, body: dict[str, Any] | None) -> dict[str, Any] | None:
        if body is None:
            return _error(47001, "data format error")
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return _error(40003, "invalid openid")
        msgtype = body.get("msgtype")
        if msgtype not in _CUSTOM_TYPES:
            return _error(40008, "invalid message type")
        content = body.get(msgtype)
        if not isinstance(content, dict):
            return _error(47001, "data format error")
        if msgtype == "text" and not content.get("content"):
            return _error(44004, "empty content")
        if msgtype in ("image", "voice"):
            media = self.media.get(str(content.get("media_id", "")))
            if media is None or media.media_type != msgtype:
                return _error(40007, "invalid media_id")
        if msgtype == "msgmenu":
            choices = content.get("list")
            if not isinstance(choices, list) or not choices or not all(
                isinstance(c, dict) and c.get("id") and c.get("content") for c in choices
            ):
                return _error(47001, "data format error")
        return None

    async def _template_send(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        error = self._token_error(request)
        if error is None:
            if body is None or not isinstance(body.get("data", {}), dict):
                error = _error(47001, "data format error")
            elif not body.get("touser"):
                error = _error(40003, "invalid openid")
            elif not body.get("template_id") or (
                self.templates is not None and body["template_id"] not in self.templates
            ):
                error = _error(40037, "invalid template_id")
            elif body["touser"] in self.unsubscribed:
                error = _error(43004, "require subscribe")
            else:
                error = _check_template_data(body.get("data", {}))
        if error is not None:
            return self._answer(request, body, error)
        assert body is not None
        self._msgids += 1
        self.messages[body["touser"]].append(
            SentMessage(body["touser"], "template", "template", body, self._clock()))
        return self._answer(request, body, {"errcode": 0, "errmsg": "ok", "msgid": self._msgids})

    async def _menu_create(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        error = self._token_error(request) or _check_menu(body)
        if error is not None:
            return self._answer(request, body, error)
        assert body is not None
        self.menu = {"button": body["button"]}
        return self._answer(request, body, {"errcode": 0, "errmsg": "ok"})

    async def _menu_get(self, request: web.Request) -> web.Response:
        error = self._token_error(request)
        if error is None and self.menu is None:
            error = _error(46003, "menu no exist")
        if error is not None:
            return self._answer(request, None, error)
        return self._answer(request, None, {"menu": self.menu})

    async def _media_upload(self, request: web.Request) -> web.Response:
        error = self._token_error(request)
        media_type = request.query.get("type", "")
        if error is None and media_type not in _MEDIA_LIMITS:
            error = _error(40004, "invalid media type")
        if error is not None:
            return self._answer(request, None, error)
        part = None
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for candidate in reader:
                if getattr(candidate, "name", None) == "media":
                    part = candidate
                    break
        if part is None or not getattr(part, "filename", None):
            return self._answer(request, None, _error(41005, "media data missing"))
        filename = str(part.filename)
        content = bytes(await part.read())  # type: ignore[union-attr]
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        limit, suffixes = _MEDIA_LIMITS[media_type]
        record = {"type": media_type, "filename": filename, "bytes": len(content)}
        if PurePath(filename).suffix.lower() not in suffixes:
            return self._answer(request, record, _error(40005, "invalid file type"))
        if not content or len(content) > limit:
            return self._answer(request, record, _error(40006, "invalid meida size"))
        media_id = secrets.token_urlsafe(48)
        created = int(self._clock())
        self.media[media_id] = Media(media_id, media_type, filename, content_type, content, created)
        return self._answer(request, record,
                            {"type": media_type, "media_id": media_id, "created_at": created})

    async def _media_get(self, request: web.Request) -> web.Response:
        error = self._token_error(request)
        media = self.media.get(request.query.get("media_id", ""))
        if error is None and media is None:
            error = _error(40007, "invalid media_id")
        if error is not None:
            return self._answer(request, None, error)
        assert media is not None
        self._record(request, None, 0)
        return web.Response(
            body=media.content, content_type=media.content_type,
            headers={"Content-disposition": f'attachment; filename="{media.filename}"'})

    # -- WeChat Pay v2 ---------------------------------------------------------------

    def _pay_answer(self, request: web.Request, body: Any, fields: dict[str, str],
                    sign_type: str = MD5) -> web.Response:
        self._record(request, body,
                     fields.get("err_code") or fields.get("result_code") or fields["return_code"])
        if fields["return_code"] == "SUCCESS":
            fields = {**fields, "appid": self.app_id, "mch_id": self.mch_id,
                      "nonce_str": secrets.token_hex(16)}
            return web.Response(text=signed_xml(fields, self.mch_key, sign_type),
                                content_type="text/xml")
        # Communication failures (bad XML, bad signature) come back unsigned, as WeChat does.
        return web.Response(text=_plain_xml(fields), content_type="text/xml")

    async def _pay_request(self, request: web.Request) -> tuple[dict[str, str] | None, str]:
        """Parse and authenticate a merchant request; (fields, "") or (None, reason)."""
        try:
            fields = parse_fields(await request.read())
        except UnsafeXml:
            return None, "XML格式错误"
        sign_type = fields.get("sign_type") or MD5
        if sign_type not in SIGN_TYPES:
            return None, "签名类型错误"
        if not signature_valid(fields, self.mch_key):
            return None, "签名错误"
        return fields, ""

    def _business_error(self, fields: Mapping[str, str]) -> dict[str, str] | None:
        if fields.get("appid") != self.app_id:
            return _pay_fail("APPID_NOT_EXIST", "APPID不存在")
        if fields.get("mch_id") != self.mch_id:
            return _pay_fail("MCHID_NOT_EXIST", "MCHID不存在")
        return None

    async def _unifiedorder(self, request: web.Request) -> web.Response:
        fields, reason = await self._pay_request(request)
        if fields is None:
            return self._pay_answer(request, None,
                                    {"return_code": "FAIL", "return_msg": reason})
        sign_type = fields.get("sign_type") or MD5
        failure = self._business_error(fields) or _check_unifiedorder(fields)
        if failure is not None:
            return self._pay_answer(request, fields, failure, sign_type)
        out_trade_no = fields["out_trade_no"]
        existing = self.orders.get(out_trade_no)
        if existing is not None:
            if existing.paid:
                return self._pay_answer(request, fields,
                                        _pay_fail("ORDERPAID", "该订单已支付"), sign_type)
            if existing.total_fee != int(fields["total_fee"]) or existing.body != fields["body"]:
                return self._pay_answer(request, fields,
                                        _pay_fail("INVALID_REQUEST", "201 商户订单号重复"), sign_type)
            order = existing
        else:
            prepay_id = "wx" + secrets.token_hex(15)
            order = PayOrder(
                out_trade_no=out_trade_no, total_fee=int(fields["total_fee"]),
                body=fields["body"], trade_type=fields["trade_type"],
                notify_url=fields["notify_url"], sign_type=sign_type, prepay_id=prepay_id,
                code_url=(f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}"
                          if fields["trade_type"] == "NATIVE" else None),
                openid=fields.get("openid"), attach=fields.get("attach"),
                transaction_id="4200" + secrets.token_hex(12),
            )
            self.orders[out_trade_no] = order
        answer = {"return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS",
                  "prepay_id": order.prepay_id, "trade_type": order.trade_type}
        if order.code_url:
            answer["code_url"] = order.code_url
        return self._pay_answer(request, fields, answer, sign_type)

    async def _refund(self, request: web.Request) -> web.Response:
        fields, reason = await self._pay_request(request)
        if fields is None:
            return self._pay_answer(request, None, {"return_code": "FAIL", "return_msg": reason})
        sign_type = fields.get("sign_type") or MD5
        failure = self._business_error(fields)
        order = self.orders.get(fields.get("out_trade_no", "")) or next(
            (o for o in self.orders.values()
             if fields.get("transaction_id") and o.transaction_id == fields["transaction_id"]),
            None)
        if failure is None:
            failure = _check_refund(fields, order)
        if failure is not None:
            return self._pay_answer(request, fields, failure, sign_type)
        assert order is not None
        out_refund_no, refund_fee = fields["out_refund_no"], int(fields["refund_fee"])
        if out_refund_no not in order.refunds:
            order.refunds[out_refund_no] = refund_fee
        answer = {
            "return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS",
            "transaction_id": order.transaction_id, "out_trade_no": order.out_trade_no,
            "out_refund_no": out_refund_no,
            "refund_id": "50" + hashlib.sha1(
                f"{order.transaction_id}:{out_refund_no}".encode()).hexdigest()[:26],
            "refund_fee": str(refund_fee), "total_fee": str(order.total_fee),
            "cash_fee": str(order.total_fee),
        }
        return self._pay_answer(request, fields, answer, sign_type)

    # -- inspection and control over HTTP --------------------------------------------

    async def _inspect_calls(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(call) for call in self.calls])

    async def _inspect_messages(self, request: web.Request) -> web.Response:
        openid = request.match_info.get("openid")
        if openid is not None:
            return web.json_response([asdict(m) for m in self.messages.get(openid, [])])
        return web.json_response(
            {uid: [asdict(m) for m in sent] for uid, sent in self.messages.items()})

    async def _inspect_orders(self, request: web.Request) -> web.Response:
        return web.json_response({no: {**asdict(o), "refunded": o.refunded}
                                  for no, o in self.orders.items()})

    async def _control(self, request: web.Request) -> web.Response:
        if request.path == "/_standin/tokens/expire":
            self.expire_tokens()
        elif request.path == "/_standin/tokens/revoke":
            self.revoke_tokens()
        else:
            openid, action = request.match_info["openid"], request.match_info["action"]
            if action == "open":
                self.open_window(openid)
            elif action == "close":
                self.close_window(openid)
            elif action == "exhaust":
                self.exhaust_quota(openid)
            elif action == "fail":
                self.fail_sends(openid)
            else:
                return web.json_response({"error": f"unknown action {action!r}"}, status=404)
        return web.json_response({"ok": True})


# -- checks written the way WeChat reports them ----------------------------------------


def _byte_len(text: Any) -> int:
    return len(str(text).encode("utf-8"))


def _check_menu(body: dict[str, Any] | None) -> dict[str, Any] | None:
    if body is None:
        return _error(47001, "data format error")
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return _error(40016, "invalid button size")
    for button in buttons:
        if not isinstance(button, dict):
            return _error(47001, "data format error")
        if not button.get("name") or _byte_len(button["name"]) > 16:
            return _error(40018, "invalid button name size")
        subs = button.get("sub_button") or []
        if not subs:
            problem = _check_menu_action(button, sub=False)
            if problem is not None:
                return problem
            continue
        if not isinstance(subs, list) or len(subs) > 5:
            return _error(40023, "invalid sub button size")
        for sub in subs:
            if not isinstance(sub, dict):
                return _error(47001, "data format error")
            if not sub.get("name") or _byte_len(sub["name"]) > 60:
                return _error(40025, "invalid sub button name size")
            problem = _check_menu_action(sub, sub=True)
            if problem is not None:
                return problem
    return None


def _check_menu_action(button: Mapping[str, Any], *, sub: bool) -> dict[str, Any] | None:
    kind = button.get("type")
    if kind not in _MENU_TYPES:
        return _error(40024, "invalid sub button type") if sub else _error(
            40017, "invalid button type")
    if kind in ("view", "miniprogram") and (
        not button.get("url") or _byte_len(button["url"]) > 1024
    ):
        return _error(40027, "invalid sub button url size") if sub else _error(
            40020, "invalid button url size")
    if kind not in ("view", "miniprogram", "media_id", "view_limited", "article_id",
                    "article_view_limited") and (
        not button.get("key") or _byte_len(button["key"]) > 128
    ):
        return _error(40026, "invalid sub button key size") if sub else _error(
            40019, "invalid button key size")
    return None


def _pay_fail(err_code: str, description: str) -> dict[str, str]:
    return {"return_code": "SUCCESS", "return_msg": "OK", "result_code": "FAIL",
            "err_code": err_code, "err_code_des": description}


def _plain_xml(fields: Mapping[str, str]) -> str:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return f"<xml>{inner}</xml>"


def _check_unifiedorder(fields: Mapping[str, str]) -> dict[str, str] | None:
    for required in ("body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url",
                     "trade_type", "nonce_str"):
        if not fields.get(required):
            return _pay_fail("PARAM_ERROR", f"缺少参数{required}")
    if not fields["total_fee"].isdigit() or int(fields["total_fee"]) <= 0:
        return _pay_fail("PARAM_ERROR", "total_fee 必须为正整数（分）")
    trade_type = fields["trade_type"]
    if trade_type not in ("JSAPI", "NATIVE", "APP", "MWEB"):
        return _pay_fail("PARAM_ERROR", "trade_type 不合法")
    if trade_type == "NATIVE" and not fields.get("product_id"):
        return _pay_fail("PARAM_ERROR", "trade_type=NATIVE时，product_id为必填参数")
    if trade_type == "JSAPI" and not fields.get("openid"):
        return _pay_fail("PARAM_ERROR", "trade_type=JSAPI时，openid为必填参数")
    if not fields["notify_url"].startswith(("http://", "https://")):
        return _pay_fail("PARAM_ERROR", "notify_url 不合法")
    return None


def _check_refund(fields: Mapping[str, str], order: PayOrder | None) -> dict[str, str] | None:
    for required in ("out_refund_no", "total_fee", "refund_fee"):
        if not fields.get(required):
            return _pay_fail("PARAM_ERROR", f"缺少参数{required}")
    if order is None:
        return _pay_fail("ORDERNOTEXIST", "订单不存在")
    if not order.paid:
        return _pay_fail("ERROR", "订单未支付")
    if not fields["refund_fee"].isdigit() or int(fields["refund_fee"]) <= 0:
        return _pay_fail("PARAM_ERROR", "refund_fee 必须为正整数（分）")
    if fields["total_fee"] != str(order.total_fee):
        return _pay_fail("PARAM_ERROR", "订单金额或退款金额与之前请求不一致")
    refund_fee = int(fields["refund_fee"])
    previous = order.refunds.get(fields["out_refund_no"])
    if previous is not None:
        if previous != refund_fee:
            return _pay_fail("PARAM_ERROR", "订单金额或退款金额与之前请求不一致")
        return None  # the same refund asked again: answered as before
    if refund_fee > order.total_fee - order.refunded:
        return _pay_fail("ERROR", "申请退款金额超过订单可退金额")
    return None
