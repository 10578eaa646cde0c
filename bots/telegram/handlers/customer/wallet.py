"""`/wallet`: balances, the latest movements, and topping up (Stars, a card invoice when
configured, or the sandbox in demo mode, always labelled as a test)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bots.telegram.handlers.customer.callbacks import PayCallback
from bots.telegram.handlers.customer.common import leave, t, when, zone_of
from bots.telegram.middlewares import Actor
from bots.telegram.payments import PaymentOptions
from core.messagebus import MessageBus
from core.shared.money import Money
from core.wallet.commands import GetStatement
from core.wallet.views import Statement

RECENT = 5
TOP_UPS: dict[str, tuple[int, ...]] = {"CNY": (10000, 50000), "XTR": (100, 500)}


def router() -> Router:
    wallet = Router(name="customer.wallet")
    wallet.message.register(on_wallet, Command("wallet"))
    return wallet


async def on_wallet(
    message: Message,
    bus: MessageBus,
    actor: Actor,
    locale: str,
    state: FSMContext,
    payment_options: PaymentOptions | None = None,
) -> None:
    await leave(state)
    options = payment_options or PaymentOptions()
    statement: Statement = await bus.handle(
        GetStatement(user_id=actor.user_id, limit=RECENT, actor_id=actor.user_id)
    )
    zone = await zone_of(bus, actor)
    lines = [t("wallet.title", locale)]
    for balance in statement.balances:
        lines.append(t("wallet.balance", locale, available=balance.wallet_available.format(),
                       held=balance.wallet_held.format()))
    if not statement.balances:
        lines.append(t("wallet.empty", locale))
    if statement.lines:
        lines += ["", t("wallet.recent", locale)]
        for line in statement.lines[:RECENT]:
            sign = "+" if line.amount.amount > 0 else ""
            lines.append(f"{when(line.at, zone, locale)}  {sign}{line.amount.format()}  "
                         f"{t(f'wallet.reason.{line.reason}', locale)}")
    rows = []
    for currency, amounts in TOP_UPS.items():
        for method in options.methods_for(currency):
            if method == "wallet":
                continue
            rows.append([
                InlineKeyboardButton(
                    text=t(f"wallet.top_up.{method}", locale, amount=Money(a, currency).format()),
                    callback_data=PayCallback(purpose="w", ref=0, amount=a, method=method,
                                              currency=currency).pack(),
                )
                for a in amounts
            ])
    markup = InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    await message.answer("\n".join(lines), reply_markup=markup)
