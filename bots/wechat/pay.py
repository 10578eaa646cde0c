"""WeChat Pay v2 for the wallet: NATIVE (QR code) payments, refunds, and the notify endpoint.

- `WeChatPayGateway` implements the wallet's `PaymentGateway` port with wechatpy's
  synchronous `WeChatPay`, called in a worker thread so the event loop never blocks, and
  pointed at a configurable API base (a local stand-in in tests). `create_payment` places
  a unified order (`trade_type=NATIVE`, `out_trade_no` = our payment ref) and returns its
  `code_url`; `qr_png(code_url)` draws the QR code the WeChat bot sends as an image.
- `WeChatPayNotify` serves `POST /pay/wechat/notify`: it parses the body with defusedxml,
  verifies the signature (MD5 or HMAC-SHA256, as `sign_type` says) with the merchant key in
  constant time, checks the appid and merchant id, and turns a successful payment into the
  wallet's `ConfirmPayment` through an injected async callable (the message bus). The
  wallet checks the amount against what was asked and credits a payment once, however often
  WeChat repeats the notify; the endpoint answers `SUCCESS` once the payment is credited or
  was already, and `FAIL` (so WeChat retries, and nothing is credited) otherwise.

https://pay.weixin.qq.com/wiki/doc/api/native.php?chapter=9_1 (unified order),
https://pay.weixin.qq.com/wiki/doc/api/native.php?chapter=9_7 (notify),
https://pay.weixin.qq.com/wiki/doc/api/native.php?chapter=9_4 (refund).
"""

from __future__ import annotations

import asyncio
import hmac
import io
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import requests
import segno
from aiohttp import web
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac

from bots.wechat.safexml import UnsafeXml, parse_fields, render_fields
from core.shared.errors import DomainError
from core.wallet.commands import ConfirmPayment
from core.wallet.ports import (
    GatewayResult,
    GatewayUnavailable,
    PaymentInstructions,
    PaymentRequest,
    PayoutRequest,
    RefundRequest,
)

logger = logging.getLogger(__name__)

NOTIFY_PATH = "/pay/wechat/notify"
GATEWAY = "wechat_pay"
MAX_NOTIFY_BYTES = 64 * 1024
# WeChat error codes that mean "try again", not "no".
TRANSIENT_ERRORS = frozenset({"SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED"})


