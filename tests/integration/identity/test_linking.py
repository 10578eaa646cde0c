"""Linking a Telegram and a WeChat account with a one-time code makes one user of them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.bootstrap import Runtime
from core.identity.commands import (
    BlockUser,
    IssueLinkCode,
    RedeemLinkCode,
    RegisterFromChannel,
)
from core.identity.model import UserStatus
from core.shared.clock import FixedClock
from core.shared.errors import DomainError, Forbidden
from storage.tables.identity import link_codes
from tests.integration.identity.helpers import register


def redeem(code: str, external_id: str = "oWX1", platform: str = "wechat", **kw: object) -> RedeemLinkCode:
    return RedeemLinkCode(code=code, platform=platform, external_id=external_id,
                          chat_id=external_id, **kw)  # type: ignore[arg-type]


async def resolve(runtime: Runtime, platform: str, external_id: str) -> int | None:
    async with runtime.uow_factory() as uow:
        user = await uow.users.get_by_channel(platform, external_id)
        return None if user is None else user.id


async def test_a_code_redeemed_from_a_fresh_wechat_account_merges_it_in(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    duplicate = await register(runtime, "oWX1", platform="wechat")  # WeChat's first contact
    issued = await runtime.bus.handle(IssueLinkCode(user_id=ann.id, actor_id=ann.id))
    linked = await runtime.bus.handle(redeem(issued.code.lower(), actor_id=duplicate.id))
    assert linked.id == ann.id
    assert await resolve(runtime, "telegram", "1001") == ann.id
    assert await resolve(runtime, "wechat", "oWX1") == ann.id
    async with runtime.uow_factory() as uow:
        retired = await uow.users.get(duplicate.id)
        audit = [a.action for a in await uow.audit.for_entity("user", str(ann.id))]
    assert retired.status is UserStatus.RETIRED and retired.merged_into == ann.id
    assert audit[-1] == "link"


async def test_a_code_redeemed_from_an_unknown_account_attaches_it(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    issued = await runtime.bus.handle(IssueLinkCode(user_id=ann.id))
    await runtime.bus.handle(redeem(issued.code))
    again = await runtime.bus.handle(
        RegisterFromChannel(platform="wechat", external_id="oWX1", chat_id="oWX1")
    )
    assert again.id == ann.id
    assert {a.platform for a in again.accounts} == {"telegram", "wechat"}


async def test_a_code_works_once(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    issued = await runtime.bus.handle(IssueLinkCode(user_id=ann.id))
    await runtime.bus.handle(redeem(issued.code))
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(redeem(issued.code, external_id="oWX2"))
    assert error.value.key == "error.link.code_used"
    assert await resolve(runtime, "wechat", "oWX2") is None


async def test_a_code_expires_after_ten_minutes(runtime: Runtime, clock: FixedClock) -> None:
    ann = await register(runtime, "1001")
    issued = await runtime.bus.handle(IssueLinkCode(user_id=ann.id))
    assert issued.expires_at == clock.now() + timedelta(minutes=10)
    clock.advance(timedelta(minutes=10, seconds=1))
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(redeem(issued.code))
    assert error.value.key == "error.link.code_expired"
    assert await resolve(runtime, "wechat", "oWX1") is None


async def test_a_wrong_code_is_refused(runtime: Runtime) -> None:
    await register(runtime, "1001")
    for wrong in ("ZZZZ9999", "not a code"):
        with pytest.raises(DomainError) as error:
            await runtime.bus.handle(redeem(wrong))
        assert error.value.key == "error.link.code_invalid"


async def test_a_new_code_replaces_the_unused_one(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    first = await runtime.bus.handle(IssueLinkCode(user_id=ann.id))
    second = await runtime.bus.handle(IssueLinkCode(user_id=ann.id))
    with pytest.raises(DomainError):
        await runtime.bus.handle(redeem(first.code))
    await runtime.bus.handle(redeem(second.code))
    async with runtime.uow_factory() as uow:
        stored = (await uow.connection.execute(sa.select(link_codes.c.code_hash))).scalars().all()
    assert second.code not in stored  # only hashes are kept


async def test_an_account_with_its_own_history_is_not_merged(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    other = await register(runtime, "oWX1", platform="wechat")
    spammer = await register(runtime, "2002")
    await runtime.bus.handle(BlockUser(blocker_id=other.id, blocked_id=spammer.id))
    issued = await runtime.bus.handle(IssueLinkCode(user_id=ann.id))
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(redeem(issued.code))
    assert error.value.key == "error.link.account_has_history"
    assert await resolve(runtime, "wechat", "oWX1") == other.id


async def test_linking_your_own_account_twice_is_refused(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    issued = await runtime.bus.handle(IssueLinkCode(user_id=ann.id))
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(redeem(issued.code, platform="telegram", external_id="1001"))
    assert error.value.key == "error.link.already_linked"


async def test_a_second_account_on_the_same_platform_is_refused(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    issued = await runtime.bus.handle(IssueLinkCode(user_id=ann.id))
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(redeem(issued.code, platform="telegram", external_id="1002"))
    assert error.value.key == "error.link.platform_taken"


async def test_nobody_issues_a_code_for_someone_else(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    bob = await register(runtime, "1002")
    with pytest.raises(Forbidden):
        await runtime.bus.handle(IssueLinkCode(user_id=ann.id, actor_id=bob.id))
