"""What the bot learns from `my_chat_member`: a provider who blocks the bot goes offline, so
customers stop seeing them as available; the bot removed from the operators' group is logged
as an error, since operators' cards cannot reach them there."""

from __future__ import annotations

import logging

import pytest

from core.catalog.commands import GetProvider, SetPresence
from tests.adapters.telegram.conftest import RunningBot
from tests.adapters.telegram_provider.conftest import Cast, approved_provider


async def presence(tg: RunningBot, provider_id: int) -> str:
    details = await tg.runtime.bus.handle(GetProvider(provider_id=provider_id))
    return str(details.profile.presence.value)


async def test_a_provider_who_blocks_the_bot_goes_offline(tg: RunningBot, cast: Cast) -> None:
    await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"])
    assert await presence(tg, cast.provider.user_id) == "online"
    await cast.provider.sim.block()
    await tg.settle()
    assert await presence(tg, cast.provider.user_id) == "offline"
    # Unblocking changes nothing: they go online again themselves.
    await cast.provider.sim.unblock()
    await tg.settle()
    assert await presence(tg, cast.provider.user_id) == "offline"


async def test_a_provider_on_vacation_who_blocks_the_bot_stays_on_vacation(
    tg: RunningBot, cast: Cast,
) -> None:
    await approved_provider(tg.runtime, cast.provider, cast.categories["genshin-impact"])
    await tg.runtime.bus.handle(SetPresence(provider_id=cast.provider.user_id,
                                            presence="vacation", actor_id=cast.provider.user_id))
    await cast.provider.sim.block()
    await tg.settle()
    assert await presence(tg, cast.provider.user_id) == "vacation"


async def test_a_customer_who_blocks_the_bot_changes_nothing_and_breaks_nothing(
    tg: RunningBot, cast: Cast, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        await cast.customer.sim.block()
        await tg.settle()
    # The update was taken (a refused one is logged as a warning) and nothing failed.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_the_bot_removed_from_the_operators_group_is_logged_as_an_error(
    tg: RunningBot, cast: Cast, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="bots.telegram.handlers.membership"):
        cast.group.set_bot_status("left")
        await tg.settle()
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert f"removed from the operators' group {cast.group.id}" in errors[0]
        cast.group.set_bot_status("member")
        await tg.settle()
    assert f"in the operators' group {cast.group.id} again" in caplog.text
