"""Handlers of the identity area: registration, linking, phone, bans, roles, preferences, blocks.

Each handler unpacks its command, asks the aggregate to act, saves, and writes the audit row
for the decision. Refusals are DomainErrors raised before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.identity import events
from core.identity.commands import (
    BanUser,
    BlockUser,
    GetUser,
    GetUserByChannel,
    GetUserHistory,
    GrantRole,
    IssueLinkCode,
    ListUsers,
    RedeemLinkCode,
    RegisterFromChannel,
    RevokeRole,
    SetLocale,
    SetTimezone,
    UnbanUser,
    UnblockUser,
    UserPage,
    UserView,
    VerifyPhone,
)
from core.identity.guards import (
    acting_user,
    ensure_can_act,
    ensure_operator,
    ensure_self_or_operator,
)
from core.identity.linking import hash_link_code, is_fresh, make_link_code
from core.identity.model import (
    ChannelAccount,
    IssuedLinkCode,
    Role,
    User,
    check_account,
    clean_reason,
    locale_from_language_code,
    normalize_link_code,
    normalize_phone,
    parse_role,
    parse_status,
)
from core.identity.policy import DEFAULT_IDENTITY_POLICY, IdentityPolicy
from core.identity.ports import UserFilter
from core.messagebus import Handler
from core.ports import UnitOfWork
from core.shared.audit import AuditEntry
from core.shared.clock import Clock
from core.shared.errors import DomainError, Forbidden
from core.shared.messages import Command, Event

MAX_PAGE = 200
PHONE_SOURCES = ("telegram_contact",)


def view_of(user: User, *, phone: str | None = None, show_accounts: bool = True) -> UserView:
    return UserView(
        id=user.id,
        display_name=user.display_name,
        roles=tuple(sorted(r.value for r in user.roles)),
        locale=user.locale,
        timezone=user.timezone,
        status=user.status.value,
        ban_reason=user.ban_reason,
        banned_until=user.banned_until,
        strikes=user.strikes,
        phone_masked=user.phone_masked,
        phone=phone,
        accounts=user.accounts if show_accounts else (),
        created_at=user.created_at,
        merged_into=user.merged_into,
    )


async def _audit(
    uow: UnitOfWork,
    user_id: int,
    action: str,
    actor_id: int | None,
    at: datetime,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    **data: Any,
) -> None:
    await uow.audit.add(
        AuditEntry(
            entity="user",
            entity_id=str(user_id),
            action=action,
            actor_id=actor_id,
            at=at,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            data=data,
        )
    )


# -- registration and linking ---------------------------------------------------------------


async def register_from_channel(
    cmd: RegisterFromChannel,
    uow: UnitOfWork,
    clock: Clock,
    identity_policy: IdentityPolicy = DEFAULT_IDENTITY_POLICY,
) -> User:
    now = clock.now()
    account = check_account(ChannelAccount(cmd.platform, cmd.external_id, cmd.chat_id))
    user = await uow.users.get_by_channel(account.platform, account.external_id)
    if user is not None:
        if user.update_chat(account):
            await uow.users.save(user)
        return user
    user = User.new(
        account=account,
        display_name=cmd.display_name,
        locale=locale_from_language_code(cmd.language_code, identity_policy.default_locale),
        timezone=identity_policy.default_timezone,
        at=now,
    )
    # Two first contacts at once: the loser's insert conflicts, the bus retries, and the
    # retry finds the winner's user above.
    await uow.users.add(user)
    user.registered(now)
    await _audit(
        uow, user.id, "register", user.id, now, to_state=user.status.value,
        platform=account.platform,
    )
    return user


async def get_user_by_channel(cmd: GetUserByChannel, uow: UnitOfWork) -> User | None:
    account = check_account(ChannelAccount(cmd.platform, cmd.external_id, cmd.chat_id))
    user = await uow.users.get_by_channel(account.platform, account.external_id)
    if user is None or not user.talks_from(account):
        return None  # registering would write: the edge sends RegisterFromChannel
    return user


async def issue_link_code(
    cmd: IssueLinkCode,
    uow: UnitOfWork,
    clock: Clock,
    identity_policy: IdentityPolicy = DEFAULT_IDENTITY_POLICY,
) -> IssuedLinkCode:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.user_id, now)
    user = await acting_user(uow, cmd.user_id, now)
    await uow.link_codes.discard_unused(user.id)
    code, link = make_link_code(user.id, now, identity_policy.link_code_ttl)
    await uow.link_codes.add(link)
    return IssuedLinkCode(code=code, user_id=user.id, expires_at=link.expires_at)


async def redeem_link_code(cmd: RedeemLinkCode, uow: UnitOfWork, clock: Clock) -> User:
    now = clock.now()
    account = check_account(ChannelAccount(cmd.platform, cmd.external_id, cmd.chat_id))
    code_hash = hash_link_code(normalize_link_code(cmd.code))
    link = await uow.link_codes.get_for_update(code_hash)
    if link is None:
        raise DomainError("error.link.code_invalid")
    link.check_redeemable(now)
    target = await acting_user(uow, link.user_id, now)
    existing = await uow.users.get_by_channel(account.platform, account.external_id)
    if cmd.actor_id is not None and (existing is None or existing.id != cmd.actor_id):
        raise Forbidden("error.link.not_your_account")
    if existing is None:
        target.link_account(account, now=now)
    elif existing.id == target.id:
        raise DomainError("error.link.already_linked", platform=account.platform)
    else:
        # A banned duplicate must not shed its ban by merging into a clean user.
        ensure_can_act(existing, now)
        if not is_fresh(existing) or await uow.users.has_history(existing.id):
            raise DomainError("error.link.account_has_history", platform=account.platform)
        target.absorb(existing, now=now)
        # The duplicate first, so its accounts are free when the target claims them.
        await uow.users.save(existing)
        await _audit(
            uow, existing.id, "merge", cmd.actor_id, now,
            from_state="active", to_state="retired", into_user_id=target.id,
        )
    await uow.users.save(target)
    await uow.link_codes.mark_used(
        code_hash, at=now, platform=account.platform, external_id=account.external_id
    )
    await _audit(
        uow, target.id, "link", cmd.actor_id, now,
        platform=account.platform, merged_user_id=existing.id if existing else None,
    )
    return target


# -- phone ----------------------------------------------------------------------------------


async def verify_phone(cmd: VerifyPhone, uow: UnitOfWork, clock: Clock) -> UserView:
    now = clock.now()
    if cmd.actor_id is not None and cmd.actor_id != cmd.user_id:
        raise Forbidden("error.user.not_yours")
    if cmd.source not in PHONE_SOURCES:
        raise DomainError(
            "error.user.phone_source_unsupported",
            source=cmd.source,
            sources=", ".join(PHONE_SOURCES),
        )
    user = await acting_user(uow, cmd.user_id, now)
    # Telegram lets anyone share *any* contact; only the user's own card proves the number.
    if not cmd.contact_external_id or not user.owns_account("telegram", cmd.contact_external_id):
        raise DomainError("error.user.phone_not_own_contact")
    phone = normalize_phone(cmd.phone)
    user.verify_phone(phone, source=cmd.source, now=now)
    await uow.users.save(user)
    await _audit(
        uow, user.id, "verify_phone", cmd.actor_id, now,
        source=cmd.source, phone_masked=user.phone_masked,
    )
    return view_of(user, phone=phone)


# -- operator decisions ---------------------------------------------------------------------


async def ban_user(cmd: BanUser, uow: UnitOfWork, clock: Clock) -> UserView:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    if cmd.actor_id is not None and cmd.actor_id == cmd.user_id:
        raise DomainError("error.user.cannot_ban_self")
    reason = clean_reason(cmd.reason, required=True, key="error.user.ban_reason_required")
    assert reason is not None
    if cmd.until is not None and cmd.until.tzinfo is None:
        raise DomainError("error.user.ban_until_invalid")
    user = await uow.users.get(cmd.user_id)
    before = user.status_at(now).value
    user.ban(reason=reason, until=cmd.until, actor_id=cmd.actor_id, now=now)
    await uow.users.save(user)
    await _audit(
        uow, user.id, "ban", cmd.actor_id, now, from_state=before, to_state="banned",
        reason=reason, until=cmd.until.isoformat() if cmd.until else None,
    )
    return view_of(user)


async def unban_user(cmd: UnbanUser, uow: UnitOfWork, clock: Clock) -> UserView:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    reason = clean_reason(cmd.reason, required=False, key="error.user.reason_required")
    user = await uow.users.get(cmd.user_id)
    user.unban(reason=reason, actor_id=cmd.actor_id, now=now)
    await uow.users.save(user)
    await _audit(
        uow, user.id, "unban", cmd.actor_id, now, from_state="banned", to_state="active",
        reason=reason,
    )
    return view_of(user)


async def grant_role(
    uow: UnitOfWork,
    *,
    user_id: int,
    role: Role | str,
    actor_id: int | None,
    at: datetime,
    reason: str | None = None,
) -> User:
    """Give `user_id` a role in the caller's transaction (e.g. provider on approval)."""
    parsed = parse_role(role)
    user = await uow.users.get(user_id)
    user.grant_role(parsed, actor_id=actor_id, now=at)
    await uow.users.save(user)
    await _audit(uow, user.id, "grant_role", actor_id, at, reason=reason, role=parsed.value)
    return user


