"""The User aggregate: bans that end, roles, preferences, phones, linking, link codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.identity import events
from core.identity.guards import ensure_can_act
from core.identity.linking import hash_link_code, is_fresh, make_link_code, new_link_code
from core.identity.model import (
    LINK_CODE_LENGTH,
    ChannelAccount,
    Role,
    User,
    UserStatus,
    check_timezone,
    locale_from_language_code,
    mask_phone,
    normalize_link_code,
    normalize_phone,
)
from core.shared.errors import DomainError

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TG = ChannelAccount("telegram", "1001", "1001")
WX = ChannelAccount("wechat", "o6_bmjrPTlm6", "o6_bmjrPTlm6")


def make_user(user_id: int = 1, account: ChannelAccount = TG) -> User:
    user = User.new(account=account, display_name="Ann", locale="en", timezone="Asia/Shanghai", at=NOW)
    user.id = user_id
    return user


def test_a_new_user_is_an_active_customer_reached_through_one_account() -> None:
    user = make_user()
    assert user.roles == frozenset({Role.CUSTOMER})
    assert user.status is UserStatus.ACTIVE
    assert user.accounts == (TG,)
    assert user.strikes == 0 and user.phone_masked is None


def test_an_empty_display_name_gets_a_readable_fallback() -> None:
    user = User.new(account=WX, display_name="  \x00 ", locale="zh", timezone="UTC", at=NOW)
    assert user.display_name == "userTlm6"


def test_an_unknown_platform_is_refused() -> None:
    with pytest.raises(DomainError) as error:
        User.new(account=ChannelAccount("icq", "1", "1"), display_name="x", locale="zh",
                 timezone="UTC", at=NOW)
    assert error.value.key == "error.user.unknown_platform"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "Asia/Shanghai ", "../etc/passwd", "/etc/localtime"])
def test_invalid_time_zones_are_refused(name: str) -> None:
    with pytest.raises(DomainError) as error:
        check_timezone(name)
    assert error.value.key == "error.user.invalid_timezone"


def test_valid_time_zone_and_locale_changes_record_events_once() -> None:
    user = make_user()
    assert user.set_timezone("Europe/London", now=NOW) is True
    assert user.set_timezone("Europe/London", now=NOW) is False
    assert user.set_locale("zh", now=NOW) is True
    assert [type(e) for e in user.events] == [events.TimezoneChanged, events.LocaleChanged]
    with pytest.raises(DomainError) as error:
        user.set_locale("fr", now=NOW)
    assert error.value.key == "error.user.unsupported_locale"


@pytest.mark.parametrize(
    ("code", "locale"),
    [("zh-hans", "zh"), ("zh_TW", "zh"), ("en-US", "en"), ("ru", "en"), (None, "zh"), ("", "zh")],
)
def test_the_locale_follows_the_chat_language(code: str | None, locale: str) -> None:
    assert locale_from_language_code(code, default="zh") == locale


def test_a_timed_ban_stops_the_user_until_it_ends() -> None:
    user = make_user()
    user.ban(reason="spam", until=NOW + timedelta(days=1), actor_id=None, now=NOW)
    with pytest.raises(DomainError) as error:
        ensure_can_act(user, NOW + timedelta(hours=23))
    assert error.value.key == "error.user.banned"
    ensure_can_act(user, NOW + timedelta(days=1))  # over: no error
    assert user.lift_expired_ban(NOW + timedelta(days=2)) is True
    assert user.status is UserStatus.ACTIVE and user.ban_reason is None


def test_a_ban_cannot_end_in_the_past_nor_be_doubled() -> None:
    user = make_user()
    with pytest.raises(DomainError) as error:
        user.ban(reason="spam", until=NOW - timedelta(minutes=1), actor_id=None, now=NOW)
    assert error.value.key == "error.user.ban_until_past"
    user.ban(reason="spam", until=None, actor_id=None, now=NOW)
    with pytest.raises(DomainError) as error:
        user.ban(reason="again", until=None, actor_id=None, now=NOW)
    assert error.value.key == "error.user.already_banned"


def test_unbanning_someone_who_is_not_banned_is_refused() -> None:
    user = make_user()
    with pytest.raises(DomainError) as error:
        user.unban(reason=None, actor_id=None, now=NOW)
    assert error.value.key == "error.user.not_banned"


def test_roles_are_granted_and_revoked_once() -> None:
    user = make_user()
    user.grant_role(Role.PROVIDER, actor_id=7, now=NOW)
    assert user.has_role(Role.PROVIDER)
    with pytest.raises(DomainError):
        user.grant_role(Role.PROVIDER, actor_id=7, now=NOW)
    user.revoke_role(Role.PROVIDER, actor_id=7, now=NOW)
    with pytest.raises(DomainError) as error:
        user.revoke_role(Role.PROVIDER, actor_id=7, now=NOW)
    assert error.value.key == "error.user.role_not_held"


@pytest.mark.parametrize(
    ("raw", "normal", "masked"),
    [
        ("+86 138-1234-5678", "+8613812345678", "138****5678"),
        ("8613812345678", "+8613812345678", "138****5678"),
        ("+1 (415) 555-0123", "+14155550123", "141****0123"),
    ],
)
def test_phones_are_normalised_and_masked(raw: str, normal: str, masked: str) -> None:
    assert normalize_phone(raw) == normal
    assert mask_phone(normal) == masked


@pytest.mark.parametrize("raw", ["", "call me", "+12", "1" * 16, "١٣٨١٢٣٤٥٦٧٨"])
def test_what_is_not_a_phone_number_is_refused(raw: str) -> None:
    with pytest.raises(DomainError) as error:
        normalize_phone(raw)
    assert error.value.key == "error.user.phone_invalid"


def test_a_verified_phone_is_kept_masked_and_never_put_in_an_event() -> None:
    user = make_user()
    user.verify_phone("+8613812345678", source="telegram_contact", now=NOW)
    assert user.phone_masked == "138****5678"
    assert "13812345678" not in repr(user)
    (event,) = user.events
    assert "13812345678" not in str(event.to_payload())


def test_linking_adds_one_account_per_platform() -> None:
    user = make_user()
    user.link_account(WX, now=NOW)
    assert user.account_on("wechat") == WX
    with pytest.raises(DomainError) as error:
        user.link_account(ChannelAccount("wechat", "other", "other"), now=NOW)
    assert error.value.key == "error.link.platform_taken"


def test_absorbing_a_duplicate_moves_its_accounts_and_retires_it() -> None:
    main, duplicate = make_user(1, TG), make_user(2, WX)
    assert is_fresh(duplicate)
    main.absorb(duplicate, now=NOW)
    assert {a.platform for a in main.accounts} == {"telegram", "wechat"}
    assert duplicate.status is UserStatus.RETIRED and duplicate.merged_into == 1
    assert duplicate.accounts == ()
    with pytest.raises(DomainError) as error:
        ensure_can_act(duplicate, NOW)
    assert error.value.key == "error.user.retired"


def test_a_user_with_a_role_or_a_strike_is_not_fresh() -> None:
    provider, striker = make_user(1), make_user(2)
    provider.grant_role(Role.PROVIDER, actor_id=None, now=NOW)
    striker.add_strike("shared a phone number", now=NOW)
    assert not is_fresh(provider) and not is_fresh(striker)


def test_link_codes_are_short_unambiguous_and_stored_hashed() -> None:
    code, link = make_link_code(1, NOW, timedelta(minutes=10))
    assert len(code) == LINK_CODE_LENGTH and not set(code) & set("01OIL")
    assert link.code_hash == hash_link_code(code) != code
    assert link.expires_at == NOW + timedelta(minutes=10)
    assert len({new_link_code() for _ in range(200)}) == 200


def test_typed_codes_are_forgiving_about_case_and_dashes_but_not_content() -> None:
    assert normalize_link_code(" abcd-2345 ") == "ABCD2345"
    for wrong in ("ABCD234", "ABCD23450", "ABCD2340", ""):
        with pytest.raises(DomainError) as error:
            normalize_link_code(wrong)
        assert error.value.key == "error.link.code_invalid"


def test_a_link_code_works_once_and_only_for_ten_minutes() -> None:
    _, link = make_link_code(1, NOW, timedelta(minutes=10))
    link.check_redeemable(NOW + timedelta(minutes=9))
    with pytest.raises(DomainError) as error:
        link.check_redeemable(NOW + timedelta(minutes=10))
    assert error.value.key == "error.link.code_expired"
    with pytest.raises(DomainError) as error:
        replace(link, used_at=NOW).check_redeemable(NOW)
    assert error.value.key == "error.link.code_used"
