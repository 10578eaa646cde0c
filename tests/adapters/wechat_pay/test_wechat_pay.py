"""WeChat Pay v2 end to end over real HTTP: the wallet places a NATIVE order at the local
WeChat stand-in, the stand-in notifies our endpoint (correctly, repeatedly, or forged), the
wallet credits once, and refunds go back through the stand-in."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientSession, web

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from bots.wechat.pay import NOTIFY_PATH, WeChatPayGateway, WeChatPayNotify, qr_png
from bots.wechat.standin import Forgery, LocalServer, WeChatDriver, WeChatStandIn
from core.shared.clock import FixedClock
from core.shared.money import Money
from core.wallet import api
from core.wallet import commands as c
from core.wallet.gateways import ManualPayouts, PaymentGateways
from core.wallet.ports import GatewayUnavailable, PaymentRequest
from tests.integration.wallet.conftest import WalletDriver

CUSTOMER = 100


@dataclass
class Shop:
    standin: WeChatStandIn
    gateway: WeChatPayGateway
    wallet: WalletDriver
    notify_url: str

    async def start(self, amount: int, purpose: str = "topup", order_id: int | None = None) -> str:
        intent = await self.wallet.bus.handle(c.StartPayment(
            customer_id=CUSTOMER, gateway="wechat_pay", amount=Money(amount, "CNY"),
            purpose=purpose, order_id=order_id, description="充值"))
        assert intent.data["code_url"].startswith("weixin://wxpay/")
        return str(intent.payment_ref)

    async def wallet_balance(self) -> int:
        return (await self.wallet.balance(CUSTOMER)).wallet.amount


@pytest.fixture
async def shop(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Shop]:
    database = tmp_path / "pay.db"
    shutil.copy(sqlite_template, database)
    async with WeChatStandIn() as standin:
        runtime_box: list[Runtime] = []

        async def dispatch(command: c.ConfirmPayment) -> object:
            return await runtime_box[0].bus.handle(command)

        app = web.Application()
        WeChatPayNotify(app_id=standin.app_id, mch_id=standin.mch_id, api_key=standin.mch_key,
                        dispatch=dispatch).register(app)
        async with LocalServer(app) as server:
            notify_url = server.base_url + NOTIFY_PATH.lstrip("/")
            gateway = WeChatPayGateway(app_id=standin.app_id, mch_id=standin.mch_id,
                                       api_key=standin.mch_key, notify_url=notify_url,
                                       api_base=standin.base_url)
            settings = Settings(_env_file=None, mode="demo",  # type: ignore[call-arg]
                                database_url=f"sqlite+aiosqlite:///{database}")
            runtime = bootstrap(settings, clock=FixedClock(), overrides={
                "payment_gateways": PaymentGateways([gateway, ManualPayouts()])})
            runtime_box.append(runtime)
            yield Shop(standin, gateway, WalletDriver(runtime), notify_url)
            await runtime.close()
            gateway.close()


async def test_a_paid_qr_code_credits_the_wallet_once_however_often_wechat_notifies(shop: Shop) -> None:
    ref = await shop.start(2_500)
    (order,) = [o for o in shop.standin.orders.values() if o.out_trade_no == ref]
    assert (order.trade_type, order.total_fee, order.notify_url) == ("NATIVE", 2_500, shop.notify_url)
    report = await shop.standin.pay(ref)
    assert report.acknowledged and len(report.attempts) == 1
    assert await shop.wallet_balance() == 2_500
    for _ in range(4):  # WeChat repeats a notify it is unsure about
        again = await shop.standin.pay(ref)
        assert again.acknowledged
    assert await shop.wallet_balance() == 2_500
    assert (await shop.wallet.outbox_names()).count("PaymentReceived") == 1
    async with shop.wallet.runtime.uow_factory() as uow:
        payment = await uow.payments.get("wechat_pay", ref)
    assert payment is not None and payment.gateway_charge_id == order.transaction_id
    await shop.wallet.assert_balanced()


@pytest.mark.parametrize("forgery", [Forgery.WRONG_KEY, Forgery.TAMPERED_AMOUNT])
async def test_a_forged_notify_is_refused_and_credits_nothing(shop: Shop, forgery: Forgery) -> None:
    ref = await shop.start(2_500)
    report = await shop.standin.pay(ref, forgery=forgery)
    assert not report.acknowledged
    assert all("FAIL" in answer and "invalid signature" in answer for answer in report.answers)
    assert await shop.wallet_balance() == 0


async def test_a_correctly_signed_notify_for_another_amount_is_refused_and_alerted(shop: Shop) -> None:
    ref = await shop.start(2_500)
    fields = {
        "appid": shop.standin.app_id, "mch_id": shop.standin.mch_id, "nonce_str": "n1",
        "return_code": "SUCCESS", "result_code": "SUCCESS", "total_fee": "1", "fee_type": "CNY",
        "out_trade_no": ref, "transaction_id": "4200000000000001", "sign_type": "HMAC-SHA256",
    }
    driver = WeChatDriver(webhook_url=shop.notify_url, token="-", app_id=shop.standin.app_id)
    try:
        report = await driver.deliver_pay_notify(shop.notify_url, fields, key=shop.standin.mch_key,
                                                 sign_type="HMAC-SHA256", intervals=(0.01,))
    finally:
        await driver.close()
    assert not report.acknowledged and "amount_mismatch" in report.answers[-1]
    assert await shop.wallet_balance() == 0
    assert (await shop.wallet.outbox_names()).count("PaymentMismatch") == 1


async def test_hostile_or_foreign_bodies_are_refused(shop: Shop) -> None:
    xxe = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           "<xml><return_code>&e;</return_code></xml>")
    async with ClientSession() as http:
        for body in (b"not xml", xxe.encode(), b"<xml><return_code>SUCCESS</return_code></xml>"):
            async with http.post(shop.notify_url, data=body) as response:
                assert response.status == 200
                assert "FAIL" in await response.text()
    assert await shop.wallet_balance() == 0


async def test_a_refund_to_the_original_payment_goes_back_through_wechat(shop: Shop) -> None:
    ref = await shop.start(6_000, purpose="order", order_id=42)
    assert (await shop.standin.pay(ref)).acknowledged
    await shop.wallet.pay(42, CUSTOMER, 6_000, method="wechat_pay", payment_ref=ref)
    await shop.wallet.call(api.release_order, order_id=42, refund=Money(4_000, "CNY"),
                           provider_id=500, commission_bps=2_000, venue_id=None, venue_share_bps=0,
                           refund_to="original")
    order = shop.standin.orders[ref]
    assert order.refunded == 4_000
    assert await shop.wallet_balance() == 0
    assert "RefundCompleted" in await shop.wallet.outbox_names()
    await shop.wallet.assert_balanced()


async def test_the_qr_code_is_a_png_and_an_unreachable_wechat_is_a_retry(shop: Shop) -> None:
    assert qr_png("weixin://wxpay/bizpayurl?pr=abc").startswith(b"\x89PNG")
    down = WeChatPayGateway(app_id="wx1", mch_id="1", api_key="k" * 32, notify_url=shop.notify_url,
                            api_base="http://127.0.0.1:9/")
    with pytest.raises(GatewayUnavailable):
        await down.create_payment(PaymentRequest("r1", Money(1, "CNY"), "x", CUSTOMER, "topup"))
    down.close()
