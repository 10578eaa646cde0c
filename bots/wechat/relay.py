"""The relay's WeChat transport: order chats to and from people in the official account.

Inbound: what a person writes that is no command, no number for a prompt and no answer to
a flow becomes the core's `RouteInbound` (text, a photo's MediaId, a voice message, a
location); the plan that comes back is carried out by `WeChatCourier`, one recipient at a
time, through the carrier of the recipient's platform: `WeChatCarrier` here, and for other
platforms the carriers the composition root gives (Telegram's). Each delivered copy is
recorded with `RecordRelayed`; a refusal with `ReportRelayFailed`, so the core can tell the
sender.

Outbound (`WeChatCarrier`, also handed to the Telegram transport for WeChat recipients):
WeChat shows no forwarded messages and no inline buttons, so every relayed message starts
with the header naming the order and who wrote ("【YB0001A·服务者】"), then the masked
text. A photo goes through WeChat's media upload (from the original platform's media
source); what WeChat cannot show (a Telegram sticker, an ogg voice note, a video) arrives
as a placeholder saying what it was; a location as its coordinates. Customer-service
messages have no message id, so each copy is recorded under an id of ours. WeChat cannot
edit a message: an edit arrives as a new message marked edited. Outside the 48-hour window
a relayed message is refused as `window_closed` (`quota` past the quota): it is the other
person's words, never squeezed into a template. The core queues it (`core.relay.pending`)
and the person gets one short template saying messages wait; `WeChatQueue` delivers the
queue, in order, as soon as they interact with the account again. An edit refused the same
way waits in the same queue, behind the message it corrects.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import PurePath
from typing import Any, Protocol

from bots.i18n import gettext
from bots.i18n.relay import header_label, masked_text, placeholder_text
from bots.wechat.client import (
    CustomerServiceUnavailable,
    ServiceQuotaExhausted,
    WeChatApi,
    WeChatApiError,
)
from bots.wechat.conversation import Conversation
from bots.wechat.render import clock_time
from core.messagebus import MessageBus
from core.relay.commands import (
    EditPlan,
    EditTarget,
    GetTranscript,
    ListConversations,
    RaiseSos,
    RecordRelayed,
    RelayPlan,
    RelayTarget,
    ReportRelayFailed,
    RouteInbound,
    SelectConversation,
)
from core.relay.model import DeliveryMode, Location, MessageKind
from core.relay.pending import (
    WINDOW_FAILURES,
    AnyPendingRelays,
    ClaimPendingRelays,
    MarkPendingDelivered,
    PendingRelay,
    QueueRefusedEdit,
    ReleasePendingRelays,
)
from core.relay.routing import ChooseConversation, NoActiveConversation
from core.shared.errors import AlreadyProcessed

log = logging.getLogger(__name__)

PLATFORM = "wechat"
ERR_REQUIRE_SUBSCRIBE = 43004
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp"})
VOICE_SUFFIXES = frozenset({".amr", ".mp3"})
# A message waiting for the person to say which order chat it is for.
PENDING = "relay_pending"
TRANSCRIPT_LINES = 20


class MediaSource(Protocol):
    """Where a relayed message's files can be downloaded (its platform's media API)."""

    platform: str

    async def fetch(self, file_ref: str) -> tuple[bytes, str]: ...


class RelayCarrier(Protocol):
    """Delivers relayed messages on one platform; returns the ids of the messages it made."""

    platform: str

    async def carry(self, plan: RelayPlan, target: RelayTarget,
                    source: MediaSource | None) -> list[str]: ...

    async def carry_edit(self, plan: EditPlan, target: EditTarget) -> list[str]: ...


class WeChatRelayRefused(Exception):
    """WeChat will not take the message for this person (`failure`: window_closed, ...)."""

    def __init__(self, failure: str, detail: str = "") -> None:
        super().__init__(f"{failure}: {detail}" if detail else failure)
        self.failure = failure


class WeChatMedia:
    """Files people sent the account (photos, voice), downloaded through the media API."""

    platform = PLATFORM

    def __init__(self, api: WeChatApi) -> None:
        self.api = api

    async def fetch(self, file_ref: str) -> tuple[bytes, str]:
        content = await self.api.download_media(file_ref)
        suffix = ".jpg" if content[:3] == b"\xff\xd8\xff" else ".png" if content[:4] == b"\x89PNG" else ".amr"
        return content, f"wechat-{file_ref[:16]}{suffix}"


class WeChatCarrier:
    """Delivers relayed messages to people in the official account.

    An edit WeChat refuses for want of a window goes to `on_refused_edit` (the queue), so it
    waits like a message; the couriers only ever hear that it was not carried now.
    """

    platform = PLATFORM

    def __init__(self, api: WeChatApi,
                 on_refused_edit: Callable[[EditPlan, EditTarget, str], Awaitable[object]]
                 | None = None) -> None:
        self.api = api
        self.on_refused_edit = on_refused_edit

    async def carry(self, plan: RelayPlan, target: RelayTarget,
                    source: MediaSource | None) -> list[str]:
        locale = target.locale
        head = header_label(plan.order_number, plan.sender_role.value, locale)
        try:
            if target.mode is DeliveryMode.PLACEHOLDER:
                await self.api.send_text(target.chat_id, f"{head}{placeholder_text(plan.kind, locale)}")
            elif plan.kind in (MessageKind.PHOTO, MessageKind.VOICE) and plan.files and source:
                await self._media(plan, target, source, head)
            elif plan.location is not None:
                await self.api.send_text(target.chat_id, head + gettext(
                    "wx.relay.location", locale, latitude=f"{plan.location.latitude:.5f}",
                    longitude=f"{plan.location.longitude:.5f}"))
            else:
                text = masked_text(plan, locale) or placeholder_text(plan.kind, locale)
                await self.api.send_text(target.chat_id, f"{head}{text}")
        except WeChatApiError as error:
            refusal = _refusal(error)
            if refusal is None:
                raise  # WeChat unreachable or another error: reported as "error"
            raise refusal from error
        return [f"wx-relay-{plan.relayed_message_id}-{target.user_id}"]

    async def _media(self, plan: RelayPlan, target: RelayTarget, source: MediaSource,
                     head: str) -> None:
        locale = target.locale
        content, name = await source.fetch(plan.files[0])
        kind = "image" if plan.kind is MessageKind.PHOTO else "voice"
        allowed = IMAGE_SUFFIXES if kind == "image" else VOICE_SUFFIXES
        if PurePath(name).suffix.lower() not in allowed:
            # e.g. Telegram's ogg voice notes: WeChat plays only amr and mp3.
            await self.api.send_text(target.chat_id, f"{head}{placeholder_text(plan.kind, locale)}")
            return
        try:
            media_id = await self.api.upload_media(kind, name, content)
        except ValueError as too_big:
            raise WeChatRelayRefused("too_large", str(too_big)) from too_big
        caption = masked_text(plan, locale)
        await self.api.send_text(target.chat_id, f"{head}{caption}" if caption else head)
        if kind == "image":
            await self.api.send_image(target.chat_id, media_id)
        else:
            await self.api.send_voice(target.chat_id, media_id)

    async def carry_edit(self, plan: EditPlan, target: EditTarget) -> list[str]:
        try:
            return await self.send_edit(plan, target)
        except WeChatRelayRefused as refused:
            if (refused.failure in WINDOW_FAILURES and plan.edit_id
                    and self.on_refused_edit is not None):
                await self.on_refused_edit(plan, target, refused.failure)
            else:
                log.info("edit of relayed message %s not sent to %s: %s",
                         plan.relayed_message_id, target.chat_id, refused)
        except WeChatApiError as error:
            log.info("edit of relayed message %s not sent to %s: %s", plan.relayed_message_id,
                     target.chat_id, error)
        return []

    async def send_edit(self, plan: EditPlan, target: EditTarget) -> list[str]:
        """Send the edit as a new message marked edited; a refusal raises `WeChatRelayRefused`."""
        locale = target.locale
        text = (f"{gettext('wx.relay.edited_head', locale, order_number=plan.order_number)}"
                f"{gettext('relay.edited', locale)} {masked_text(plan, locale)}")
        try:
            await self.api.send_text(target.chat_id, text)
        except WeChatApiError as error:
            refusal = _refusal(error)
            if refusal is None:
                raise
            raise refusal from error
        return [f"wx-relay-edit-{plan.edit_id}-{target.user_id}"]


def _refusal(error: WeChatApiError) -> WeChatRelayRefused | None:
    if isinstance(error, ServiceQuotaExhausted):
        return WeChatRelayRefused("quota", str(error))
    if isinstance(error, CustomerServiceUnavailable):
        return WeChatRelayRefused("window_closed", str(error))
    if error.errcode == ERR_REQUIRE_SUBSCRIBE:
        return WeChatRelayRefused("blocked", str(error))
    return None


class WeChatCourier:
    """Carries out relay plans made from WeChat messages: delivers, records, reports."""

    def __init__(self, bus: MessageBus, carrier: WeChatCarrier, media: WeChatMedia,
                 carriers: Mapping[str, Any] | None = None) -> None:
        self.bus = bus
        self.media = media
        self.carriers: dict[str, Any] = {PLATFORM: carrier, **(carriers or {})}

    async def deliver(self, plan: RelayPlan) -> None:
        for target in plan.targets:
            await self._one(plan, target)

    async def _one(self, plan: RelayPlan, target: RelayTarget) -> None:
        carrier = self.carriers.get(target.platform)
        if carrier is None:
            log.warning("no relay carrier for %s: message %s not delivered to user %s",
                        target.platform, plan.relayed_message_id, target.user_id)
            await self._failed(plan, target, "error")
            return
        source = self.media if plan.platform == PLATFORM else None
        try:
            ids = await carrier.carry(plan, target, source)
        except Exception as error:
            failure = getattr(error, "failure", None)
            if failure is None:
                log.exception("relaying message %s to user %s failed", plan.relayed_message_id,
                              target.user_id)
            await self._failed(plan, target, failure or "error")
            return
        for to_message_id in ids:
            try:
                await self.bus.handle(RecordRelayed(
                    relayed_message_id=plan.relayed_message_id, recipient_user_id=target.user_id,
                    to_platform=target.platform, to_chat_id=target.chat_id,
                    to_message_id=to_message_id,
                    idempotency_key=f"relay:{target.platform}:{target.chat_id}:{to_message_id}",
                ))
            except AlreadyProcessed:
                pass

    async def _failed(self, plan: RelayPlan, target: RelayTarget, failure: str) -> None:
        try:
            await self.bus.handle(ReportRelayFailed(
                relayed_message_id=plan.relayed_message_id, recipient_user_id=target.user_id,
                failure=failure,
                idempotency_key=f"relay:{plan.relayed_message_id}:{target.user_id}:failed",
            ))
        except AlreadyProcessed:
            pass


class WeChatQueue:
    """Delivers what waited for a WeChat person while their window was closed.

    `flush(openid)` runs whenever the person interacts (see `windows.ReopeningWindows`):
    a read without a write transaction says whether anything waits (almost never); if so
    it claims their queue in one transaction (a second worker, or a repeated event, claims
    nothing while this delivery is under way), sends each message in order through the
    carrier, and reports each one delivered as it goes. At the first refusal or error the
    message and everything after it go back to the queue for the next interaction.
    """

    def __init__(self, bus: MessageBus, carrier: WeChatCarrier,
                 media: Mapping[str, MediaSource] | None = None) -> None:
        self.bus = bus
        self.carrier = carrier
        self.media = dict(media or {})

    async def flush(self, openid: str) -> int:
        """How many waiting messages reached `openid` now."""
        if not await self.bus.handle(AnyPendingRelays(platform=PLATFORM, chat_id=openid)):
            return 0
        claimed: tuple[PendingRelay, ...] = await self.bus.handle(
            ClaimPendingRelays(platform=PLATFORM, chat_id=openid))
        for index, item in enumerate(claimed):
            try:
                if item.is_edit:
                    ids = await self.carrier.send_edit(*item.edit_plan())
                else:
                    plan, target = item.plan()
                    ids = await self.carrier.carry(plan, target,
                                                   self.media.get(item.from_platform))
            except Exception as error:
                failure = getattr(error, "failure", None)
                if not isinstance(failure, str):
                    log.warning("queued message %s to %s not sent: %r",
                                item.relayed_message_id, openid, error)
                rest = tuple(i.id for i in claimed[index:])
                await self.bus.handle(ReleasePendingRelays(pending_ids=rest,
                                                           failure=failure or "error"))
                return index
            await self.bus.handle(MarkPendingDelivered(pending_id=item.id,
                                                       to_message_id=ids[0]))
        return len(claimed)

    async def queue_edit(self, plan: EditPlan, target: EditTarget, failure: str) -> None:
        """An edit refused for want of a window waits behind what was queued before it."""
        try:
            await self.bus.handle(QueueRefusedEdit(
                edit_id=plan.edit_id, recipient_user_id=target.user_id, failure=failure,
                idempotency_key=f"relay:{plan.edit_id}:{target.user_id}:edit-queued"))
        except AlreadyProcessed:
            pass


# -- inbound: what a person in WeChat writes about an order --------------------------------


async def route(conv: Conversation, *, message_id: str, kind: MessageKind,
                text: str | None = None, files: tuple[str, ...] = (),
                location: Location | None = None) -> bool:
    """Send the message to the other side of the person's order chat.

    False (nothing said) when the person has no open order chat, so the caller can answer
    as for any message it does not understand.
    """
    if conv.courier is None:
        return False
    try:
        plan = await conv.run(RouteInbound(
            actor_id=conv.user_id, idempotency_key=conv.idempotency("relay"),
            sender_user_id=conv.user_id, platform=PLATFORM, chat_id=conv.openid,
            message_id=message_id, kind=kind, text=text, files=files, location=location,
        ))
    except NoActiveConversation:
        return False
    except ChooseConversation as choose:
        conv.session.data = {PENDING: {"message_id": message_id, "kind": kind.value,
                                       "text": text, "files": list(files),
                                       "location": [location.latitude, location.longitude]
                                       if location else None}}
        conv.ask(conv.t("wx.relay.choose"),
                 [(f"chat:{order_id}", number) for order_id, number in choose.options])
        return True
    if not plan.targets:
        conv.tell("wx.relay.nobody", number=plan.order_number)
        return True
    await conv.courier.deliver(plan)
    return True


async def select(conv: Conversation, order_id: int) -> None:
    """Make this order's chat the current one; send the message that was waiting, if any."""
    summary = await conv.run(SelectConversation(actor_id=conv.user_id,
                                                idempotency_key=conv.idempotency("select"),
                                                order_id=order_id))
    pending = conv.session.data.get(PENDING)
    conv.finish()
    number = getattr(summary, "order_number", "")
    if not isinstance(pending, dict):
        conv.tell("wx.relay.selected", number=number)
        return
    spot = pending.get("location")
    await route(conv, message_id=str(pending["message_id"]), kind=MessageKind(pending["kind"]),
                text=pending.get("text"), files=tuple(pending.get("files") or ()),
                location=Location(spot[0], spot[1]) if spot else None)


