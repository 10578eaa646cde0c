"""The Telegram adapter: aiogram routers, keyboards, middlewares and the TelegramMessenger."""
