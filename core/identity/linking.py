"""Account linking: one-time codes and the rule for merging a fresh duplicate user.

A person who talks to us on Telegram and on WeChat first gets two users (every first contact
registers one). On one platform they ask for a code; typing it into the other chat attaches
that account to the code's user. The other user is retired and its accounts move over, but
only when it has no history: it may have done nothing but register (and pick a language or
time zone). Anything else (an order, an application, a ban, a strike, a phone, a role) means
two real histories, which are never merged automatically.

Codes are 8 characters from an alphabet without look-alikes, valid for 10 minutes, single
use, and stored only as a SHA-256 hash; issuing a new one discards the user's unused codes.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from core.identity.model import (
    LINK_CODE_ALPHABET,
    LINK_CODE_LENGTH,
    LinkCode,
    Role,
    User,
    UserStatus,
)

# Audit actions that are not "history": a registration and personal preferences.
BENIGN_ACTIONS = frozenset({"register", "set_locale", "set_timezone"})


def new_link_code() -> str:
    return "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))


def hash_link_code(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def make_link_code(user_id: int, now: datetime, ttl: timedelta) -> tuple[str, LinkCode]:
    code = new_link_code()
    return code, LinkCode(
        code_hash=hash_link_code(code), user_id=user_id, created_at=now, expires_at=now + ttl
    )


def is_fresh(user: User) -> bool:
    """What the aggregate itself says about history (the audit log is asked separately)."""
    return (
        user.status is UserStatus.ACTIVE
        and user.roles == frozenset({Role.CUSTOMER})
        and user.strikes == 0
        and user.phone_masked is None
    )
