"""What people are told about identity events, as platform-neutral Notices.

`notices_for(event)` is called by the outbox dispatcher; texts live under `notice.user.*` in
`bots/i18n/locales/*/LC_MESSAGES/identity.po`. Dedup keys derive from the event id, so a
redelivered event never produces a second message.
"""

from __future__ import annotations

from collections.abc import Callable

from core.identity import events
from core.shared.messages import Event, Notice


def _banned(e: events.UserBanned) -> list[Notice]:
    if e.until is None:
        return [Notice(e.user_id, "notice.user.banned", {"reason": e.reason},
                       dedup_key=f"{e.event_id}:banned")]
    return [Notice(e.user_id, "notice.user.banned_until",
                   {"reason": e.reason, "until": e.until.isoformat()},
                   dedup_key=f"{e.event_id}:banned")]


def _unbanned(e: events.UserUnbanned) -> list[Notice]:
    return [Notice(e.user_id, "notice.user.unbanned", {}, dedup_key=f"{e.event_id}:unbanned")]


def _role_granted(e: events.RoleGranted) -> list[Notice]:
    return [Notice(e.user_id, "notice.user.role_granted", {"role": e.role},
                   dedup_key=f"{e.event_id}:role")]


def _role_revoked(e: events.RoleRevoked) -> list[Notice]:
    return [Notice(e.user_id, "notice.user.role_revoked", {"role": e.role},
                   dedup_key=f"{e.event_id}:role")]


def _linked(e: events.ChannelLinked) -> list[Notice]:
    return [Notice(e.user_id, "notice.user.channel_linked", {"platform": e.platform},
                   dedup_key=f"{e.event_id}:linked")]


def _phone(e: events.PhoneVerified) -> list[Notice]:
    return [Notice(e.user_id, "notice.user.phone_verified", {"phone_masked": e.phone_masked},
                   dedup_key=f"{e.event_id}:phone")]


def _strike(e: events.StrikeRecorded) -> list[Notice]:
    return [Notice(e.user_id, "notice.user.strike", {"strikes": e.strikes, "reason": e.reason},
                   dedup_key=f"{e.event_id}:strike")]


BUILDERS: dict[type[Event], Callable[..., list[Notice]]] = {
    events.UserBanned: _banned,
    events.UserUnbanned: _unbanned,
    events.RoleGranted: _role_granted,
    events.RoleRevoked: _role_revoked,
    events.ChannelLinked: _linked,
    events.PhoneVerified: _phone,
    events.StrikeRecorded: _strike,
}


def notices_for(event: Event) -> list[Notice]:
    builder = BUILDERS.get(type(event))
    return builder(event) if builder else []