async def revoke_role(
    uow: UnitOfWork,
    *,
    user_id: int,
    role: Role | str,
    actor_id: int | None,
    at: datetime,
    reason: str | None = None,
) -> User:
    """Take a role away from `user_id` in the caller's transaction."""
    parsed = parse_role(role)
    user = await uow.users.get(user_id)
    user.revoke_role(parsed, actor_id=actor_id, now=at)
    await uow.users.save(user)
    await _audit(uow, user.id, "revoke_role", actor_id, at, reason=reason, role=parsed.value)
    return user


async def handle_grant_role(cmd: GrantRole, uow: UnitOfWork, clock: Clock) -> UserView:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    reason = clean_reason(cmd.reason, required=False, key="error.user.reason_required")
    user = await grant_role(
        uow, user_id=cmd.user_id, role=cmd.role, actor_id=cmd.actor_id, at=now, reason=reason
    )
    return view_of(user)


async def handle_revoke_role(cmd: RevokeRole, uow: UnitOfWork, clock: Clock) -> UserView:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    reason = clean_reason(cmd.reason, required=False, key="error.user.reason_required")
    user = await revoke_role(
        uow, user_id=cmd.user_id, role=cmd.role, actor_id=cmd.actor_id, at=now, reason=reason
    )
    return view_of(user)