async def chats(conv: Conversation) -> None:
    """The person's open order chats, to choose the current one."""
    conv.finish()
    found = await conv.run(ListConversations(actor_id=conv.user_id))
    if not found:
        conv.tell("error.relay.no_active_conversation")
        return
    conv.ask(conv.t("wx.relay.list"), [
        (f"chat:{c.order_id}", c.order_number + (" ✓" if c.current else "")) for c in found])


async def transcript(conv: Conversation, order_id: int) -> None:
    found = await conv.run(GetTranscript(actor_id=conv.user_id, order_id=order_id))
    conv.finish()
    marker = conv.t("relay.hidden")
    lines = [conv.t("wx.relay.transcript", number=found.order_number, count=len(found.entries))]
    for entry in found.entries[-TRANSCRIPT_LINES:]:
        said = entry.rendered(marker) or placeholder_text(entry.kind, conv.locale)
        lines.append(f"{clock_time(entry.at, conv.timezone)} "
                     f"{conv.t(f'relay.role.{entry.sender_role.value}')}：{said}")
    conv.say("\n".join(lines))


async def sos(conv: Conversation, order_id: int) -> None:
    await conv.run(RaiseSos(actor_id=conv.user_id, idempotency_key=conv.idempotency("sos"),
                            sender_user_id=conv.user_id, order_id=order_id))
    conv.finish()  # the core tells the person the alert went out, and the operators
