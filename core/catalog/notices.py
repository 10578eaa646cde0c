"""What people are told about onboarding and provider status, as platform-neutral Notices.

`notices_of(event, operator_ids=…)` maps a catalog event to the notices it causes: the
applicant hears about their application, operators get a card with approve / reject actions,
a provider hears about a suspension, a reinstatement or being taken offline for inactivity.
Texts live in `bots/i18n/locales/*/LC_MESSAGES/catalog.po`; each channel renders the actions
as buttons or numbered text. `notices_for(event, uow)` is what the notice registry calls: it
looks up the active operators for an application card, then maps. Dedup keys are derived
from the event id, so a notice delivered twice (at-least-once outbox) is dropped by the
channel.

The operators' cards are marked `for_operators`: where an operators' group gets its own card
for a new application (Telegram's admin group), the outbox relay sends that one instead, so
the cards here reach operators one by one only where no group does.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.catalog.events import (
    ApplicationApproved,
    ApplicationRejected,
    ApplicationSubmitted,
    ProviderPresenceChanged,
    ProviderReinstated,
    ProviderSuspended,
)
from core.identity.model import Role, UserStatus
from core.identity.ports import UserFilter
from core.ports import UnitOfWork
from core.shared.messages import Action, Event, Notice

# Every active operator gets the card for a new application (the first to act decides).
MAX_OPERATORS = 200

CATALOG_EVENTS = (
    ApplicationSubmitted,
    ApplicationApproved,
    ApplicationRejected,
    ProviderSuspended,
    ProviderReinstated,
    ProviderPresenceChanged,
)


def _notice(
    event: Event, recipient: int, key: str, actions: tuple[Action, ...] = (), *,
    for_operators: bool = False, **params: object,
) -> Notice:
    return Notice(
        recipient_user_id=recipient,
        key=key,
        params=dict(params),
        actions=actions,
        dedup_key=f"{event.event_id}:{recipient}:{key}",
        for_operators=for_operators,
    )


async def notices_for(event: Event, uow: UnitOfWork) -> list[Notice]:
    """The notices `event` causes, with the operators who review applications looked up."""
    operator_ids: list[int] = []
    if isinstance(event, ApplicationSubmitted):
        operators, _ = await uow.users.list(
            UserFilter(role=Role.OPERATOR, status=UserStatus.ACTIVE, limit=MAX_OPERATORS), event.at
        )
        operator_ids = [user.id for user in operators]
    return notices_of(event, operator_ids=operator_ids)


def notices_of(event: Event, *, operator_ids: Sequence[int] = ()) -> list[Notice]:
    """The notices `event` causes; [] for an event this area does not speak about."""
    if isinstance(event, ApplicationSubmitted):
        card_actions = (
            Action("application.approve", {"application_id": event.application_id}, "catalog.action.approve"),
            Action("application.reject", {"application_id": event.application_id}, "catalog.action.reject"),
            Action("application.show", {"application_id": event.application_id}, "catalog.action.show"),
        )
        return [
            _notice(
                event, event.user_id, "catalog.notice.application_received",
                application_id=event.application_id,
            ),
            *(
                _notice(
                    event, operator, "catalog.notice.application_pending", card_actions,
                    for_operators=True,
                    application_id=event.application_id,
                    user_id=event.user_id,
                    display_name=event.display_name,
                    offers=len(event.category_ids),
                )
                for operator in operator_ids
                if operator != event.user_id
            ),
        ]
    if isinstance(event, ApplicationApproved):
        go_online = (Action("provider.go_online", {"provider_id": event.user_id}, "catalog.action.go_online"),)
        if event.reason:
            return [
                _notice(
                    event, event.user_id, "catalog.notice.application_approved_with_note", go_online,
                    application_id=event.application_id, reason=event.reason,
                )
            ]
        return [
            _notice(
                event, event.user_id, "catalog.notice.application_approved", go_online,
                application_id=event.application_id,
            )
        ]
    if isinstance(event, ApplicationRejected):
        return [
            _notice(
                event, event.user_id, "catalog.notice.application_rejected",
                (Action("application.reapply", {}, "catalog.action.reapply"),),
                application_id=event.application_id, reason=event.reason,
            )
        ]
    if isinstance(event, ProviderSuspended):
        return [_notice(event, event.provider_id, "catalog.notice.provider_suspended", reason=event.reason)]
    if isinstance(event, ProviderReinstated):
        return [
            _notice(
                event, event.provider_id, "catalog.notice.provider_reinstated",
                (Action("provider.go_online", {"provider_id": event.provider_id}, "catalog.action.go_online"),),
            )
        ]
    if isinstance(event, ProviderPresenceChanged) and event.automatic:
        return [
            _notice(
                event, event.provider_id, "catalog.notice.auto_offline",
                (Action("provider.go_online", {"provider_id": event.provider_id}, "catalog.action.go_online"),),
            )
        ]
    return []