# -- preferences ----------------------------------------------------------------------------


async def set_locale(cmd: SetLocale, uow: UnitOfWork, clock: Clock) -> UserView:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.user_id, now)
    user = await uow.users.get(cmd.user_id)
    before = user.locale
    if user.set_locale(cmd.locale, now=now):
        await uow.users.save(user)
        await _audit(
            uow, user.id, "set_locale", cmd.actor_id, now, from_state=before, to_state=user.locale
        )
    return view_of(user)


async def set_timezone(cmd: SetTimezone, uow: UnitOfWork, clock: Clock) -> UserView:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.user_id, now)
    user = await uow.users.get(cmd.user_id)
    before = user.timezone
    if user.set_timezone(cmd.timezone, now=now):
        await uow.users.save(user)
        await _audit(
            uow, user.id, "set_timezone", cmd.actor_id, now,
            from_state=before, to_state=user.timezone,
        )
    return view_of(user)


# -- blocks ---------------------------------------------------------------------------------


async def block_user(cmd: BlockUser, uow: UnitOfWork, clock: Clock) -> None:
    now = clock.now()
    if cmd.actor_id is not None and cmd.actor_id != cmd.blocker_id:
        raise Forbidden("error.user.not_yours")
    if cmd.blocker_id == cmd.blocked_id:
        raise DomainError("error.user.cannot_block_self")
    await acting_user(uow, cmd.blocker_id, now)
    await uow.users.get(cmd.blocked_id)
    if not await uow.blocks.add(cmd.blocker_id, cmd.blocked_id, now):
        raise DomainError("error.user.already_blocked", user_id=cmd.blocked_id)
    uow.emit(events.UserBlocked(blocker_id=cmd.blocker_id, blocked_id=cmd.blocked_id, at=now))
    await _audit(uow, cmd.blocker_id, "block", cmd.actor_id, now, blocked_id=cmd.blocked_id)


