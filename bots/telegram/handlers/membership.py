"""What the bot learns from being blocked, or removed from a group (`my_chat_member`).

- A person who blocks the bot (their private chat turns "kicked") can no longer be sent
  anything; a provider among them who was online goes offline, so customers stop seeing
  them as available and no order card is sent where it cannot arrive. Unblocking changes
  nothing: they go online again themselves.
- The bot removed from the operators' group (`YUEBAN_TELEGRAM_ADMIN_CHAT_ID`) is logged as
  an error, since applications, disputes, withdrawals and alerts cannot reach the operators
  there until it is added back (the admin CLI still lists them); added back, as information.
Nothing is answered: there is nowhere to answer.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import IS_MEMBER, IS_NOT_MEMBER, KICKED, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated

from bots.telegram.handlers.operator import OperatorGroup
from bots.telegram.middlewares import Actor
from core.catalog.commands import ProviderUnreachable
from core.messagebus import MessageBus

log = logging.getLogger(__name__)


def router() -> Router:
    membership = Router(name="membership")
    membership.my_chat_member.register(
        on_blocked, F.chat.type == "private", ChatMemberUpdatedFilter(member_status_changed=KICKED)
    )
    membership.my_chat_member.register(
        on_removed_from_group, F.chat.type.in_({"group", "supergroup"}),
        ChatMemberUpdatedFilter(member_status_changed=IS_MEMBER >> IS_NOT_MEMBER),
    )
    membership.my_chat_member.register(
        on_added_to_group, F.chat.type.in_({"group", "supergroup"}),
        ChatMemberUpdatedFilter(member_status_changed=IS_NOT_MEMBER >> IS_MEMBER),
    )
    return membership


async def on_blocked(event: ChatMemberUpdated, actor: Actor | None, bus: MessageBus) -> None:
    if actor is None:
        return
    if await bus.handle(ProviderUnreachable(actor_id=actor.user_id, provider_id=actor.user_id)):
        log.info("provider %s blocked the bot: taken offline", actor.user_id)


def _operators(event: ChatMemberUpdated, operator_group: OperatorGroup | None) -> bool:
    return operator_group is not None and str(event.chat.id) == operator_group.chat_id


async def on_removed_from_group(
    event: ChatMemberUpdated, operator_group: OperatorGroup | None = None
) -> None:
    if _operators(event, operator_group):
        log.error(
            "the bot was removed from the operators' group %s by user %s: applications, "
            "disputes, withdrawals and alerts cannot reach the operators there until it is "
            "added back (yueban admin lists them meanwhile)",
            event.chat.id, event.from_user.id,
        )


async def on_added_to_group(
    event: ChatMemberUpdated, operator_group: OperatorGroup | None = None
) -> None:
    if _operators(event, operator_group):
        log.info("the bot is in the operators' group %s again", event.chat.id)
