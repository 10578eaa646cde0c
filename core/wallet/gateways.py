"""The gateways that need no network of their own, and the registry every flow looks them up in.

- `SandboxGateway`: for the demo and tests. Every payment it makes is marked `is_test`, so
  every screen shows it as a test payment; it refunds and pays out instantly.
- `ManualPayouts`: withdrawals an operator pays by hand (bank transfer) and records with the
  reference they paid under.
- `TelegramStarsGateway` / `TelegramInvoiceGateway`: the core side of Telegram payments. The
  bot sends the invoice (payload = our `payment_ref`), answers `pre_checkout_query` with
  `CheckPayment` and reports `successful_payment` with `ConfirmPayment`; Stars refunds go
  through the `TelegramRefunds` port (`refundStarPayment`). Provider-token (fiat) payments
  cannot be refunded through the Bot API, so such refunds are refused and the money stays
  in the customer's wallet.

WeChat Pay lives with the WeChat adapter (`bots/wechat/pay.py`); it talks HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.shared.errors import DomainError
from core.wallet.ports import (
    GatewayRefused,
    GatewayResult,
    GatewayUnavailable,
    PaymentGateway,
    PaymentInstructions,
    PaymentRequest,
    PayoutRequest,
    RefundRequest,
    TelegramRefunds,
)

WALLET = "wallet"  # pay from the customer's balance: not a gateway

# Gateway -> currencies it can charge. An order is paid in its own currency; no exchange.
GATEWAY_CURRENCIES: dict[str, frozenset[str]] = {
    "sandbox": frozenset({"CNY", "USD", "XTR"}),
    "telegram_stars": frozenset({"XTR"}),
    "telegram_invoice": frozenset({"CNY", "USD"}),
    "wechat_pay": frozenset({"CNY"}),
}


def check_method(method: str, currency: str) -> None:
    """Refuse a payment method that does not exist or cannot charge `currency`."""
    if method == WALLET:
        return
    currencies = GATEWAY_CURRENCIES.get(method)
    if currencies is None:
        raise DomainError("error.wallet.unknown_method", method=method)
    if currency not in currencies:
        raise DomainError("error.wallet.method_currency", method=method, currency=currency)


class PaymentGateways:
    """The gateways this deployment has, by name. Adapters register theirs at start."""

    def __init__(self, gateways: Iterable[PaymentGateway] = ()) -> None:
        self._gateways: dict[str, PaymentGateway] = {}
        for gateway in gateways:
            self.register(gateway)

    def register(self, gateway: PaymentGateway) -> None:
        self._gateways[gateway.name] = gateway

    def get(self, name: str) -> PaymentGateway:
        gateway = self._gateways.get(name)
        if gateway is None:
            raise DomainError("error.wallet.gateway_not_enabled", gateway=name)
        return gateway

    def names(self) -> list[str]:
        return sorted(self._gateways)

    def __contains__(self, name: object) -> bool:
        return name in self._gateways


class SandboxGateway:
    name = "sandbox"
    is_test = True
    currencies = GATEWAY_CURRENCIES["sandbox"]
    supports_payout = True

    def __init__(self) -> None:
        self.refunds: list[RefundRequest] = []
        self.payouts: list[PayoutRequest] = []
        # Tests can make the next refunds or payouts fail, as a real gateway sometimes does.
        self.refuse_refunds: str | None = None
        self.refuse_payouts: str | None = None

    async def create_payment(self, request: PaymentRequest) -> PaymentInstructions:
        return PaymentInstructions(
            gateway=self.name, payment_ref=request.payment_ref, amount=request.amount,
            is_test=True, data={"test": True},
        )

    async def refund(self, request: RefundRequest) -> GatewayResult:
        if self.refuse_refunds:
            return GatewayResult(ok=False, failure=self.refuse_refunds)
        if request.refund_ref not in {r.refund_ref for r in self.refunds}:
            self.refunds.append(request)
        return GatewayResult(ok=True, reference=f"sandbox-{request.refund_ref}")

    async def payout(self, request: PayoutRequest) -> GatewayResult:
        if self.refuse_payouts:
            return GatewayResult(ok=False, failure=self.refuse_payouts)
        if request.payout_ref not in {p.payout_ref for p in self.payouts}:
            self.payouts.append(request)
        return GatewayResult(ok=True, reference=f"sandbox-{request.payout_ref}")


class ManualPayouts:
    """Payouts made by an operator outside the platform; the reference they give is kept."""

    name = "manual"
    is_test = False
    currencies = frozenset({"CNY", "USD"})
    supports_payout = True

    async def create_payment(self, request: PaymentRequest) -> PaymentInstructions:
        raise DomainError("error.wallet.gateway_cannot_charge", gateway=self.name)

    async def refund(self, request: RefundRequest) -> GatewayResult:
        return GatewayResult(ok=False, failure="manual payouts take no payments")

    async def payout(self, request: PayoutRequest) -> GatewayResult:
        if not (request.reference or "").strip():
            raise DomainError("error.wallet.payout_reference_required")
        return GatewayResult(ok=True, reference=request.reference)


class TelegramStarsGateway:
    name = "telegram_stars"
    is_test = False
    currencies = GATEWAY_CURRENCIES["telegram_stars"]
    supports_payout = False

    def __init__(self, refunds: TelegramRefunds) -> None:
        self._refunds = refunds

    async def create_payment(self, request: PaymentRequest) -> PaymentInstructions:
        # Stars invoices carry no provider token; the bot sends them with currency XTR.
        return PaymentInstructions(
            gateway=self.name, payment_ref=request.payment_ref, amount=request.amount,
            is_test=False,
            data={"invoice_payload": request.payment_ref, "currency": "XTR",
                  "amount": request.amount.amount, "title": request.description},
        )

    async def refund(self, request: RefundRequest) -> GatewayResult:
        if not request.gateway_charge_id:
            return GatewayResult(ok=False, failure="no telegram_payment_charge_id recorded")
        if request.amount != request.payment_amount:
            # refundStarPayment refunds a whole charge; a part cannot go back to Telegram.
            return GatewayResult(ok=False, failure="Telegram Stars refunds are whole charges only")
        try:
            await self._refunds.refund_star_payment(request.customer_id, request.gateway_charge_id)
        except GatewayRefused as refused:
            return GatewayResult(ok=False, failure=str(refused) or "refused")
        except Exception as exc:  # the adapter could not reach Telegram: try again later
            raise GatewayUnavailable(self.name, str(exc)) from exc
        return GatewayResult(ok=True, reference=request.gateway_charge_id)

    async def payout(self, request: PayoutRequest) -> GatewayResult:
        raise DomainError("error.wallet.payout_unsupported", method=self.name)


class TelegramInvoiceGateway:
    """Fiat invoices through a Telegram payment provider token."""

    name = "telegram_invoice"
    is_test = False
    currencies = GATEWAY_CURRENCIES["telegram_invoice"]
    supports_payout = False

    async def create_payment(self, request: PaymentRequest) -> PaymentInstructions:
        return PaymentInstructions(
            gateway=self.name, payment_ref=request.payment_ref, amount=request.amount,
            is_test=False,
            data={"invoice_payload": request.payment_ref, "currency": request.amount.currency,
                  "amount": request.amount.amount, "title": request.description},
        )

    async def refund(self, request: RefundRequest) -> GatewayResult:
        return GatewayResult(
            ok=False, failure="provider-token payments are refunded by the payment provider"
        )

    async def payout(self, request: PayoutRequest) -> GatewayResult:
        raise DomainError("error.wallet.payout_unsupported", method=self.name)
