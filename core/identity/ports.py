"""What the identity area needs from storage: users, link codes, blocks, and a field cipher.

`FieldCipher` is how storage keeps phone numbers unreadable at rest: the core defines the
shape, storage implements it (Fernet) and applies it on write and read, so the core only ever
handles clear numbers and never sees ciphertext.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.identity.model import LinkCode, Role, User, UserStatus


class FieldCipher(Protocol):
    def encrypt(self, plaintext: str) -> str: ...
    def decrypt(self, token: str) -> str: ...


@dataclass(frozen=True)
class UserFilter:
    role: Role | None = None
    status: UserStatus | None = None
    limit: int = 50
    offset: int = 0


class UserRepository(Protocol):
    async def get(self, user_id: int) -> User:
        """The user, or NotFound("error.user.not_found")."""
        ...

    async def get_by_channel(self, platform: str, external_id: str) -> User | None:
        """The user holding the account, read in one round trip; None for an unknown one."""
        ...

    async def get_many(
        self, user_ids: Iterable[int], *, follow_merges: bool = False
    ) -> dict[int, User]:
        """The users among `user_ids` that exist, by id, in one round trip.

        With `follow_merges`, also the users any of them were merged into (read in the same
        round trip), so a caller can reach the person behind a retired duplicate.
        """
        ...

    async def add(self, user: User) -> None:
        """Insert a new user with its accounts and set `user.id`.

        Raises ConcurrencyConflict when one of its accounts was registered meanwhile (the bus
        retries and the retry finds the winner's user).
        """
        ...

    async def save(self, user: User) -> None:
        """Write the user's changes (version-checked), its roles, accounts and new phone."""
        ...

    async def list(self, criteria: UserFilter, now: datetime) -> tuple[Sequence[User], int]:
        """One page of users (oldest first) and the number matching the filter."""
        ...

    async def phone_of(self, user_id: int) -> str | None:
        """The clear phone number (decrypted by storage); only ever shown to its owner."""
        ...

    async def has_history(self, user_id: int) -> bool:
        """Whether the user did or underwent anything beyond registering.

        Used before retiring a duplicate user during account linking. Storage answers from the
        audit log, where every area records the decisions made by or about a user; see
        `core.identity.linking.BENIGN_ACTIONS` for what does not count.
        """
        ...


class LinkCodeRepository(Protocol):
    async def add(self, code: LinkCode) -> None: ...

    async def get_for_update(self, code_hash: str) -> LinkCode | None: ...

    async def mark_used(
        self, code_hash: str, *, at: datetime, platform: str, external_id: str
    ) -> None:
        """Mark the code used; DomainError("error.link.code_used") if somebody was first."""
        ...

    async def discard_unused(self, user_id: int) -> None:
        """Drop a user's codes that were never used (a new code replaces them)."""
        ...


class BlockRepository(Protocol):
    async def add(self, blocker_id: int, blocked_id: int, at: datetime) -> bool:
        """True if the block is new, False if it already existed."""
        ...

    async def remove(self, blocker_id: int, blocked_id: int) -> bool:
        """True if a block was removed."""
        ...

    async def is_blocked(self, user_a: int, user_b: int) -> bool:
        """Whether either of the two blocked the other."""
        ...

    async def blocked_by(self, blocker_id: int) -> list[int]: ...
