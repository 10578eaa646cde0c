"""The one error boundary of the Telegram adapter.

A `DomainError` raised anywhere under a handler (the core refusing a command) becomes a
message in the person's language: an alert on the button they tapped, or a reply in the
chat. Anything else is a bug: it is logged with the update and the person is told, in
their language, that nothing was changed. No handler catches exceptions itself
(aiogram's examples/error_handling.py shows the pattern).
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, Update

from bots.i18n import DEFAULT_LOCALE, gettext, render_error
from core.shared.errors import DomainError

log = logging.getLogger(__name__)

# answerCallbackQuery shows at most 200 characters.
ALERT_LIMIT = 200


def install(router: Router) -> None:
    """Make `router` (the dispatcher) the boundary. On the dispatcher itself, rather than on
    a router of its own, it is tried first for an error and costs nothing on the way to the
    handlers: a router in the tree is one more level every update walks through."""
    router.errors.register(on_domain_error, ExceptionTypeFilter(DomainError))
    router.errors.register(on_unexpected_error)


async def on_domain_error(event: ErrorEvent, locale: str = DEFAULT_LOCALE) -> bool:
    assert isinstance(event.exception, DomainError)
    log.info("refused update %s: %r", event.update.update_id, event.exception)
    await tell(event.update, render_error(event.exception, locale))
    return True


async def on_unexpected_error(event: ErrorEvent, locale: str = DEFAULT_LOCALE) -> bool:
    log.error(
        "update %s failed", event.update.update_id, exc_info=event.exception
    )
    await tell(event.update, gettext("error.generic", locale))
    return True


async def tell(update: Update, text: str) -> None:
    """Answer the person behind `update` where they are looking."""
    if update.callback_query is not None:
        if len(text) > ALERT_LIMIT:
            text = text[: ALERT_LIMIT - 1] + "…"
        await update.callback_query.answer(text, show_alert=True)
    elif update.pre_checkout_query is not None:
        # Telegram waits for a yes or no (10 s); a refusal shows the person why.
        await update.pre_checkout_query.answer(ok=False, error_message=text)
    elif update.message is not None:
        await update.message.answer(text)
