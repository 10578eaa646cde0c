"""The customer's product in Telegram: links, browsing and search, favourites, booking with a
slot calendar, paying (Stars, card invoices, wallet, sandbox), my orders, open requests and
the wallet. One router per flow, combined into `router()` for the bot's router tree.

Everything here is private-chat only: customers book and pay in their own chat with the bot.
"""

from __future__ import annotations

from aiogram import F, Router

from bots.telegram.handlers.customer import (
    book,
    browse,
    details,
    links,
    open_request,
    orders,
    pay,
    wallet,
)

# The commands customers see in Telegram's menu (texts: tgc.command.<name>).
COMMANDS = ("browse", "search", "orders", "request", "favourites", "wallet")


def router() -> Router:
    customer = Router(name="customer")
    customer.message.filter(F.chat.type == "private")
    customer.callback_query.filter(F.message.chat.type == "private")
    for make in (links.router, pay.router, details.router, browse.router, book.router,
                 orders.router, open_request.router, wallet.router):
        customer.include_router(make())
    return customer
