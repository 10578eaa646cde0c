"""The stand-in's WeChat Pay v2: unified orders, refunds, and signed (or forged) notifies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature_hmac

from bots.wechat.client import WECHAT_PAY_API_ORIGIN, mount_api_base
from bots.wechat.safexml import parse_fields
from bots.wechat.standin import Forgery, LocalServer, WeChatStandIn

OK = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
FAIL = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[{}]]></return_msg></xml>"


class Merchant:
    """A minimal merchant notify endpoint verifying with wechatpy, as ours will."""

    def __init__(self, pay: WeChatPay, expected_fees: dict[str, int]) -> None:
        self.pay = pay
        self.expected_fees = expected_fees
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0

    async def notify(self, request: web.Request) -> web.Response:
        body = await request.text()
        fields = parse_fields(body)  # defusedxml first, as everywhere
        try:
            if fields.get("sign_type") == "HMAC-SHA256":
                unsigned = {k: v for k, v in fields.items() if k != "sign"}
                if calculate_signature_hmac(unsigned, self.pay.api_key) != fields["sign"]:
                    raise InvalidSignatureException()
                result: dict[str, Any] = dict(fields)
            else:
                result = self.pay.parse_payment_result(body)
        except InvalidSignatureException:
            self.refused += 1
            return web.Response(text=FAIL.format("bad signature"), content_type="text/xml")
        if int(result["total_fee"]) != self.expected_fees.get(result["out_trade_no"]):
            self.refused += 1
            return web.Response(text=FAIL.format("amount mismatch"), content_type="text/xml")
        self.accepted.append(result)
        return web.Response(text=OK, content_type="text/xml")


@pytest.fixture
def pay(standin: WeChatStandIn) -> WeChatPay:
    client = WeChatPay(appid=standin.app_id, api_key=standin.mch_key, mch_id=standin.mch_id)
    mount_api_base(client._http, standin.base_url, origin=WECHAT_PAY_API_ORIGIN)
    return client


@pytest.fixture
async def merchant(pay: WeChatPay) -> AsyncIterator[tuple[Merchant, str]]:
    merchant = Merchant(pay, {})
    app = web.Application()
    app.router.add_post("/pay/wechat/notify", merchant.notify)
    async with LocalServer(app) as server:
        yield merchant, server.base_url + "pay/wechat/notify"


async def place_order(pay: WeChatPay, notify_url: str, out_trade_no: str, total_fee: int,
                      **extra: Any) -> dict[str, Any]:
    return await asyncio.to_thread(
        pay.order.create, trade_type="NATIVE", body="约伴-台球陪练 1h", total_fee=total_fee,
        notify_url=notify_url, client_ip="127.0.0.1", product_id="coach-1h",
        out_trade_no=out_trade_no, **extra)


async def test_a_native_unified_order_returns_a_signed_code_url(
    standin: WeChatStandIn, pay: WeChatPay, merchant: tuple[Merchant, str]
) -> None:
    _, notify_url = merchant
    result = await place_order(pay, notify_url, "ORDER-42", 8800)

    assert result["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert pay.check_signature(dict(result))
    assert standin.orders["ORDER-42"].total_fee == 8800
    again = await place_order(pay, notify_url, "ORDER-42", 8800)
    assert again["prepay_id"] == result["prepay_id"]  # same order asked twice: same answer


async def test_unified_order_refuses_a_reused_order_number_and_a_bad_signature(
    standin: WeChatStandIn, pay: WeChatPay, merchant: tuple[Merchant, str]
) -> None:
    _, notify_url = merchant
    await place_order(pay, notify_url, "ORDER-43", 100)

    with pytest.raises(WeChatPayException) as reused:
        await place_order(pay, notify_url, "ORDER-43", 999)
    assert reused.value.errcode == "INVALID_REQUEST"

    impostor = WeChatPay(appid=standin.app_id, api_key="x" * 32, mch_id=standin.mch_id)
    mount_api_base(impostor._http, standin.base_url, origin=WECHAT_PAY_API_ORIGIN)
    with pytest.raises(WeChatPayException) as forged:
        await place_order(impostor, notify_url, "ORDER-44", 100)
    assert forged.value.return_code == "FAIL"
    assert "ORDER-44" not in standin.orders


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
async def test_a_correctly_signed_notify_is_acknowledged_on_the_first_attempt(
    sign_type: str, standin: WeChatStandIn, pay: WeChatPay, merchant: tuple[Merchant, str]
) -> None:
    receiver, notify_url = merchant
    receiver.expected_fees["ORDER-50"] = 4500
    extra = {} if sign_type == "MD5" else {"sign_type": sign_type}
    await place_order(pay, notify_url, "ORDER-50", 4500, attach="order:50", **extra)

    report = await standin.pay("ORDER-50")

    assert report.acknowledged
    assert len(report.attempts) == 1
    [paid] = receiver.accepted
    assert (paid["out_trade_no"], int(paid["total_fee"]), paid["attach"]) == (
        "ORDER-50", 4500, "order:50")
    assert paid["transaction_id"] == standin.orders["ORDER-50"].transaction_id


@pytest.mark.parametrize("forgery", list(Forgery), ids=str)
async def test_a_forged_notify_is_refused_and_redelivered_until_attempts_run_out(
    forgery: Forgery, standin: WeChatStandIn, pay: WeChatPay, merchant: tuple[Merchant, str]
) -> None:
    receiver, notify_url = merchant
    receiver.expected_fees["ORDER-60"] = 1200
    await place_order(pay, notify_url, "ORDER-60", 1200)

    report = await standin.pay("ORDER-60", forgery=forgery)

    assert not report.acknowledged
    assert len(report.attempts) == len(standin.notify_intervals) + 1
    assert receiver.accepted == []
    assert receiver.refused == len(report.attempts)


async def test_a_notify_is_redelivered_until_success_is_answered(
    standin: WeChatStandIn, pay: WeChatPay
) -> None:
    answers = iter([web.Response(status=500), web.Response(text="not xml"),
                    web.Response(text=OK, content_type="text/xml")])
    app = web.Application()

    async def flaky(_request: web.Request) -> web.Response:
        return next(answers)

    app.router.add_post("/notify", flaky)
    async with LocalServer(app) as server:
        await place_order(pay, server.base_url + "notify", "ORDER-70", 300)
        report = await standin.pay("ORDER-70")

    assert report.acknowledged
    assert [a.status for a in report.attempts] == [500, 200, 200]


async def test_refunds_up_to_the_paid_amount_and_idempotent_by_refund_number(
    standin: WeChatStandIn, pay: WeChatPay, merchant: tuple[Merchant, str]
) -> None:
    receiver, notify_url = merchant
    receiver.expected_fees["ORDER-80"] = 5000
    await place_order(pay, notify_url, "ORDER-80", 5000)

    with pytest.raises(WeChatPayException, match="订单未支付"):
        await asyncio.to_thread(pay.refund.apply, 5000, 1000, "R-1", out_trade_no="ORDER-80")
    await standin.pay("ORDER-80")

    first = await asyncio.to_thread(pay.refund.apply, 5000, 3000, "R-1", out_trade_no="ORDER-80")
    repeat = await asyncio.to_thread(pay.refund.apply, 5000, 3000, "R-1", out_trade_no="ORDER-80")
    assert first["refund_id"] == repeat["refund_id"]
    assert standin.orders["ORDER-80"].refunded == 3000

    with pytest.raises(WeChatPayException) as too_much:
        await asyncio.to_thread(pay.refund.apply, 5000, 2001, "R-2", out_trade_no="ORDER-80")
    assert too_much.value.errcode == "ERROR"
    await asyncio.to_thread(pay.refund.apply, 5000, 2000, "R-2", out_trade_no="ORDER-80")
    assert standin.orders["ORDER-80"].refunded == 5000
