"""Long polling: for development and small installs without a public HTTPS address.

Telegram refuses getUpdates while a webhook is set, so polling starts by removing it
(keeping pending updates). The dispatcher asks only for the update types its routers
handle. Signals are left to the caller, which stops polling and shuts everything down in
order (updates in flight, the notice relay, the bot session).
"""

from __future__ import annotations

from aiogram import Bot, Dispatcher


async def run_polling(
    dispatcher: Dispatcher,
    bot: Bot,
    *,
    polling_timeout: int = 30,
    max_concurrent_updates: int = 100,
) -> None:
    """Poll until `dispatcher.stop_polling()` is called."""
    await bot.delete_webhook(drop_pending_updates=False)
    await dispatcher.start_polling(
        bot,
        polling_timeout=polling_timeout,
        allowed_updates=dispatcher.resolve_used_update_types(),
        handle_signals=False,
        close_bot_session=False,
        tasks_concurrency_limit=max_concurrent_updates,
    )
