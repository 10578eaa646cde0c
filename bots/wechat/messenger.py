"""`WeChatMessenger`: the core's `Messenger` port for the WeChat official account.

A `Notice` is rendered in the reader's language and time zone, then sent the way WeChat
allows at that moment:

- Inside the customer-service window (the person wrote within 48 hours, or tapped the menu
  within a minute) and its quota: one customer-service message. A notice with actions is a
  `msgmenu`, each action a tappable line whose id is its token (`act:order.accept:42`), so
  the tap comes back as a text with `bizmsgmenuid` and works whatever the person was doing.
  When the person is not answering a prompt of a flow, the lines are numbered and become
  their numbered choices, so replying "1" works as well as tapping; in the middle of a flow
  they are not numbered, so a number meant for the flow never triggers a notice's action.
- Outside the window, or with the quota spent: a template message with short fields, if a
  template is configured. The template must have the keys `thing1` (what happened, at most
  20 characters), `character_string2` (the order number, or "-"), `time3` (when) and
  `thing4` (a hint to write back, which reopens the window for the details).
- Window closed and no template possible: `DeliveryResult(delivered=False,
  failure="window_closed")`, which the relay reports to the core (`NoticeUndelivered`):
  never a silent loss.

A person who unfollowed the account (43004) or an openid WeChat does not know (40003) is
`blocked` / `chat_not_found`. WeChat unreachable, or a system error, raises so the relay
tries again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bots.i18n import gettext
from bots.wechat.client import CustomerServiceUnavailable, WeChatApi, WeChatApiError
from bots.wechat.render import notice_choices, notice_text, split_text, template_fields
from bots.wechat.sessions import SessionStore
from core.ports import ChannelAddress, DeliveryResult
from core.shared.messages import Notice

log = logging.getLogger(__name__)

ERR_REQUIRE_SUBSCRIBE = 43004
ERR_INVALID_OPENID = 40003
ERR_SYSTEM_BUSY = -1
# msgmenu choices are short lines; WeChat shows at most a handful comfortably.
MAX_MENU_CHOICES = 8
# Marks numbered choices that came from a notice (a newer notice may replace them).
FROM_NOTICE = "from_notice"


class WeChatMessenger:
    platform = "wechat"

    def __init__(
        self,
        api: WeChatApi,
        *,
        template_id: str | None = None,
        sessions: SessionStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.template_id = template_id or None
        self.sessions = sessions
        self._clock = clock

    async def deliver(self, notice: Notice, address: ChannelAddress) -> DeliveryResult:
        openid = address.chat_id
        text = notice_text(notice, address.locale, address.timezone)
        choices = notice_choices(notice.actions, address.locale)[:MAX_MENU_CHOICES]
        session = await self.sessions.load(openid) if self.sessions and choices else None
        # Numbers only when they cannot hijack a prompt the person is answering right now.
        numbered = session is not None and (session.idle or session.data == {FROM_NOTICE: True})
        shown = ([(token, f"{index}. {label}") for index, (token, label) in enumerate(choices, 1)]
                 if numbered else choices)
        try:
            await self._customer_service(openid, text, shown, address.locale)
        except CustomerServiceUnavailable as closed:
            log.info("notice %s to %s outside the service window (%s); trying a template",
                     notice.key, openid, closed.errcode)
            return await self._template(notice, address)
        except WeChatApiError as error:
            return self._refused(notice, openid, error)
        if numbered and session is not None and self.sessions is not None:
            session.step, session.data, session.choices = "", {FROM_NOTICE: True}, list(choices)
            await self.sessions.save(openid, session)
        return DeliveryResult(delivered=True)

    async def _customer_service(self, openid: str, text: str,
                                choices: list[tuple[str, str]], locale: str) -> None:
        # One message per notice: every customer-service message spends the window's quota.
        pieces = split_text(text)
        if not choices:
            for piece in pieces:
                await self.api.send_text(openid, piece)
            return
        for piece in pieces[:-1]:
            await self.api.send_text(openid, piece)
        await self.api.send_choices(openid, pieces[-1], choices,
                                    tail=gettext("wx.menu_tail", locale))

    async def _template(self, notice: Notice, address: ChannelAddress) -> DeliveryResult:
        if self.template_id is None:
            return DeliveryResult(delivered=False, failure="window_closed")
        fields = template_fields(notice, address.locale, address.timezone, self._clock())
        try:
            msgid = await self.api.send_template(address.chat_id, self.template_id, fields)
        except WeChatApiError as error:
            result = self._refused(notice, address.chat_id, error)
            if result.failure == "rejected":
                # The template was refused (not configured in WeChat, fields too long):
                # the window is closed and no template is possible.
                return DeliveryResult(delivered=False, failure="window_closed")
            return result
        return DeliveryResult(delivered=True, channel_message_id=str(msgid))

    def _refused(self, notice: Notice, openid: str, error: WeChatApiError) -> DeliveryResult:
        if error.errcode is None or error.errcode == ERR_SYSTEM_BUSY:
            raise error  # WeChat unreachable or busy: the relay tries again later
        if error.errcode == ERR_REQUIRE_SUBSCRIBE:
            return DeliveryResult(delivered=False, failure="blocked")
        if error.errcode == ERR_INVALID_OPENID:
            return DeliveryResult(delivered=False, failure="chat_not_found")
        log.error("WeChat refused notice %s to %s: %s", notice.key, openid, error)
        return DeliveryResult(delivered=False, failure="rejected")
