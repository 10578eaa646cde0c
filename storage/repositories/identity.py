"""Identity on SQL: users with roles and channel accounts, link codes, blocks, phone encryption.

Phone numbers are encrypted here, on their way into the `users` table, with Fernet
(AES-128-CBC + HMAC-SHA256, from the `cryptography` package) under the key from settings;
the core hands over clear numbers and gets clear numbers back, never ciphertext. The cipher
belongs to the engine (bound once by the composition root with `use_cipher`), so two
runtimes with different keys in one process do not mix them up.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from core.identity.linking import BENIGN_ACTIONS
from core.identity.model import ChannelAccount, LinkCode, Role, User, UserStatus
from core.identity.ports import FieldCipher, UserFilter
from core.shared.errors import ConcurrencyConflict, DomainError, NotFound
from storage.repositories.base import SqlRepository
from storage.tables.identity import channel_accounts, link_codes, user_blocks, user_roles, users
from storage.tables.infra import audit_log


# Users with their roles and channel accounts in one round trip: each user's row repeated per
# (role, channel account) pair. Built once per question: they are read for almost every update.
def _users_with_roles_and_accounts(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(
            users,
            user_roles.c.role.label("role_name"),
            channel_accounts.c.platform.label("account_platform"),
            channel_accounts.c.external_id.label("account_external_id"),
            channel_accounts.c.chat_id.label("account_chat_id"),
        )
        .select_from(
            users.outerjoin(user_roles, user_roles.c.user_id == users.c.id).outerjoin(
                channel_accounts, channel_accounts.c.user_id == users.c.id
            )
        )
        .where(where)
        .order_by(users.c.id, channel_accounts.c.linked_at, channel_accounts.c.platform)
    )


_IDS = sa.bindparam("ids", expanding=True)
_USERS_BY_ID = _users_with_roles_and_accounts(users.c.id.in_(_IDS))
# The users asked for and the users they were merged into (whom their notices reach).
# (A union, not an OR of two INs: PostgreSQL scans the whole table for that OR.)
_USERS_AND_MERGE_TARGETS = _users_with_roles_and_accounts(
    users.c.id.in_(
        sa.union(
            sa.select(users.c.id).where(users.c.id.in_(_IDS)),
            sa.select(users.c.merged_into).where(users.c.id.in_(_IDS)),
        )
    )
)
# The user holding a channel account: the account's lookup and the user's load in one.
_USER_BY_CHANNEL = _users_with_roles_and_accounts(
    users.c.id
    == sa.select(channel_accounts.c.user_id)
    .where(
        channel_accounts.c.platform == sa.bindparam("platform"),
        channel_accounts.c.external_id == sa.bindparam("external_id"),
    )
    .scalar_subquery()
)
# Reads by key are built once too and run with parameters: building a statement and its cache
# key on every call costs more CPU than running it.
_PHONE_OF = sa.select(users.c.phone_encrypted).where(users.c.id == sa.bindparam("user_id"))
_ACCOUNTS_OF = sa.select(channel_accounts).where(
    channel_accounts.c.user_id == sa.bindparam("user_id")
)
_DELETE_ROLES = user_roles.delete().where(user_roles.c.user_id == sa.bindparam("user_id"))
# Either way round; four parameters, as the statement built per call had.
_IS_BLOCKED = (
    sa.select(user_blocks.c.blocker_id)
    .where(
        sa.or_(
            sa.and_(
                user_blocks.c.blocker_id == sa.bindparam("a_blocker"),
                user_blocks.c.blocked_id == sa.bindparam("b_blocked"),
            ),
            sa.and_(
                user_blocks.c.blocker_id == sa.bindparam("b_blocker"),
                user_blocks.c.blocked_id == sa.bindparam("a_blocked"),
            ),
        )
    )
    .limit(1)
)
_BLOCKED_BY = (
    sa.select(user_blocks.c.blocked_id)
    .where(user_blocks.c.blocker_id == sa.bindparam("blocker_id"))
    .order_by(user_blocks.c.created_at, user_blocks.c.blocked_id)
)


class FernetCipher:
    """Fernet under a key read lazily, so a process that never touches a phone needs no key."""

    def __init__(self, key: str | Callable[[], str]) -> None:
        self._key = key
        self._fernet: Fernet | None = None

    def _engine(self) -> Fernet:
        if self._fernet is None:
            key = self._key() if callable(self._key) else self._key
            try:
                self._fernet = Fernet(key.encode("ascii"))
            except (ValueError, UnicodeEncodeError) as exc:
                raise RuntimeError(
                    "YUEBAN_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64-encoded "
                    "bytes; make one with `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)"
                ) from exc
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self._engine().encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._engine().decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            # A different key than the one the data was written with: say so, never guess.
            raise RuntimeError(
                "a phone number cannot be decrypted with the configured YUEBAN_ENCRYPTION_KEY"
            ) from exc


_CIPHERS: weakref.WeakKeyDictionary[Engine, FieldCipher] = weakref.WeakKeyDictionary()


def use_cipher(engine: AsyncEngine, cipher: FieldCipher) -> None:
    """Encrypt phone numbers written through `engine` with `cipher`."""
    _CIPHERS[engine.sync_engine] = cipher


def cipher_for(engine: AsyncEngine) -> FieldCipher:
    cipher = _CIPHERS.get(engine.sync_engine)
    if cipher is None:
        raise RuntimeError("no phone cipher bound to this engine (see use_cipher)")
    return cipher


class SqlUserRepository(SqlRepository):
    def __init__(self, connection: Any, uow: Any) -> None:
        super().__init__(connection, uow)
        # One copy of each user per transaction, so two reads cannot save over each other.
        self._seen: dict[int, User] = {}

    # -- reading ------------------------------------------------------------------------

    async def get(self, user_id: int) -> User:
        if user_id in self._seen:
            return self._seen[user_id]
        loaded = await self._load([user_id])
        if not loaded:
            raise NotFound("error.user.not_found", user_id=user_id)
        return loaded[0]

    async def get_by_channel(self, platform: str, external_id: str) -> User | None:
        joined = (
            await self.connection.execute(
                _USER_BY_CHANNEL, {"platform": platform, "external_id": external_id}
            )
        ).all()
        if not joined:
            return None
        # A user read earlier in this transaction stays the one copy (its changes included).
        return self._build(joined)[joined[0].id]

    async def get_many(
        self, user_ids: Iterable[int], *, follow_merges: bool = False
    ) -> dict[int, User]:
        ids = list(dict.fromkeys(user_ids))
        if not follow_merges:
            await self._load(ids)
            return {i: self._seen[i] for i in ids if i in self._seen}
        wanted = [i for i in ids if i not in self._seen]
        for i in ids:
            # A merged user read earlier: the one they were merged into may not have been.
            seen = self._seen.get(i)
            if seen is not None and seen.merged_into and seen.merged_into not in self._seen:
                wanted.append(seen.merged_into)
        if wanted:
            self._build(
                (await self.connection.execute(_USERS_AND_MERGE_TARGETS, {"ids": wanted})).all()
            )
        found = {i: self._seen[i] for i in ids if i in self._seen}
        for user in list(found.values()):
            if user.merged_into and user.merged_into in self._seen:
                found[user.merged_into] = self._seen[user.merged_into]
        return found

    async def list(self, criteria: UserFilter, now: datetime) -> tuple[Sequence[User], int]:
        where = self._filters(criteria, now)
        total = (
            await self.connection.execute(sa.select(sa.func.count()).select_from(users).where(*where))
        ).scalar_one()
        ids = (
            await self.connection.execute(
                sa.select(users.c.id)
                .where(*where)
                .order_by(users.c.id)
                .limit(criteria.limit)
                .offset(criteria.offset)
            )
        ).scalars().all()
        return await self._load(list(ids)), int(total)

    def _filters(self, criteria: UserFilter, now: datetime) -> list[Any]:
        where: list[Any] = []
        if criteria.role is not None:
            where.append(
                users.c.id.in_(
                    sa.select(user_roles.c.user_id).where(user_roles.c.role == criteria.role.value)
                )
            )
        # A ban whose `until` has passed counts as lifted, whatever the row still says.
        expired_ban = sa.and_(
            users.c.status == UserStatus.BANNED.value,
            users.c.banned_until.is_not(None),
            users.c.banned_until <= now,
        )
        if criteria.status is UserStatus.ACTIVE:
            where.append(sa.or_(users.c.status == UserStatus.ACTIVE.value, expired_ban))
        elif criteria.status is UserStatus.BANNED:
            where.append(sa.and_(users.c.status == UserStatus.BANNED.value, sa.not_(expired_ban)))
        elif criteria.status is UserStatus.RETIRED:
            where.append(users.c.status == UserStatus.RETIRED.value)
        else:
            where.append(users.c.status != UserStatus.RETIRED.value)
        return where

    async def _load(self, ids: Sequence[int]) -> list[User]:
        wanted = [i for i in ids if i not in self._seen]
        if wanted:
            self._build((await self.connection.execute(_USERS_BY_ID, {"ids": wanted})).all())
        return [self._seen[i] for i in ids if i in self._seen]

    def _build(self, joined: Sequence[Any]) -> dict[int, User]:
        """Users from joined rows, by id; a user already read in this transaction is kept."""
        # Each row read through its mapping: a Row's attributes cost five times as much, and
        # a user's rows are read for almost every update.
        rows = [row._mapping for row in joined]
        fresh = {row["id"]: row for row in rows if row["id"] not in self._seen}
        roles: dict[int, set[Role]] = {}
        accounts: dict[int, dict[tuple[str, str], ChannelAccount]] = {}
        for row in rows:
            user_id = row["id"]
            if user_id not in fresh:
                continue
            role = row["role_name"]
            if role is not None:
                roles.setdefault(user_id, set()).add(Role(role))
            platform = row["account_platform"]
            if platform is not None:
                key = (platform, row["account_external_id"])
                held = accounts.setdefault(user_id, {})
                if key not in held:
                    held[key] = ChannelAccount(platform, key[1], row["account_chat_id"])
        now = self.uow.clock.now()
        for user_id, row in fresh.items():
            user = User(
                id=user_id,
                display_name=row["display_name"],
                roles=frozenset(roles.get(user_id, ())),
                locale=row["locale"],
                timezone=row["timezone"],
                status=UserStatus(row["status"]),
                ban_reason=row["ban_reason"],
                banned_until=row["banned_until"],
                strikes=row["strikes"],
                phone_masked=row["phone_masked"],
                phone_verified_at=row["phone_verified_at"],
                accounts=tuple(accounts.get(user_id, {}).values()),
                merged_into=row["merged_into"],
                created_at=row["created_at"],
                version=row["version"],
            )
            # "Lifted on read": the row is corrected with the user's next save.
            user.lift_expired_ban(now)
            self._seen[user_id] = user
            self.uow.track(user)
        return {row["id"]: self._seen[row["id"]] for row in rows}

    async def phone_of(self, user_id: int) -> str | None:
        token = (
            await self.connection.execute(_PHONE_OF, {"user_id": user_id})
        ).scalar_one_or_none()
        return None if token is None else cipher_for(self.uow.engine).decrypt(token)

    async def has_history(self, user_id: int) -> bool:
        about_or_by = sa.or_(
            audit_log.c.actor_id == user_id,
            sa.and_(audit_log.c.entity == "user", audit_log.c.entity_id == str(user_id)),
        )
        found = (
            await self.connection.execute(
                sa.select(audit_log.c.id)
                .where(about_or_by, audit_log.c.action.not_in(sorted(BENIGN_ACTIONS)))
                .limit(1)
            )
        ).first()
        return found is not None

    # -- writing ------------------------------------------------------------------------

    def _values(self, user: User, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {
            "display_name": user.display_name,
            "locale": user.locale,
            "timezone": user.timezone,
            "status": user.status.value,
            "ban_reason": user.ban_reason,
            "banned_until": user.banned_until,
            "strikes": user.strikes,
            "phone_masked": user.phone_masked,
            "phone_verified_at": user.phone_verified_at,
            "merged_into": user.merged_into,
            "updated_at": now,
        }
        if user.new_phone is not None:
            values["phone_encrypted"] = cipher_for(self.uow.engine).encrypt(user.new_phone)
        return values

    async def add(self, user: User) -> None:
        now = self.uow.clock.now()
        result = await self.connection.execute(
            users.insert().values(**self._values(user, now), created_at=user.created_at, version=1)
        )
        user.id = int(result.inserted_primary_key[0])
        user.version = 1
        user.new_phone = None
        await self._write_roles(user.id, user.roles)
        await self._claim_accounts(user.id, user.accounts, now)
        self._seen[user.id] = user
        self.uow.track(user)

    async def save(self, user: User) -> None:
        now = self.uow.clock.now()
        user.version = await self.update_versioned(
            users, {"id": user.id}, user.version, self._values(user, now)
        )
        user.new_phone = None
        await self.connection.execute(_DELETE_ROLES, {"user_id": user.id})
        await self._write_roles(user.id, user.roles)
        await self._sync_accounts(user, now)
        self.uow.track(user)

    async def _write_roles(self, user_id: int, roles: Iterable[Role]) -> None:
        rows = [{"user_id": user_id, "role": r.value} for r in sorted(roles)]
        if rows:
            await self.connection.execute(user_roles.insert(), rows)

    async def _sync_accounts(self, user: User, now: datetime) -> None:
        current = {
            (row.platform, row.external_id): row.chat_id
            for row in (
                await self.connection.execute(_ACCOUNTS_OF, {"user_id": user.id})
            ).all()
        }
        wanted = {a.key: a for a in user.accounts}
        for platform, external_id in current.keys() - wanted.keys():
            await self.connection.execute(
                channel_accounts.delete().where(
                    channel_accounts.c.platform == platform,
                    channel_accounts.c.external_id == external_id,
                    channel_accounts.c.user_id == user.id,
                )
            )
        for key, account in wanted.items():
            if key in current and current[key] != account.chat_id:
                await self.connection.execute(
                    channel_accounts.update()
                    .where(
                        channel_accounts.c.platform == account.platform,
                        channel_accounts.c.external_id == account.external_id,
                    )
                    .values(chat_id=account.chat_id)
                )
        await self._claim_accounts(
            user.id, [a for k, a in wanted.items() if k not in current], now
        )

    async def _claim_accounts(
        self, user_id: int, accounts: Iterable[ChannelAccount], now: datetime
    ) -> None:
        for account in accounts:
            result = await self.connection.execute(
                self.insert(channel_accounts)
                .values(
                    platform=account.platform,
                    external_id=account.external_id,
                    user_id=user_id,
                    chat_id=account.chat_id,
                    linked_at=now,
                )
                .on_conflict_do_nothing(index_elements=["platform", "external_id"])
            )
            if result.rowcount != 1:
                # Somebody registered this account a moment ago; the retry will see them.
                raise ConcurrencyConflict(
                    "channel_accounts", platform=account.platform, external_id=account.external_id
                )


class SqlLinkCodeRepository(SqlRepository):
    async def add(self, code: LinkCode) -> None:
        await self.connection.execute(
            link_codes.insert().values(
                code_hash=code.code_hash,
                user_id=code.user_id,
                created_at=code.created_at,
                expires_at=code.expires_at,
            )
        )

    async def get_for_update(self, code_hash: str) -> LinkCode | None:
        row = (
            await self.connection.execute(
                self.for_update(sa.select(link_codes).where(link_codes.c.code_hash == code_hash))
            )
        ).first()
        if row is None:
            return None
        return LinkCode(
            code_hash=row.code_hash,
            user_id=row.user_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            used_at=row.used_at,
        )

    async def mark_used(
        self, code_hash: str, *, at: datetime, platform: str, external_id: str
    ) -> None:
        result = await self.connection.execute(
            link_codes.update()
            .where(link_codes.c.code_hash == code_hash, link_codes.c.used_at.is_(None))
            .values(used_at=at, used_platform=platform, used_external_id=external_id)
        )
        if result.rowcount != 1:
            raise DomainError("error.link.code_used")

    async def discard_unused(self, user_id: int) -> None:
        await self.connection.execute(
            link_codes.delete().where(
                link_codes.c.user_id == user_id, link_codes.c.used_at.is_(None)
            )
        )


class SqlBlockRepository(SqlRepository):
    async def add(self, blocker_id: int, blocked_id: int, at: datetime) -> bool:
        result = await self.connection.execute(
            self.insert(user_blocks)
            .values(blocker_id=blocker_id, blocked_id=blocked_id, created_at=at)
            .on_conflict_do_nothing(index_elements=["blocker_id", "blocked_id"])
        )
        return result.rowcount == 1

    async def remove(self, blocker_id: int, blocked_id: int) -> bool:
        result = await self.connection.execute(
            user_blocks.delete().where(
                user_blocks.c.blocker_id == blocker_id, user_blocks.c.blocked_id == blocked_id
            )
        )
        return result.rowcount == 1

    async def is_blocked(self, user_a: int, user_b: int) -> bool:
        found = (
            await self.connection.execute(_IS_BLOCKED, {
                "a_blocker": user_a, "b_blocked": user_b, "b_blocker": user_b, "a_blocked": user_a,
            })
        ).first()
        return found is not None

    async def blocked_by(self, blocker_id: int) -> list[int]:
        rows = await self.connection.execute(_BLOCKED_BY, {"blocker_id": blocker_id})
        return [int(r) for r in rows.scalars().all()]
