"""The User aggregate, its channel accounts, roles and status, and the link code value.

A user is a person; a `ChannelAccount` is one way to reach them (a Telegram user, a WeChat
openid). The core never knows a `tg_id`: it knows `(platform, external_id)` pairs, unique
across all users. Every verb on `User` guards, moves and records an event; handlers add the
audit row.

Phone numbers: the aggregate holds only the masked form (`138****5678`). A newly verified
number travels to storage in `new_phone` (never printed, never put in an event), where it is
encrypted before it is written; the clear number is read back only for its owner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.identity import events
from core.shared.aggregate import Aggregate
from core.shared.errors import DomainError

PLATFORMS = ("telegram", "wechat")
LOCALES = ("zh", "en")
MAX_DISPLAY_NAME = 64
MAX_EXTERNAL_ID = 128
MAX_REASON = 500
LINK_CODE_TTL = timedelta(minutes=10)
# No 0/O, 1/I/L: a code is read off one screen and typed into another chat.
LINK_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LINK_CODE_LENGTH = 8


class Role(StrEnum):
    CUSTOMER = "customer"
    PROVIDER = "provider"
    OPERATOR = "operator"
    VENUE_MANAGER = "venue_manager"


class UserStatus(StrEnum):
    ACTIVE = "active"
    BANNED = "banned"
    # Merged into another user by account linking; kept so old references still resolve.
    RETIRED = "retired"


def parse_role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise DomainError(
            "error.user.unknown_role", role=str(value), roles=", ".join(r.value for r in Role)
        ) from None


def parse_status(value: str | UserStatus) -> UserStatus:
    try:
        return UserStatus(value)
    except ValueError:
        raise DomainError(
            "error.user.unknown_status",
            status=str(value),
            statuses=", ".join(s.value for s in UserStatus),
        ) from None


def check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise DomainError(
            "error.user.unknown_platform", platform=platform, platforms=", ".join(PLATFORMS)
        )
    return platform


def check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise DomainError("error.user.unsupported_locale", locale=locale, locales="zh, en")
    return locale


def check_timezone(name: str) -> str:
    """An IANA zone name the standard library knows ("Asia/Shanghai"), or a DomainError."""
    if not name or name != name.strip() or name.startswith("/") or ".." in name:
        raise DomainError("error.user.invalid_timezone", timezone=name)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError, UnicodeEncodeError):
        raise DomainError("error.user.invalid_timezone", timezone=name) from None
    return name


def locale_from_language_code(code: str | None, default: str) -> str:
    """Telegram's `language_code` ("zh-hans", "en-US") -> "zh" | "en"; missing -> default."""
    if not code:
        return default
    base = code.replace("_", "-").split("-")[0].strip().lower()
    if base in LOCALES:
        return base
    # Anyone who does not read Chinese is better served in English.
    return "en"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_display_name(name: str | None, fallback: str) -> str:
    text = _CONTROL.sub(" ", name or "").strip()
    text = " ".join(text.split())[:MAX_DISPLAY_NAME]
    return text or fallback


def clean_reason(reason: str | None, *, required: bool, key: str) -> str | None:
    text = (reason or "").strip()
    if not text:
        if required:
            raise DomainError(key)
        return None
    if len(text) > MAX_REASON:
        raise DomainError("error.user.reason_too_long", limit=MAX_REASON)
    return text


_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


def normalize_phone(raw: str) -> str:
    """A phone as shared by a chat client ("+86 138-1234-5678", "8613812345678") -> "+8613812345678".

    Telegram sends international numbers with or without the leading "+"; we keep E.164
    digits (6 to 15 of them) and refuse anything else.
    """
    text = _PHONE_SEPARATORS.sub("", raw or "")
    if text.startswith("+"):
        text = text[1:]
    if not text.isdigit() or not text.isascii() or not 6 <= len(text) <= 15:
        raise DomainError("error.user.phone_invalid")
    return "+" + text


def mask_phone(phone: str) -> str:
    """"+8613812345678" -> "138****5678": the national number with its middle hidden."""
    digits = phone.lstrip("+")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) <= 7:
        return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]
    return digits[:3] + "****" + digits[-4:]


@dataclass(frozen=True)
class ChannelAccount:
    platform: str
    external_id: str
    chat_id: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.external_id)


def check_account(account: ChannelAccount) -> ChannelAccount:
    check_platform(account.platform)
    for name, value in (("external_id", account.external_id), ("chat_id", account.chat_id)):
        if not value or not value.strip() or len(value) > MAX_EXTERNAL_ID:
            raise DomainError("error.user.invalid_account", field=name)
    return account


