"""Strikes: a counted rule break (e.g. contact details in a relayed message), audited.

Other areas call `record_strike` inside their own transaction; operators read the count on
the user and decide about bans.
"""

from __future__ import annotations

from datetime import datetime

from core.identity.model import clean_reason
from core.ports import UnitOfWork
from core.shared.audit import AuditEntry


async def record_strike(uow: UnitOfWork, user_id: int, reason: str, at: datetime) -> int:
    """Add one strike to `user_id` for `reason`; returns the new count."""
    text = clean_reason(reason, required=True, key="error.user.strike_reason_required")
    assert text is not None
    user = await uow.users.get(user_id)
    count = user.add_strike(text, now=at)
    await uow.users.save(user)
    await uow.audit.add(
        AuditEntry(
            entity="user",
            entity_id=str(user_id),
            action="strike",
            actor_id=None,
            at=at,
            reason=text,
            data={"strikes": count},
        )
    )
    return count
