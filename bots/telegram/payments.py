"""Telegram's side of payments: which methods the bot offers, invoice payloads, and the Stars
refund port (`core.wallet.ports.TelegramRefunds`) implemented with `refundStarPayment`.

- `PaymentOptions`: what this deployment can charge through Telegram (Stars always; card
  invoices when a payment provider token is configured; the sandbox in demo mode).
- Invoice payloads are `<purpose><target id>:<payment_ref>`; the wallet knows the payment by
  its `payment_ref`, the bot learns from the rest what to do once it is paid.
- `refundStarPayment` needs the payer's Telegram user id, but the wallet knows its customer
  by Yueban user id and asks for the refund inside its own transaction, where looking the
  account up in the database could wait on that very transaction (SQLite has one writer).
  `TelegramAccounts` therefore remembers the Telegram id of everyone who pays or cancels in
  this process; for anyone else the refund is reported as unreachable (the wallet keeps it
  requested, nothing is lost), the account is looked up once that transaction has ended, and
  the waiting refunds are processed again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from core.identity.commands import GetUser
from core.messagebus import MessageBus
from core.wallet.commands import ProcessRefunds
from core.wallet.gateways import PaymentGateways, TelegramInvoiceGateway, TelegramStarsGateway
from core.wallet.ports import GatewayRefused

log = logging.getLogger(__name__)

STARS = "telegram_stars"
CARD = "telegram_invoice"
# Bot method names (short, for buttons) -> wallet gateway names.
GATEWAYS = {"wallet": "wallet", "sandbox": "sandbox", "stars": STARS, "card": CARD}
# Invoice purpose letter -> the wallet's payment purpose.
PURPOSES = {"o": "order", "x": "order", "r": "order", "t": "tip", "w": "topup"}
_PAYLOAD = re.compile(r"^([oxrtw])(\d{1,19}):([A-Za-z0-9_-]{1,100})$")


@dataclass(frozen=True)
class PaymentOptions:
    stars: bool = True
    card_token: str | None = None
    sandbox: bool = False

    def methods_for(self, currency: str) -> list[str]:
        """The ways to pay `currency` here, in the order offered (wallet always last)."""
        methods = []
        if self.stars and currency == "XTR":
            methods.append("stars")
        if self.card_token and currency in TelegramInvoiceGateway.currencies:
            methods.append("card")
        if self.sandbox:
            methods.append("sandbox")
        methods.append("wallet")
        return methods


@dataclass(frozen=True)
class InvoicePayload:
    purpose: str  # o, x, r, t, w (see PURPOSES)
    target_id: int  # the order (0 for a top-up)
    payment_ref: str

    def pack(self) -> str:
        return f"{self.purpose}{self.target_id}:{self.payment_ref}"

    @classmethod
    def parse(cls, payload: str) -> InvoicePayload | None:
        match = _PAYLOAD.match(payload)
        if match is None:
            return None
        return cls(match.group(1), int(match.group(2)), match.group(3))


def gateway_for_currency(currency: str) -> str:
    """Stars invoices are in XTR; every other currency is a provider-token invoice."""
    return STARS if currency == "XTR" else CARD


class TelegramAccounts:
    """Yueban user id -> Telegram user id, learned in this process (bounded)."""

    def __init__(self, bus: MessageBus | None = None, *, max_entries: int = 100_000) -> None:
        self.bus = bus
        self._max = max_entries
        self._known: OrderedDict[int, int] = OrderedDict()
        self._lookups: dict[int, asyncio.Task[None]] = {}

    def remember(self, user_id: int, telegram_id: int) -> None:
        self._known.pop(user_id, None)
        self._known[user_id] = telegram_id
        while len(self._known) > self._max:
            self._known.popitem(last=False)

    def get(self, user_id: int) -> int | None:
        return self._known.get(user_id)

    def forget(self, user_id: int) -> None:
        """Drop what this process knows (accounts were linked or changed elsewhere)."""
        self._known.pop(user_id, None)

    def look_up_later(self, user_id: int) -> None:
        """Find the account once the caller's transaction is over, then retry refunds."""
        if self.bus is None or user_id in self._lookups:
            return
        task = asyncio.get_running_loop().create_task(self._look_up(user_id))
        self._lookups[user_id] = task
        task.add_done_callback(lambda _: self._lookups.pop(user_id, None))

    async def _look_up(self, user_id: int) -> None:
        assert self.bus is not None
        try:
            user = await self.bus.handle(GetUser(user_id=user_id))
            for account in user.accounts:
                if account.platform == "telegram" and account.external_id.isdigit():
                    self.remember(user_id, int(account.external_id))
                    await self.bus.handle(ProcessRefunds())
                    return
            log.warning("user %s has no Telegram account for a Stars refund", user_id)
        except Exception:
            log.exception("could not look up the Telegram account of user %s", user_id)

    async def settle(self) -> None:
        """Wait for lookups in flight (tests, shutdown)."""
        while self._lookups:
            await asyncio.gather(*list(self._lookups.values()), return_exceptions=True)


class AccountNotKnownYet(Exception):
    """The payer's Telegram id is being looked up; the refund is retried afterwards."""


class StarRefunds:
    """`TelegramRefunds` for the wallet's Stars gateway."""

    def __init__(self, bot: Bot, accounts: TelegramAccounts) -> None:
        self.bot = bot
        self.accounts = accounts

    async def refund_star_payment(self, customer_id: int, telegram_payment_charge_id: str) -> None:
        telegram_id = self.accounts.get(customer_id)
        if telegram_id is None:
            self.accounts.look_up_later(customer_id)
            raise AccountNotKnownYet(f"Telegram account of user {customer_id}")
        try:
            await self.bot.refund_star_payment(
                user_id=telegram_id, telegram_payment_charge_id=telegram_payment_charge_id
            )
        except TelegramBadRequest as error:
            # Asking twice is harmless: the first refund happened, which is what was asked.
            if "CHARGE_ALREADY_REFUNDED" in error.message:
                return
            raise GatewayRefused(error.message) from error


def enable_telegram_payments(
    gateways: PaymentGateways,
    bot: Bot,
    bus: MessageBus,
    *,
    card_token: str | None,
) -> tuple[PaymentOptions, TelegramAccounts]:
    """Register the Telegram gateways with the wallet; say what the bot may offer."""
    accounts = TelegramAccounts(bus)
    gateways.register(TelegramStarsGateway(StarRefunds(bot, accounts)))
    if card_token:
        gateways.register(TelegramInvoiceGateway())
    options = PaymentOptions(stars=True, card_token=card_token, sandbox="sandbox" in gateways)
    return options, accounts