@dataclass(kw_only=True)
class User(Aggregate):
    id: int
    display_name: str
    roles: frozenset[Role]
    locale: str
    timezone: str
    status: UserStatus = UserStatus.ACTIVE
    ban_reason: str | None = None
    banned_until: datetime | None = None
    strikes: int = 0
    phone_masked: str | None = None
    phone_verified_at: datetime | None = None
    accounts: tuple[ChannelAccount, ...] = ()
    merged_into: int | None = None
    created_at: datetime
    # A freshly verified number on its way to storage (encrypted there); never shown.
    new_phone: str | None = field(default=None, repr=False, compare=False)

    # -- creation -----------------------------------------------------------------------

    @classmethod
    def new(
        cls,
        *,
        account: ChannelAccount,
        display_name: str,
        locale: str,
        timezone: str,
        at: datetime,
    ) -> User:
        """A customer reached through one account; `id` is 0 until storage assigns it."""
        check_account(account)
        return cls(
            id=0,
            display_name=clean_display_name(display_name, f"user{account.external_id[-4:]}"),
            roles=frozenset({Role.CUSTOMER}),
            locale=check_locale(locale),
            timezone=check_timezone(timezone),
            accounts=(account,),
            created_at=at,
        )

    def registered(self, at: datetime) -> None:
        """Record the registration once storage has given the user an id."""
        account = self.accounts[0]
        self.record(
            events.UserRegistered(
                user_id=self.id,
                platform=account.platform,
                external_id=account.external_id,
                display_name=self.display_name,
                locale=self.locale,
                at=at,
            )
        )

    # -- reading ------------------------------------------------------------------------

    def status_at(self, now: datetime) -> UserStatus:
        """The status as of `now`: a ban whose `until` has passed no longer holds."""
        if (
            self.status is UserStatus.BANNED
            and self.banned_until is not None
            and self.banned_until <= now
        ):
            return UserStatus.ACTIVE
        return self.status

    def lift_expired_ban(self, now: datetime) -> bool:
        """Apply an expired ban's end to this copy (read path; saved with the next change)."""
        if self.status is UserStatus.BANNED and self.status_at(now) is UserStatus.ACTIVE:
            self.status, self.ban_reason, self.banned_until = UserStatus.ACTIVE, None, None
            return True
        return False

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def account_on(self, platform: str) -> ChannelAccount | None:
        return next((a for a in self.accounts if a.platform == platform), None)

    def owns_account(self, platform: str, external_id: str) -> bool:
        return any(a.key == (platform, external_id) for a in self.accounts)

    # -- verbs --------------------------------------------------------------------------

    def ban(self, *, reason: str, until: datetime | None, actor_id: int | None, now: datetime) -> None:
        self._ensure_not_retired()
        if self.status_at(now) is UserStatus.BANNED:
            raise DomainError("error.user.already_banned", user_id=self.id)
        if until is not None and until <= now:
            raise DomainError("error.user.ban_until_past", until=until.isoformat())
        self.status, self.ban_reason, self.banned_until = UserStatus.BANNED, reason, until
        self.record(
            events.UserBanned(
                user_id=self.id, reason=reason, until=until, actor_id=actor_id, at=now
            )
        )

    def unban(self, *, reason: str | None, actor_id: int | None, now: datetime) -> None:
        self._ensure_not_retired()
        if self.status_at(now) is not UserStatus.BANNED:
            raise DomainError("error.user.not_banned", user_id=self.id)
        self.status, self.ban_reason, self.banned_until = UserStatus.ACTIVE, None, None
        self.record(
            events.UserUnbanned(user_id=self.id, reason=reason, actor_id=actor_id, at=now)
        )

    def grant_role(self, role: Role, *, actor_id: int | None, now: datetime) -> None:
        self._ensure_not_retired()
        if role in self.roles:
            raise DomainError("error.user.role_already_granted", user_id=self.id, role=role.value)
        self.roles = self.roles | {role}
        self.record(
            events.RoleGranted(user_id=self.id, role=role.value, actor_id=actor_id, at=now)
        )

    def revoke_role(self, role: Role, *, actor_id: int | None, now: datetime) -> None:
        self._ensure_not_retired()
        if role not in self.roles:
            raise DomainError("error.user.role_not_held", user_id=self.id, role=role.value)
        self.roles = self.roles - {role}
        self.record(
            events.RoleRevoked(user_id=self.id, role=role.value, actor_id=actor_id, at=now)
        )

    def set_locale(self, locale: str, *, now: datetime) -> bool:
        check_locale(locale)
        if locale == self.locale:
            return False
        self.locale = locale
        self.record(events.LocaleChanged(user_id=self.id, locale=locale, at=now))
        return True

    def set_timezone(self, timezone: str, *, now: datetime) -> bool:
        check_timezone(timezone)
        if timezone == self.timezone:
            return False
        self.timezone = timezone
        self.record(events.TimezoneChanged(user_id=self.id, timezone=timezone, at=now))
        return True

    def add_strike(self, reason: str, *, now: datetime) -> int:
        self._ensure_not_retired()
        self.strikes += 1
        self.record(
            events.StrikeRecorded(user_id=self.id, strikes=self.strikes, reason=reason, at=now)
        )
        return self.strikes

    def verify_phone(self, phone: str, *, source: str, now: datetime) -> None:
        """Keep a number proven through the channel; `phone` is already normalised."""
        self._ensure_not_retired()
        self.new_phone = phone
        self.phone_masked = mask_phone(phone)
        self.phone_verified_at = now
        self.record(
            events.PhoneVerified(
                user_id=self.id, phone_masked=self.phone_masked, source=source, at=now
            )
        )

    def talks_from(self, account: ChannelAccount) -> bool:
        """This user holds `account` and it talks from the chat on file (nothing to update)."""
        return any(a.key == account.key and a.chat_id == account.chat_id for a in self.accounts)

    def update_chat(self, account: ChannelAccount) -> bool:
        """The chat a known account talks from changed (e.g. a new WeChat session)."""
        updated = tuple(
            replace(a, chat_id=account.chat_id) if a.key == account.key else a
            for a in self.accounts
        )
        if updated == self.accounts:
            return False
        self.accounts = updated
        return True

    def link_account(self, account: ChannelAccount, *, now: datetime) -> None:
        """Attach one more chat account (another platform) to this person."""
        self._ensure_not_retired()
        check_account(account)
        if self.owns_account(*account.key):
            raise DomainError("error.link.already_linked", platform=account.platform)
        if self.account_on(account.platform) is not None:
            raise DomainError("error.link.platform_taken", platform=account.platform)
        self.accounts = (*self.accounts, account)
        self.record(
            events.ChannelLinked(
                user_id=self.id,
                platform=account.platform,
                external_id=account.external_id,
                at=now,
            )
        )

    def absorb(self, other: User, *, now: datetime) -> None:
        """Take over every account of `other` (a fresh duplicate of this person) and retire it."""
        self._ensure_not_retired()
        if other.id == self.id:
            raise DomainError("error.link.already_linked", platform=other.accounts[0].platform)
        for account in other.accounts:
            if self.account_on(account.platform) is not None:
                raise DomainError("error.link.platform_taken", platform=account.platform)
        moved = other.accounts
        other.retire(into=self.id, now=now)
        for account in moved:
            self.link_account(account, now=now)
        self.record(events.UsersMerged(retired_user_id=other.id, into_user_id=self.id, at=now))

    def retire(self, *, into: int, now: datetime) -> None:
        self._ensure_not_retired()
        self.status = UserStatus.RETIRED
        self.merged_into = into
        self.accounts = ()

    def _ensure_not_retired(self) -> None:
        if self.status is UserStatus.RETIRED:
            raise DomainError("error.user.retired", user_id=self.id, merged_into=self.merged_into)


@dataclass(frozen=True)
class LinkCode:
    """A one-time code that lets another chat account join `user_id`. Stored hashed."""

    code_hash: str
    user_id: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def check_redeemable(self, now: datetime) -> None:
        if self.used_at is not None:
            raise DomainError("error.link.code_used")
        if now >= self.expires_at:
            raise DomainError("error.link.code_expired")


def normalize_link_code(raw: str) -> str:
    """What a person types ("abcd-2345 ", "ABCD2345") -> "ABCD2345", or a DomainError."""
    code = re.sub(r"[\s\-]", "", raw or "").upper()
    if len(code) != LINK_CODE_LENGTH or any(ch not in LINK_CODE_ALPHABET for ch in code):
        raise DomainError("error.link.code_invalid")
    return code


@dataclass(frozen=True)
class IssuedLinkCode:
    """What the person is shown: the code itself (only now) and when it stops working."""

    code: str
    user_id: int
    expires_at: datetime
