"""Answering a button tap in the webhook's HTTP response instead of with a call of its own.

Telegram lets a webhook answer its request with one Bot API method as JSON and executes
it as if the bot had called it, without telling the bot how it went
(https://core.telegram.org/bots/api#making-requests-when-getting-updates). Almost every
tap is answered with `answerCallbackQuery` (a toast, an alert or just stopping the
spinner), and `True` is all the bot ever learns from it; so while the tap's request is
still open, its answer rides in the response and costs no HTTP call.

The webhook opens a `WebhookReply` for a `callback_query` update and hands the update on
inside `WebhookReply.scope()`, so the update's task (which copies the context when it is
created) finds it. `WebhookReplyMiddleware`, a session middleware, takes the bot's call
answering exactly that query into the reply and returns `True` at once; every other call,
and that one once the reply is closed, goes over HTTP as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import TelegramType

from bots.telegram.session import BotApiSession

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import Response


class WebhookReply:
    """The open HTTP response to one callback update, which may carry that query's answer.

    `offer` and `close` never await, so on the event loop each runs whole: an answer is
    either taken before the response closes (and sent in it) or refused after (and sent
    over HTTP by the caller), never both and never neither.
    """

    __slots__ = ("_open", "bot", "callback_query_id", "method", "payload", "taken")

    def __init__(self, bot: Bot, callback_query_id: str) -> None:
        self.bot = bot
        self.callback_query_id = callback_query_id
        self.method: AnswerCallbackQuery | None = None
        self.payload: dict[str, Any] | None = None
        # Resolved when an answer is taken: the response need not wait for the rest.
        self.taken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._open = True

    def wants(self, bot: Bot, method: TelegramMethod[Any]) -> bool:
        return (
            self._open
            and bot is self.bot
            and isinstance(method, AnswerCallbackQuery)
            and method.callback_query_id == self.callback_query_id
        )

    def offer(self, method: AnswerCallbackQuery, payload: dict[str, Any]) -> bool:
        """Put the answer into the response; False when the response is already closed."""
        if not self._open:
            return False
        self._open = False
        self.method, self.payload = method, payload
        self.taken.set_result(None)
        return True

    def close(self) -> dict[str, Any] | None:
        """Close the reply to further answers; the body to send, if an answer was taken."""
        self._open = False
        return self.payload

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """A task created inside this block (the update's) may answer into this reply."""
        token = _open_reply.set(self)
        try:
            yield
        finally:
            _open_reply.reset(token)


_open_reply: ContextVar[WebhookReply | None] = ContextVar("yueban_webhook_reply", default=None)


def reply_payload(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
    """`method` as a webhook response body: its name and the JSON fields the session sends
    for it, or None when it carries a file (a multipart body) or the session is not ours."""
    if not isinstance(bot.session, BotApiSession):
        return None
    fields = bot.session.json_fields(bot, method)
    return None if fields is None else {"method": method.__api_method__, **fields}


class WebhookReplyMiddleware(BaseRequestMiddleware):
    """Takes the answer to the tap being handled into its open webhook reply."""

    def __init__(self) -> None:
        self.replied = 0  # answers that went in a webhook response, for monitoring and tests

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        reply = _open_reply.get()
        if reply is not None and reply.wants(bot, method):
            payload = reply_payload(bot, method)
            if payload is not None and reply.offer(cast(AnswerCallbackQuery, method), payload):
                self.replied += 1
                # What answerCallbackQuery returns; aiogram's session hands middlewares'
                # results to the caller as they are.
                return cast("Response[TelegramType]", True)
        return await make_request(bot, method)


def enable_webhook_replies(bot: Bot) -> WebhookReplyMiddleware:
    """Register the middleware on the bot's session once; returns the registered one."""
    for registered in bot.session.middleware:
        if isinstance(registered, WebhookReplyMiddleware):
            return registered
    middleware = WebhookReplyMiddleware()
    bot.session.middleware(middleware)
    return middleware
