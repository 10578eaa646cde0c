"""Synchronous filters (every `F.…` check) run on the event loop, not in a worker thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.types import Chat, Message, Update, User

from bots.telegram.factory import build_router_tree
from bots.telegram.filters import inline_sync_filters


def _filters(dispatcher: Dispatcher) -> list[FilterObject]:
    return [
        f
        for router in dispatcher.chain_tail
        for observer in router.observers.values()
        for handler in (observer._handler, *observer.handlers)
        for f in handler.filters or ()
    ]


def test_every_filter_in_the_bot_runs_inline() -> None:
    dispatcher = Dispatcher()
    dispatcher.include_router(build_router_tree())
    assert any(not f.awaitable for f in _filters(dispatcher)), "the tree has F filters"
    assert inline_sync_filters(dispatcher) > 0
    assert all(f.awaitable for f in _filters(dispatcher))
    assert inline_sync_filters(dispatcher) == 0


async def test_an_inlined_filter_sees_the_update_on_the_loop_thread() -> None:
    threads: list[str] = []
    answered: list[str] = []
    router = Router()

    def on_loop(message: Message) -> bool:
        threads.append(threading.current_thread().name)
        return message.text == "hi"

    @router.message(F.func(on_loop), F.chat.type == "private")
    async def hello(message: Message) -> None:
        answered.append(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    inline_sync_filters(dispatcher)
    bot = Bot("42:TEST")
    for text in ("hi", "bye"):
        message = Message(message_id=1, date=datetime.now(UTC), text=text,
                          chat=Chat(id=7, type="private"),
                          from_user=User(id=7, is_bot=False, first_name="A"))
        await dispatcher.feed_update(bot, Update(update_id=len(threads), message=message))
    await bot.session.close()
    assert answered == ["hi"]
    assert threads == [threading.main_thread().name] * 2
