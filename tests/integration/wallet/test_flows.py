"""Paying for orders, completing and cancelling them, tips, coupons and refunds, on both databases."""

from __future__ import annotations

import pytest

from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet import api
from tests.integration.wallet.conftest import WalletDriver

CUSTOMER, PROVIDER, OTHER = 100, 500, 101


def cny(amount: int) -> Money:
    return Money(amount, "CNY")


async def test_paying_from_the_wallet_holds_the_money_until_completion(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(42, CUSTOMER, 6_000)
    balance = await wallet.balance(CUSTOMER)
    assert (balance.wallet, balance.wallet_held, balance.wallet_available) == (cny(10_000), cny(6_000), cny(4_000))
    assert await wallet.held(42) == cny(6_000)
    split = await wallet.capture(42, PROVIDER, commission_bps=2_000)
    assert split == api.Split(provider=cny(4_800), platform=cny(1_200), venue=cny(0))
    assert (await wallet.balance(CUSTOMER)).wallet == cny(4_000)
    assert (await wallet.balance(PROVIDER)).earnings_pending == cny(4_800)
    assert await wallet.held(42) is None
    await wallet.assert_balanced()


async def test_an_overdraft_is_refused_and_moves_nothing(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 5_000)
    await wallet.pay(1, CUSTOMER, 3_000)
    with pytest.raises(DomainError) as refused:
        await wallet.pay(2, CUSTOMER, 2_001)
    assert refused.value.key == "error.wallet.insufficient_balance"
    assert refused.value.params["available"] == cny(2_000)
    assert await wallet.held(2) is None
    assert (await wallet.balance(CUSTOMER)).wallet_available == cny(2_000)
    await wallet.assert_balanced()


async def test_paying_through_a_gateway_tops_up_then_holds(wallet: WalletDriver) -> None:
    await wallet.pay(7, CUSTOMER, 8_800, method="sandbox", payment_ref="tx-1")
    balance = await wallet.balance(CUSTOMER)
    assert (balance.wallet, balance.wallet_held) == (cny(8_800), cny(8_800))
    assert await wallet.held(7) == cny(8_800)
    await wallet.assert_balanced()


async def test_the_same_payment_twice_holds_once_and_a_new_reference_holds_again(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(5, CUSTOMER, 3_000)
    await wallet.pay(5, CUSTOMER, 3_000)
    assert await wallet.held(5) == cny(3_000)
    await wallet.pay(5, CUSTOMER, 1_000, payment_ref="extension-1")
    await wallet.pay(5, CUSTOMER, 1_000, method="sandbox", payment_ref="gw-2")
    await wallet.pay(5, CUSTOMER, 1_000, method="sandbox", payment_ref="gw-2")
    assert await wallet.held(5) == cny(5_000)
    assert (await wallet.balance(CUSTOMER)).wallet == cny(11_000)
    await wallet.assert_balanced()


async def test_a_reused_key_with_a_different_body_is_refused(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(5, CUSTOMER, 3_000, payment_ref="deposit")
    with pytest.raises(DomainError) as refused:
        await wallet.pay(5, CUSTOMER, 3_500, payment_ref="deposit")
    assert refused.value.key == "error.wallet.idempotency_conflict"
    await wallet.capture(5, PROVIDER, commission_bps=1_000)
    with pytest.raises(DomainError) as refused:
        await wallet.capture(5, PROVIDER, commission_bps=1_500)
    assert refused.value.key == "error.wallet.idempotency_conflict"
    assert await wallet.held(5) is None
    await wallet.assert_balanced()


async def test_capturing_again_returns_the_first_split_and_moves_nothing(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(9, CUSTOMER, 10_000)
    first = await wallet.capture(9, PROVIDER, commission_bps=2_000, venue_id=3, venue_share_bps=3_000)
    again = await wallet.capture(9, PROVIDER, commission_bps=2_000, venue_id=3, venue_share_bps=3_000)
    assert first == again == api.Split(cny(5_600), cny(2_000), cny(2_400))
    assert (await wallet.balance(PROVIDER)).earnings_pending == cny(5_600)
    await wallet.assert_balanced()


async def test_a_cancellation_fee_is_a_partial_post_and_the_rest_returns(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(11, CUSTOMER, 6_000)
    split = await wallet.release(11, refund=4_500, commission_bps=2_000)
    assert split == api.Split(provider=cny(1_200), platform=cny(300), venue=cny(0))
    balance = await wallet.balance(CUSTOMER)
    assert (balance.wallet, balance.wallet_held) == (cny(8_500), cny(0))
    assert await wallet.held(11) is None
    await wallet.assert_balanced()


async def test_a_whole_refund_voids_the_hold(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(12, CUSTOMER, 6_000)
    split = await wallet.release(12, refund=6_000)
    assert split == api.Split.zero("CNY")
    assert (await wallet.balance(CUSTOMER)).wallet == cny(10_000)
    with pytest.raises(DomainError) as refused:
        await wallet.capture(12)
    assert refused.value.key == "error.wallet.nothing_held"
    await wallet.assert_balanced()


async def test_a_refund_above_what_was_paid_is_refused_and_moves_nothing(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(13, CUSTOMER, 6_000)
    with pytest.raises(DomainError) as refused:
        await wallet.release(13, refund=6_001)
    assert refused.value.key == "error.wallet.refund_exceeds_paid"
    assert await wallet.held(13) == cny(6_000)
    await wallet.assert_balanced()


async def test_without_a_provider_the_kept_part_is_the_platforms(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 1_000)
    await wallet.pay(14, CUSTOMER, 1_000)
    split = await wallet.release(14, refund=800, provider_id=None)
    assert split == api.Split(cny(0), cny(200), cny(0))
    await wallet.assert_balanced()


async def test_a_coupon_is_paid_by_marketing_and_goes_back_there_first(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 8_000)
    await wallet.pay(15, CUSTOMER, 8_000, coupon=2_000)
    assert await wallet.held(15) == cny(10_000)
    # Cancelled with a 1,000 fee: marketing gets its 2,000 back, the customer 7,000.
    await wallet.release(15, refund=9_000)
    assert (await wallet.balance(CUSTOMER)).wallet == cny(7_000)
    async with wallet.runtime.uow_factory() as uow:
        marketing = [a for a in await uow.ledger.list_accounts() if a.ref.kind.value == "marketing"]
    assert marketing[0].balance == cny(0)
    await wallet.assert_balanced()


async def test_a_completed_coupon_order_pays_the_provider_the_full_price(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 8_000)
    await wallet.pay(16, CUSTOMER, 8_000, coupon=2_000)
    split = await wallet.capture(16, PROVIDER, commission_bps=0)
    assert split.provider == cny(10_000)
    await wallet.assert_balanced()


async def test_tips_go_to_the_provider_less_the_configured_commission(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 5_000)
    await wallet.call(api.tip_order, order_id=20, customer_id=CUSTOMER, provider_id=PROVIDER,
                      amount=cny(1_000), method="wallet", payment_ref=None, commission_bps=1_000)
    await wallet.call(api.tip_order, order_id=20, customer_id=CUSTOMER, provider_id=PROVIDER,
                      amount=cny(500), method="sandbox", payment_ref="tip-gw")
    assert (await wallet.balance(PROVIDER)).earnings_pending == cny(1_400)
    assert (await wallet.balance(CUSTOMER)).wallet == cny(4_000)
    with pytest.raises(DomainError) as refused:
        await wallet.call(api.tip_order, order_id=21, customer_id=CUSTOMER, provider_id=PROVIDER,
                          amount=cny(4_001), method="wallet", payment_ref="too-much")
    assert refused.value.key == "error.wallet.insufficient_balance"
    await wallet.assert_balanced()


async def test_refunds_to_the_original_gateway_leave_the_wallet(wallet: WalletDriver) -> None:
    await wallet.pay(30, CUSTOMER, 3_000, method="sandbox", payment_ref="dep")
    await wallet.pay(30, CUSTOMER, 7_000, method="sandbox", payment_ref="rest")
    await wallet.release(30, refund=9_000, refund_to="original")
    # Newest payment first: all of "rest" (7,000) and 2,000 of "dep".
    assert sorted((r.payment_ref, r.amount.amount) for r in wallet.sandbox.refunds) == [
        ("dep", 2_000), ("rest", 7_000)
    ]
    balance = await wallet.balance(CUSTOMER)
    assert (balance.wallet, balance.wallet_held) == (cny(0), cny(0))
    assert "RefundCompleted" in await wallet.outbox_names()
    with pytest.raises(DomainError):
        await wallet.release(30, refund=1)
    await wallet.assert_balanced()


async def test_a_refund_the_gateway_refuses_stays_in_the_wallet(wallet: WalletDriver) -> None:
    wallet.sandbox.refuse_refunds = "card closed"
    await wallet.pay(31, CUSTOMER, 3_000, method="sandbox", payment_ref="card")
    await wallet.release(31, refund=3_000, refund_to="original")
    balance = await wallet.balance(CUSTOMER)
    assert (balance.wallet, balance.wallet_held, balance.wallet_available) == (cny(3_000), cny(0), cny(3_000))
    assert "RefundFailed" in await wallet.outbox_names()
    await wallet.assert_balanced()


async def test_what_was_paid_from_the_wallet_is_refunded_to_the_wallet(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 5_000)
    await wallet.pay(32, CUSTOMER, 5_000)
    await wallet.release(32, refund=5_000, refund_to="original")
    assert wallet.sandbox.refunds == []
    assert (await wallet.balance(CUSTOMER)).wallet == cny(5_000)


async def test_an_order_is_paid_in_one_currency(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 5_000)
    await wallet.top_up(CUSTOMER, 5_000, "USD")
    await wallet.pay(40, CUSTOMER, 1_000)
    with pytest.raises(DomainError) as refused:
        await wallet.pay(40, CUSTOMER, 1_000, currency="USD", payment_ref="usd")
    assert refused.value.key == "error.wallet.currency_mismatch"
    with pytest.raises(DomainError) as refused:
        await wallet.pay(41, CUSTOMER, 1_000, method="telegram_stars", payment_ref="x")
    assert refused.value.key == "error.wallet.method_currency"
    await wallet.assert_balanced()


async def test_bad_amounts_and_targets_are_refused(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 5_000)
    with pytest.raises(DomainError) as refused:
        await wallet.pay(50, CUSTOMER, 0)
    assert refused.value.key == "error.wallet.invalid_amount"
    await wallet.pay(50, CUSTOMER, 1_000)
    with pytest.raises(DomainError) as refused:
        await wallet.release(50, refund=10, refund_to="bank")
    assert refused.value.key == "error.wallet.invalid_refund_target"
    with pytest.raises(DomainError) as refused:
        await wallet.pay(51, CUSTOMER, 100, method="sandbox")
    assert refused.value.key == "error.wallet.payment_ref_required"