def qr_png(code_url: str, *, scale: int = 8) -> bytes:
    """The QR code of a NATIVE payment's `code_url`, as PNG bytes."""
    buffer = io.BytesIO()
    segno.make(code_url, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def sign(fields: Mapping[str, str], key: str, sign_type: str = "MD5") -> str:
    """WeChat Pay v2 signature over the non-empty fields except `sign`."""
    unsigned = {k: v for k, v in fields.items() if k != "sign"}
    if sign_type == "HMAC-SHA256":
        return str(calculate_signature_hmac(unsigned, key))
    if sign_type == "MD5":
        return str(calculate_signature(unsigned, key))
    raise ValueError(f"unknown sign_type {sign_type!r}")


def signature_valid(fields: Mapping[str, str], key: str) -> bool:
    given = fields.get("sign") or ""
    sign_type = fields.get("sign_type") or "MD5"
    if not given or sign_type not in ("MD5", "HMAC-SHA256"):
        return False
    return hmac.compare_digest(sign(fields, key, sign_type), given)


class WeChatPayGateway:
    name = GATEWAY
    is_test = False
    currencies = frozenset({"CNY"})
    supports_payout = False

    def __init__(
        self,
        *,
        app_id: str,
        mch_id: str,
        api_key: str,
        notify_url: str,
        api_base: str | None = None,
        client_ip: str = "127.0.0.1",
        cert_path: str | None = None,
        key_path: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        if not (app_id and mch_id and api_key):
            raise ValueError("app_id, mch_id and api_key are required for WeChat Pay")
        self.notify_url = notify_url
        self.client_ip = client_ip
        self._pay = WeChatPay(appid=app_id, api_key=api_key, mch_id=mch_id,
                              mch_cert=cert_path, mch_key=key_path, timeout=timeout_seconds)
        if api_base:
            # wechatpy builds every URL from this attribute (WeChatPay._request).
            self._pay.API_BASE_URL = api_base if api_base.endswith("/") else api_base + "/"

    def close(self) -> None:
        self._pay._http.close()

    async def _call(self, fn: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        try:
            result = await asyncio.to_thread(fn, **kwargs)
        except requests.RequestException as exc:
            raise GatewayUnavailable(self.name, str(exc)) from exc
        if not isinstance(result, dict):
            raise GatewayUnavailable(self.name, "unreadable answer")
        return result

    async def create_payment(self, request: PaymentRequest) -> PaymentInstructions:
        if not self.notify_url:
            raise GatewayUnavailable(self.name, "YUEBAN_WECHAT_PAY_NOTIFY_URL is not set")
        try:
            result = await self._call(
                self._pay.order.create, trade_type="NATIVE",
                body=request.description[:128] or "Yueban", total_fee=request.amount.amount,
                notify_url=self.notify_url, client_ip=self.client_ip,
                out_trade_no=request.payment_ref, product_id=request.payment_ref,
                fee_type=request.amount.currency, attach=request.purpose,
            )
        except WeChatPayException as exc:
            if exc.return_code is None or exc.errcode in TRANSIENT_ERRORS:
                raise GatewayUnavailable(self.name, str(exc.errmsg or exc)) from exc
            raise DomainError("error.wallet.gateway_refused", gateway=self.name,
                              detail=str(exc.errmsg or exc.return_msg or exc.errcode)) from exc
        code_url = result.get("code_url")
        if not code_url:
            raise GatewayUnavailable(self.name, "no code_url in the unified order answer")
        return PaymentInstructions(
            gateway=self.name, payment_ref=request.payment_ref, amount=request.amount,
            is_test=False, data={"code_url": code_url, "prepay_id": result.get("prepay_id")},
        )

    async def refund(self, request: RefundRequest) -> GatewayResult:
        try:
            result = await self._call(
                self._pay.refund.apply, total_fee=request.payment_amount.amount,
                refund_fee=request.amount.amount, out_refund_no=request.refund_ref,
                out_trade_no=request.payment_ref, fee_type=request.amount.currency,
            )
        except WeChatPayException as exc:
            if exc.return_code is None or exc.errcode in TRANSIENT_ERRORS:
                raise GatewayUnavailable(self.name, str(exc.errmsg or exc)) from exc
            return GatewayResult(ok=False, failure=f"{exc.errcode}: {exc.errmsg or exc.return_msg}")
        return GatewayResult(ok=True, reference=result.get("refund_id"))

    async def payout(self, request: PayoutRequest) -> GatewayResult:
        raise DomainError("error.wallet.payout_unsupported", method=self.name)


Dispatch = Callable[[ConfirmPayment], Awaitable[Any]]


def _answer(code: str, message: str) -> web.Response:
    return web.Response(text=render_fields({"return_code": code, "return_msg": message}),
                        content_type="text/xml")


class WeChatPayNotify:
    """`POST /pay/wechat/notify`: verify, then hand the payment to the wallet once."""

    def __init__(self, *, app_id: str, mch_id: str, api_key: str, dispatch: Dispatch) -> None:
        self.app_id = app_id
        self.mch_id = mch_id
        self._key = api_key
        self._dispatch = dispatch

    def register(self, app: web.Application, path: str = NOTIFY_PATH) -> None:
        app.router.add_post(path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_NOTIFY_BYTES + 1)
        if len(body) > MAX_NOTIFY_BYTES:
            return _answer("FAIL", "body too large")
        try:
            fields = parse_fields(body)
        except UnsafeXml as exc:
            logger.warning("WeChat Pay notify refused: %s", exc)
            return _answer("FAIL", "malformed XML")
        if not signature_valid(fields, self._key):
            logger.warning("WeChat Pay notify with a bad signature for %s",
                           fields.get("out_trade_no"))
            return _answer("FAIL", "invalid signature")
        if fields.get("appid") != self.app_id or fields.get("mch_id") != self.mch_id:
            return _answer("FAIL", "not our merchant")
        if fields.get("return_code") != "SUCCESS" or fields.get("result_code") != "SUCCESS":
            # A failed payment: nothing to credit; acknowledge so WeChat stops repeating it.
            return _answer("SUCCESS", "OK")
        total_fee = fields.get("total_fee", "")
        payment_ref = fields.get("out_trade_no", "")
        if not total_fee.isdigit() or not payment_ref:
            return _answer("FAIL", "missing total_fee or out_trade_no")
        command = ConfirmPayment(
            gateway=GATEWAY, payment_ref=payment_ref, amount=int(total_fee),
            currency=fields.get("fee_type") or "CNY",
            gateway_charge_id=fields.get("transaction_id") or None,
        )
        try:
            outcome = await self._dispatch(command)
        except DomainError as error:
            return _answer("FAIL", error.key)
        except Exception:
            logger.exception("WeChat Pay notify for %s could not be recorded", payment_ref)
            return _answer("FAIL", "try again")
        if getattr(outcome, "accepted", False):
            return _answer("SUCCESS", "OK")
        return _answer("FAIL", getattr(outcome, "problem", None) or "refused")