async def unblock_user(cmd: UnblockUser, uow: UnitOfWork, clock: Clock) -> None:
    now = clock.now()
    if cmd.actor_id is not None and cmd.actor_id != cmd.blocker_id:
        raise Forbidden("error.user.not_yours")
    await acting_user(uow, cmd.blocker_id, now)
    if not await uow.blocks.remove(cmd.blocker_id, cmd.blocked_id):
        raise DomainError("error.user.not_blocked", user_id=cmd.blocked_id)
    uow.emit(events.UserUnblocked(blocker_id=cmd.blocker_id, blocked_id=cmd.blocked_id, at=now))
    await _audit(uow, cmd.blocker_id, "unblock", cmd.actor_id, now, blocked_id=cmd.blocked_id)


# -- queries --------------------------------------------------------------------------------


async def get_user(cmd: GetUser, uow: UnitOfWork, clock: Clock) -> UserView:
    user = await uow.users.get(cmd.user_id)
    if cmd.actor_id is not None and cmd.actor_id == user.id:
        return view_of(user, phone=await uow.users.phone_of(user.id))
    privileged = cmd.actor_id is None
    if not privileged:
        viewer = await uow.users.get(cmd.actor_id)  # type: ignore[arg-type]
        privileged = viewer.has_role(Role.OPERATOR)
    # Other people see neither the number nor the chat accounts behind a user.
    return view_of(user, show_accounts=privileged)


async def get_user_history(cmd: GetUserHistory, uow: UnitOfWork, clock: Clock) -> list[AuditEntry]:
    await ensure_operator(uow, cmd.actor_id, clock.now())
    await uow.users.get(cmd.user_id)
    return await uow.audit.for_entity("user", str(cmd.user_id))


async def list_users(cmd: ListUsers, uow: UnitOfWork, clock: Clock) -> UserPage:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    if not 1 <= cmd.limit <= MAX_PAGE or cmd.offset < 0:
        raise DomainError("error.user.invalid_page", max=MAX_PAGE)
    criteria = UserFilter(
        role=parse_role(cmd.role) if cmd.role else None,
        status=parse_status(cmd.status) if cmd.status else None,
        limit=cmd.limit,
        offset=cmd.offset,
    )
    users, total = await uow.users.list(criteria, now)
    return UserPage(
        users=tuple(view_of(u) for u in users), total=total, limit=cmd.limit, offset=cmd.offset
    )


COMMAND_HANDLERS: dict[type[Command], Handler] = {
    RegisterFromChannel: register_from_channel,
    IssueLinkCode: issue_link_code,
    RedeemLinkCode: redeem_link_code,
    VerifyPhone: verify_phone,
    BanUser: ban_user,
    UnbanUser: unban_user,
    GrantRole: handle_grant_role,
    RevokeRole: handle_revoke_role,
    SetLocale: set_locale,
    SetTimezone: set_timezone,
    BlockUser: block_user,
    UnblockUser: unblock_user,
    GetUser: get_user,
    GetUserByChannel: get_user_by_channel,
    GetUserHistory: get_user_history,
    ListUsers: list_users,
}

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {}
