"""The customer-service window rules, in memory and in Redis alike."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from bots.wechat.windows import (
    InMemoryServiceWindows,
    Interaction,
    RedisServiceWindows,
    ServiceWindows,
    WindowStatus,
    interaction_of,
)

HOUR = 3600.0


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_windows(
    backend: Redis | None, key_prefix: str
) -> Callable[[FakeTime], ServiceWindows]:
    def make(clock: FakeTime) -> ServiceWindows:
        if backend is None:
            return InMemoryServiceWindows(clock=clock)
        return RedisServiceWindows(backend, "wxapp", clock=clock, prefix=key_prefix)
    return make


async def test_a_user_message_allows_five_sends_for_48_hours(
    make_windows: Callable[[FakeTime], ServiceWindows]
) -> None:
    clock = FakeTime()
    windows = make_windows(clock)
    assert await windows.status("oA") is WindowStatus.CLOSED

    await windows.record("oA", Interaction.MESSAGE, clock.now)
    results = [await windows.reserve("oA") for _ in range(6)]

    assert results == [WindowStatus.OPEN] * 5 + [WindowStatus.EXHAUSTED]
    clock.now += 48 * HOUR
    assert await windows.status("oA") is WindowStatus.CLOSED
    assert await windows.last_interaction("oA") == clock.now - 48 * HOUR


async def test_a_menu_click_allows_three_sends_for_a_minute(
    make_windows: Callable[[FakeTime], ServiceWindows]
) -> None:
    clock = FakeTime()
    windows = make_windows(clock)

    await windows.record("oA", Interaction.MENU_CLICK, clock.now)
    assert [await windows.reserve("oA") for _ in range(4)] == [WindowStatus.OPEN] * 3 + [
        WindowStatus.EXHAUSTED]
    await windows.record("oA", Interaction.MENU_CLICK, clock.now + 10)
    clock.now += 71
    assert await windows.status("oA") is WindowStatus.CLOSED


async def test_a_later_click_never_shortens_what_a_message_allowed(
    make_windows: Callable[[FakeTime], ServiceWindows]
) -> None:
    clock = FakeTime()
    windows = make_windows(clock)
    await windows.record("oA", Interaction.MESSAGE, clock.now)

    await windows.record("oA", Interaction.MENU_CLICK, clock.now + 5)
    clock.now += 2 * HOUR

    assert [await windows.reserve("oA") for _ in range(6)] == [WindowStatus.OPEN] * 5 + [
        WindowStatus.EXHAUSTED]


async def test_a_released_send_can_be_used_again_and_wechat_is_believed(
    make_windows: Callable[[FakeTime], ServiceWindows]
) -> None:
    clock = FakeTime()
    windows = make_windows(clock)
    await windows.record("oA", Interaction.SUBSCRIBE, clock.now)
    for _ in range(3):
        await windows.reserve("oA")
    await windows.release("oA")
    assert await windows.reserve("oA") is WindowStatus.OPEN

    await windows.record("oB", Interaction.MESSAGE, clock.now)
    await windows.mark("oB", WindowStatus.CLOSED)
    assert await windows.status("oB") is WindowStatus.CLOSED
    await windows.record("oB", Interaction.MESSAGE, clock.now + 1)
    assert await windows.status("oB") is WindowStatus.OPEN


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"MsgType": "text"}, Interaction.MESSAGE),
        ({"MsgType": "location"}, Interaction.MESSAGE),
        ({"MsgType": "event", "Event": "subscribe"}, Interaction.SUBSCRIBE),
        ({"MsgType": "event", "Event": "SCAN"}, Interaction.SCAN),
        ({"MsgType": "event", "Event": "CLICK"}, Interaction.MENU_CLICK),
        ({"MsgType": "event", "Event": "scancode_waitmsg"}, Interaction.MENU_CLICK),
        ({"MsgType": "event", "Event": "VIEW"}, None),  # a link button opens nothing
        ({"MsgType": "event", "Event": "unsubscribe"}, None),
        ({"MsgType": "event", "Event": "TEMPLATESENDJOBFINISH"}, None),
    ],
)
def test_which_pushes_open_the_window(fields: dict[str, str], expected: Interaction | None) -> None:
    assert interaction_of(fields) is expected
