"""Payment callbacks: credited once however often they come, refused and alerted when wrong."""

from __future__ import annotations

import pytest

from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet import commands as c
from core.wallet.model import PaymentStatus
from tests.integration.wallet.conftest import WalletDriver

CUSTOMER = 100


async def start(wallet: WalletDriver, amount: int = 2_500, **kw: object) -> str:
    intent = await wallet.bus.handle(c.StartPayment(
        customer_id=CUSTOMER, gateway="sandbox", amount=Money(amount, "CNY"), **kw))  # type: ignore[arg-type]
    assert intent.is_test  # the sandbox is always shown as a test payment
    return str(intent.payment_ref)


async def test_a_callback_delivered_five_times_credits_once(wallet: WalletDriver) -> None:
    ref = await start(wallet)
    outcomes = [
        await wallet.bus.handle(c.ConfirmPayment(gateway="sandbox", payment_ref=ref, amount=2_500,
                                                 currency="CNY", gateway_charge_id="ch-1"))
        for _ in range(5)
    ]
    assert [o.status for o in outcomes] == ["credited"] + ["duplicate"] * 4
    assert all(o.accepted for o in outcomes)
    assert (await wallet.balance(CUSTOMER)).wallet == Money(2_500, "CNY")
    assert (await wallet.outbox_names()).count("PaymentReceived") == 1
    await wallet.assert_balanced()


async def test_a_wrong_amount_is_refused_recorded_and_alerted_never_credited(wallet: WalletDriver) -> None:
    ref = await start(wallet)
    for _ in range(3):
        outcome = await wallet.bus.handle(
            c.ConfirmPayment(gateway="sandbox", payment_ref=ref, amount=2_499, currency="CNY"))
        assert (outcome.status, outcome.problem) == ("refused", "amount_mismatch")
        assert outcome.error_key == "error.wallet.payment_amount_mismatch"
    assert (await wallet.balance(CUSTOMER)).wallet == Money(0, "CNY")
    assert (await wallet.outbox_names()).count("PaymentMismatch") == 1
    async with wallet.runtime.uow_factory() as uow:
        (alert,) = await uow.payments.alerts()
        payment = await uow.payments.get("sandbox", ref)
        audit = await uow.audit.for_entity("payment", f"sandbox:{ref}")
    assert (alert.problem, alert.expected, alert.received) == (
        "amount_mismatch", Money(2_500, "CNY"), Money(2_499, "CNY"))
    assert payment is not None and payment.status is PaymentStatus.CREATED
    assert [a.action for a in audit] == ["refuse"]
    # The right amount afterwards is credited normally.
    ok = await wallet.bus.handle(c.ConfirmPayment(gateway="sandbox", payment_ref=ref, amount=2_500,
                                                  currency="CNY"))
    assert ok.status == "credited"
    await wallet.assert_balanced()


@pytest.mark.parametrize(
    ("change", "problem"),
    [({"currency": "USD"}, "currency_mismatch"), ({"currency": "BTC"}, "currency_mismatch"),
     ({"payment_ref": "never-started"}, "unknown_payment"), ({"purpose": "tip"}, "purpose_mismatch"),
     ({"actor_id": 999}, "customer_mismatch")],
)
async def test_other_mismatches_are_refused(wallet: WalletDriver, change: dict[str, object], problem: str) -> None:
    ref = await start(wallet)
    fields: dict[str, object] = {"gateway": "sandbox", "payment_ref": ref, "amount": 2_500,
                                 "currency": "CNY", **change}
    outcome = await wallet.bus.handle(c.ConfirmPayment(**fields))  # type: ignore[arg-type]
    assert (outcome.status, outcome.problem) == ("refused", problem)
    assert (await wallet.balance(CUSTOMER)).wallet == Money(0, "CNY")
    assert "PaymentMismatch" in await wallet.outbox_names()


async def test_a_pre_checkout_check_accepts_a_fitting_payment_only(wallet: WalletDriver) -> None:
    ref = await start(wallet, purpose="order", order_id=77)
    payment = await wallet.bus.handle(c.CheckPayment(gateway="sandbox", payment_ref=ref,
                                                     amount=2_500, currency="CNY"))
    assert payment.order_id == 77
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.CheckPayment(gateway="sandbox", payment_ref=ref, amount=1,
                                               currency="CNY"))
    assert refused.value.key == "error.wallet.payment_amount_mismatch"
    await wallet.bus.handle(c.ConfirmPayment(gateway="sandbox", payment_ref=ref, amount=2_500,
                                             currency="CNY"))
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.CheckPayment(gateway="sandbox", payment_ref=ref, amount=2_500,
                                               currency="CNY"))
    assert refused.value.key == "error.wallet.payment_already_paid"


async def test_an_order_payment_lands_in_the_wallet_and_booking_then_holds_it(wallet: WalletDriver) -> None:
    ref = await start(wallet, purpose="order", order_id=77)
    await wallet.bus.handle(c.ConfirmPayment(gateway="sandbox", payment_ref=ref, amount=2_500,
                                             currency="CNY", purpose="order", order_id=77))
    assert await wallet.held(77) is None
    # What booking does on PaymentReceived: the top-up is not repeated, only the hold.
    await wallet.pay(77, CUSTOMER, 2_500, method="sandbox", payment_ref=ref)
    balance = await wallet.balance(CUSTOMER)
    assert (balance.wallet, balance.wallet_held) == (Money(2_500, "CNY"), Money(2_500, "CNY"))
    await wallet.assert_balanced()


async def test_starting_a_payment_refuses_bad_input(wallet: WalletDriver) -> None:
    cases = [
        ({"amount": Money(0, "CNY")}, "error.wallet.invalid_amount"),
        ({"gateway": "wechat_pay"}, "error.wallet.gateway_not_enabled"),
        ({"gateway": "telegram_stars"}, "error.wallet.method_currency"),
        ({"purpose": "gift"}, "error.wallet.invalid_purpose"),
        ({"purpose": "order"}, "error.wallet.order_required"),
    ]
    for change, key in cases:
        fields: dict[str, object] = {"customer_id": CUSTOMER, "gateway": "sandbox",
                                     "amount": Money(100, "CNY"), **change}
        with pytest.raises(DomainError) as refused:
            await wallet.bus.handle(c.StartPayment(**fields))  # type: ignore[arg-type]
        assert refused.value.key == key
