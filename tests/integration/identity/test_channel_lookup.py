"""A chat account already known is found by a read (`GetUserByChannel`); whenever registering
would write something (a stranger, a chat that changed) the read answers None and the edge
registers."""

from __future__ import annotations

import asyncio

from app.bootstrap import Runtime
from core.identity.commands import GetUserByChannel, RegisterFromChannel
from tests.integration.identity.helpers import register


def lookup(external_id: str, chat_id: str | None = None,
           platform: str = "telegram") -> GetUserByChannel:
    return GetUserByChannel(platform=platform, external_id=external_id,
                            chat_id=chat_id or external_id)


async def test_a_known_account_is_found_as_registered(runtime: Runtime) -> None:
    ann = await register(runtime, "1001", name="Ann", language_code="zh-hans")
    found = await runtime.bus.handle(lookup("1001"))
    assert (found.id, found.display_name, found.locale) == (ann.id, "Ann", "zh")


async def test_a_stranger_is_nobody_until_they_register(runtime: Runtime) -> None:
    await register(runtime, "1001")
    assert await runtime.bus.handle(lookup("1002")) is None
    assert await runtime.bus.handle(lookup("1001", platform="wechat")) is None
    bo = await register(runtime, "1002")
    assert (await runtime.bus.handle(lookup("1002"))).id == bo.id


async def test_an_account_talking_from_another_chat_is_left_to_registration(
    runtime: Runtime,
) -> None:
    first = await register(runtime, "oWX1", platform="wechat")
    assert await runtime.bus.handle(lookup("oWX1", chat_id="session-2", platform="wechat")) is None

    moved = await runtime.bus.handle(RegisterFromChannel(
        platform="wechat", external_id="oWX1", chat_id="session-2"))

    assert moved.id == first.id
    found = await runtime.bus.handle(lookup("oWX1", chat_id="session-2", platform="wechat"))
    assert found.id == first.id
    assert [a.chat_id for a in found.accounts] == ["session-2"]


async def test_strangers_arriving_together_after_the_lookup_become_one_user(
    runtime: Runtime,
) -> None:
    assert await runtime.bus.handle(lookup("1003")) is None
    made = await asyncio.gather(*(
        runtime.bus.handle(RegisterFromChannel(platform="telegram", external_id="1003",
                                               chat_id="1003", language_code="en"))
        for _ in range(4)
    ))
    assert len({u.id for u in made}) == 1
    assert (await runtime.bus.handle(lookup("1003"))).id == made[0].id
