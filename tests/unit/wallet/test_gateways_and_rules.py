"""Gateways without a network, withdrawal rules, and the records that decide only once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet.gateways import (
    ManualPayouts,
    PaymentGateways,
    SandboxGateway,
    TelegramInvoiceGateway,
    TelegramStarsGateway,
    check_method,
)
from core.wallet.model import Payment, PaymentStatus, Withdrawal
from core.wallet.policy import WalletPolicy
from core.wallet.ports import (
    GatewayRefused,
    GatewayUnavailable,
    PaymentRequest,
    PayoutRequest,
    RefundRequest,
)

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class FakeTelegramRefunds:
    """The Telegram adapter's side: records refundStarPayment calls, can refuse or be down."""

    def __init__(self, refuse: str | None = None, down: bool = False) -> None:
        self.calls: list[tuple[int, str]] = []
        self.refuse, self.down = refuse, down

    async def refund_star_payment(self, customer_id: int, telegram_payment_charge_id: str) -> None:
        if self.down:
            raise ConnectionError("api.telegram.org unreachable")
        if self.refuse:
            raise GatewayRefused(self.refuse)
        self.calls.append((customer_id, telegram_payment_charge_id))


def stars_refund(amount: int = 50, paid: int = 50, charge: str | None = "tg-charge-1") -> RefundRequest:
    return RefundRequest(refund_ref="rf1", payment_ref="p1", gateway_charge_id=charge, customer_id=7,
                         amount=Money(amount, "XTR"), payment_amount=Money(paid, "XTR"))


async def test_stars_refunds_go_through_refund_star_payment_with_the_charge_id() -> None:
    port = FakeTelegramRefunds()
    result = await TelegramStarsGateway(port).refund(stars_refund())
    assert result.ok and port.calls == [(7, "tg-charge-1")]


async def test_stars_can_only_refund_whole_charges() -> None:
    port = FakeTelegramRefunds()
    result = await TelegramStarsGateway(port).refund(stars_refund(amount=20))
    assert not result.ok and port.calls == []


async def test_a_refused_stars_refund_is_a_failure_and_an_unreachable_telegram_a_retry() -> None:
    refused = await TelegramStarsGateway(FakeTelegramRefunds(refuse="CHARGE_ALREADY_REFUNDED")).refund(stars_refund())
    assert not refused.ok and "ALREADY_REFUNDED" in (refused.failure or "")
    with pytest.raises(GatewayUnavailable):
        await TelegramStarsGateway(FakeTelegramRefunds(down=True)).refund(stars_refund())


async def test_stars_invoices_carry_our_payment_ref_as_payload() -> None:
    request = PaymentRequest(payment_ref="abc", amount=Money(250, "XTR"), description="Order 5",
                             customer_id=7, purpose="order", order_id=5)
    instructions = await TelegramStarsGateway(FakeTelegramRefunds()).create_payment(request)
    assert instructions.data["invoice_payload"] == "abc" and instructions.data["currency"] == "XTR"
    assert not instructions.is_test


async def test_fiat_invoices_cannot_be_refunded_through_the_bot_api() -> None:
    result = await TelegramInvoiceGateway().refund(stars_refund())
    assert not result.ok


async def test_the_sandbox_is_always_a_test_and_pays_out_once_per_reference() -> None:
    sandbox = SandboxGateway()
    intent = await sandbox.create_payment(PaymentRequest("r", Money(100, "CNY"), "x", 1, "topup"))
    assert intent.is_test
    request = PayoutRequest(payout_ref="wd1", provider_id=2, amount=Money(900, "CNY"))
    await sandbox.payout(request)
    await sandbox.payout(request)
    assert len(sandbox.payouts) == 1


async def test_a_manual_payout_needs_the_reference_it_was_paid_under() -> None:
    with pytest.raises(DomainError) as refused:
        await ManualPayouts().payout(PayoutRequest(payout_ref="wd1", provider_id=2, amount=Money(1, "CNY")))
    assert refused.value.key == "error.wallet.payout_reference_required"
    result = await ManualPayouts().payout(
        PayoutRequest(payout_ref="wd1", provider_id=2, amount=Money(1, "CNY"), reference="BANK-77"))
    assert result.reference == "BANK-77"


def test_methods_and_currencies_must_fit() -> None:
    check_method("wallet", "USD")
    check_method("telegram_stars", "XTR")
    for method, currency, key in [("telegram_stars", "CNY", "error.wallet.method_currency"),
                                  ("wechat_pay", "USD", "error.wallet.method_currency"),
                                  ("paypal", "USD", "error.wallet.unknown_method")]:
        with pytest.raises(DomainError) as refused:
            check_method(method, currency)
        assert refused.value.key == key


def test_an_unregistered_gateway_is_refused_by_name() -> None:
    with pytest.raises(DomainError) as refused:
        PaymentGateways([SandboxGateway()]).get("wechat_pay")
    assert refused.value.params == {"gateway": "wechat_pay"}


def test_withdrawal_rules_minimum_limit_and_fee() -> None:
    policy = WalletPolicy(withdrawal_fee_bps=100, withdrawal_min={"CNY": 1_000},
                          withdrawal_daily_limit={"CNY": 10_000})
    assert policy.withdrawal_fee(Money(5_000, "CNY")) == Money(50, "CNY")
    policy.check_withdrawal(Money(1_000, "CNY"), already_today=9_000)
    for amount, used, key in [(999, 0, "error.wallet.withdrawal_below_minimum"),
                              (1_001, 9_000, "error.wallet.withdrawal_over_daily_limit")]:
        with pytest.raises(DomainError) as refused:
            policy.check_withdrawal(Money(amount, "CNY"), already_today=used)
        assert refused.value.key == key
    with pytest.raises(DomainError) as refused:
        policy.check_withdrawal(Money(5_000, "USD"), already_today=0)
    assert refused.value.key == "error.wallet.withdrawal_currency_unsupported"


def test_a_withdrawal_is_decided_once() -> None:
    withdrawal = Withdrawal(id=1, provider_id=2, amount=Money(5_000, "CNY"), fee=Money(50, "CNY"),
                            method="sandbox", requested_at=AT)
    withdrawal.approve(None, AT, "wd1")
    assert withdrawal.payout == Money(4_950, "CNY")
    with pytest.raises(DomainError) as refused:
        withdrawal.reject(None, AT, "changed my mind")
    assert refused.value.key == "error.wallet.withdrawal_already_decided"
    assert [e.type_name() for e in withdrawal.events] == ["WithdrawalApproved"]


def test_a_payment_refunds_no_more_than_was_paid() -> None:
    payment = Payment(id=1, gateway="sandbox", payment_ref="p", customer_id=7, purpose="order",
                      order_id=5, amount=Money(1_000, "CNY"), created_at=AT)
    assert payment.refundable == Money(0, "CNY")  # not paid yet
    payment.mark_paid(AT, "charge")
    assert payment.status is PaymentStatus.PAID
    payment.reserve_refund(Money(600, "CNY"))
    with pytest.raises(DomainError) as refused:
        payment.reserve_refund(Money(401, "CNY"))
    assert refused.value.key == "error.wallet.refund_exceeds_paid"
    with pytest.raises(DomainError):
        payment.mark_paid(AT, "charge")
