"""Guards every area uses before letting a person act: not banned, not retired, allowed.

`ensure_can_act` is pure; `acting_user` loads the user first. A ban whose `until` has passed
does not count (it is lifted on read).
"""

from __future__ import annotations

from datetime import datetime

from core.identity.model import Role, User, UserStatus
from core.ports import UnitOfWork
from core.shared.errors import DomainError, Forbidden


def ensure_can_act(user: User, now: datetime) -> None:
    status = user.status_at(now)
    if status is UserStatus.BANNED:
        raise DomainError(
            "error.user.banned",
            user_id=user.id,
            reason=user.ban_reason or "",
            until=user.banned_until.isoformat() if user.banned_until else None,
        )
    if status is UserStatus.RETIRED:
        raise DomainError("error.user.retired", user_id=user.id, merged_into=user.merged_into)


async def acting_user(uow: UnitOfWork, user_id: int, now: datetime) -> User:
    """The user `user_id`, who must exist and be allowed to act (NotFound / DomainError)."""
    user: User = await uow.users.get(user_id)
    ensure_can_act(user, now)
    return user


async def ensure_operator(uow: UnitOfWork, actor_id: int | None, now: datetime) -> None:
    """Operator-only decisions: the console (actor None) or a user with the operator role."""
    if actor_id is None:
        return
    actor = await acting_user(uow, actor_id, now)
    if not actor.has_role(Role.OPERATOR):
        raise Forbidden("error.user.not_operator")


async def ensure_self_or_operator(uow: UnitOfWork, actor_id: int | None, user_id: int, now: datetime) -> None:
    """The person themselves, or an operator acting for them."""
    if actor_id is None:
        return
    actor = await acting_user(uow, actor_id, now)
    if actor_id != user_id and not actor.has_role(Role.OPERATOR):
        raise Forbidden("error.user.not_yours")
