"""Bans, roles, preferences, strikes and blocks: audited decisions with events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.bootstrap import Runtime
from core.identity import events
from core.identity.commands import (
    BanUser,
    BlockUser,
    GetUser,
    GrantRole,
    IssueLinkCode,
    ListUsers,
    RevokeRole,
    SetLocale,
    SetTimezone,
    UnbanUser,
    UnblockUser,
)
from core.identity.guards import acting_user
from core.identity.strikes import record_strike
from core.shared.clock import FixedClock
from core.shared.errors import DomainError, Forbidden, NotFound
from tests.integration.identity.helpers import operator, register


async def outbox_types(runtime: Runtime) -> list[type]:
    async with runtime.uow_factory() as uow:
        return [type(r.event) for r in await uow.outbox.claim_batch(100)]


async def test_an_operator_bans_and_unbans_with_audit_rows_and_events(
    runtime: Runtime, clock: FixedClock
) -> None:
    olga = await operator(runtime)
    ann = await register(runtime, "1001")
    banned = await runtime.bus.handle(
        BanUser(user_id=ann.id, reason="  fake orders ", actor_id=olga.id)
    )
    assert (banned.status, banned.ban_reason, banned.banned_until) == ("banned", "fake orders", None)
    clock.advance(timedelta(hours=1))
    await runtime.bus.handle(UnbanUser(user_id=ann.id, reason="appeal accepted", actor_id=olga.id))
    async with runtime.uow_factory() as uow:
        audit = await uow.audit.for_entity("user", str(ann.id))
    ban, unban = audit[-2], audit[-1]
    assert (ban.action, ban.actor_id, ban.from_state, ban.to_state, ban.reason) == (
        "ban", olga.id, "active", "banned", "fake orders"
    )
    assert (unban.action, unban.reason, unban.at) == ("unban", "appeal accepted", clock.now())
    types = await outbox_types(runtime)
    assert events.UserBanned in types and events.UserUnbanned in types


async def test_a_banned_user_cannot_act_until_the_ban_ends(
    runtime: Runtime, clock: FixedClock
) -> None:
    ann = await register(runtime, "1001")
    until = clock.now() + timedelta(days=3)
    await runtime.bus.handle(BanUser(user_id=ann.id, reason="no-shows", until=until))
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(IssueLinkCode(user_id=ann.id, actor_id=ann.id))
    assert error.value.key == "error.user.banned"
    with pytest.raises(DomainError):
        await runtime.bus.handle(SetLocale(user_id=ann.id, locale="zh", actor_id=ann.id))
    clock.set(until + timedelta(seconds=1))
    # Lifted on read: the person acts again, and lists show them active.
    await runtime.bus.handle(IssueLinkCode(user_id=ann.id, actor_id=ann.id))
    assert (await runtime.bus.handle(GetUser(user_id=ann.id))).status == "active"
    active = await runtime.bus.handle(ListUsers(status="active"))
    banned = await runtime.bus.handle(ListUsers(status="banned"))
    assert [u.id for u in active.users] == [ann.id] and banned.total == 0


async def test_other_areas_guard_with_acting_user(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    await runtime.bus.handle(BanUser(user_id=ann.id, reason="fraud"))
    async with runtime.uow_factory() as uow:
        with pytest.raises(DomainError) as error:
            await acting_user(uow, ann.id, runtime.clock.now())
        assert error.value.key == "error.user.banned"
        with pytest.raises(NotFound):
            await acting_user(uow, 424242, runtime.clock.now())


@pytest.mark.parametrize(
    ("reason", "until", "key"),
    [
        ("", None, "error.user.ban_reason_required"),
        ("x" * 501, None, "error.user.reason_too_long"),
        ("spam", datetime(2020, 1, 1, tzinfo=UTC), "error.user.ban_until_past"),
        ("spam", datetime(2030, 1, 1), "error.user.ban_until_invalid"),
    ],
)
async def test_bad_bans_are_refused_and_change_nothing(
    runtime: Runtime, reason: str, until: datetime | None, key: str
) -> None:
    ann = await register(runtime, "1001")
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(BanUser(user_id=ann.id, reason=reason, until=until))
    assert error.value.key == key
    assert (await runtime.bus.handle(GetUser(user_id=ann.id))).status == "active"
    async with runtime.uow_factory() as uow:
        assert [a.action for a in await uow.audit.for_entity("user", str(ann.id))] == ["register"]


async def test_only_operators_ban_grant_or_list(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    bob = await register(runtime, "1002")
    for command in (
        BanUser(user_id=bob.id, reason="I dislike him", actor_id=ann.id),
        GrantRole(user_id=ann.id, role="operator", actor_id=ann.id),
        ListUsers(actor_id=ann.id),
    ):
        with pytest.raises(Forbidden) as error:
            await runtime.bus.handle(command)
        assert error.value.key == "error.user.not_operator"


async def test_roles_are_granted_and_revoked_with_audit(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    view = await runtime.bus.handle(GrantRole(user_id=ann.id, role="provider", reason="approved"))
    assert view.roles == ("customer", "provider")
    assert [u.id for u in (await runtime.bus.handle(ListUsers(role="provider"))).users] == [ann.id]
    view = await runtime.bus.handle(RevokeRole(user_id=ann.id, role="provider"))
    assert view.roles == ("customer",)
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(GrantRole(user_id=ann.id, role="wizard"))
    assert error.value.key == "error.user.unknown_role"
    async with runtime.uow_factory() as uow:
        audit = await uow.audit.for_entity("user", str(ann.id))
    assert [(a.action, a.data.get("role")) for a in audit[1:]] == [
        ("grant_role", "provider"), ("revoke_role", "provider")
    ]


async def test_people_set_their_own_language_and_time_zone(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    bob = await register(runtime, "1002")
    view = await runtime.bus.handle(SetTimezone(user_id=ann.id, timezone="Europe/Berlin", actor_id=ann.id))
    assert view.timezone == "Europe/Berlin"
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(SetTimezone(user_id=ann.id, timezone="Mars/Base", actor_id=ann.id))
    assert error.value.key == "error.user.invalid_timezone"
    with pytest.raises(Forbidden):
        await runtime.bus.handle(SetLocale(user_id=ann.id, locale="zh", actor_id=bob.id))
    assert (await runtime.bus.handle(GetUser(user_id=ann.id))).timezone == "Europe/Berlin"


async def test_strikes_count_up_with_an_event_and_an_audit_row(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    for expected in (1, 2):
        async with runtime.uow_factory() as uow:
            assert await record_strike(uow, ann.id, "phone number in chat", runtime.clock.now()) == expected
            await uow.commit()
    assert (await runtime.bus.handle(GetUser(user_id=ann.id))).strikes == 2
    assert (await outbox_types(runtime)).count(events.StrikeRecorded) == 2


async def test_blocks_hold_in_both_directions_until_lifted(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    bob = await register(runtime, "1002")
    await runtime.bus.handle(BlockUser(blocker_id=ann.id, blocked_id=bob.id, actor_id=ann.id))
    async with runtime.uow_factory() as uow:
        assert await uow.blocks.is_blocked(bob.id, ann.id)
        assert await uow.blocks.is_blocked(ann.id, bob.id)
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(BlockUser(blocker_id=ann.id, blocked_id=bob.id))
    assert error.value.key == "error.user.already_blocked"
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(BlockUser(blocker_id=ann.id, blocked_id=ann.id))
    assert error.value.key == "error.user.cannot_block_self"
    await runtime.bus.handle(UnblockUser(blocker_id=ann.id, blocked_id=bob.id))
    async with runtime.uow_factory() as uow:
        assert not await uow.blocks.is_blocked(ann.id, bob.id)
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(UnblockUser(blocker_id=ann.id, blocked_id=bob.id))
    assert error.value.key == "error.user.not_blocked"


async def test_listing_pages_through_users(runtime: Runtime) -> None:
    for n in range(5):
        await register(runtime, f"{1000 + n}")
    page = await runtime.bus.handle(ListUsers(limit=2, offset=2))
    assert page.total == 5 and [u.display_name for u in page.users] == ["Ann", "Ann"]
    assert page.users[0].id < page.users[1].id
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(ListUsers(limit=0))
    assert error.value.key == "error.user.invalid_page"
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(ListUsers(status="sleeping"))
    assert error.value.key == "error.user.unknown_status"
