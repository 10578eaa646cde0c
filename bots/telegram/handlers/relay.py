"""The relay's Telegram transport: what a person writes in an order chat reaches the other side.

A private message that is no command and no answer to a form becomes `RouteInbound`; the
plan that comes back is carried out per recipient:

- Telegram to Telegram: `copyMessage` (no forward origin; `protect_content` from
  `YUEBAN_RELAY_PROTECT_CONTENT`), the masked caption in place of the original when contacts
  were hidden in it, and the masked text sent anew instead of a copy when hidden in a text.
  A live location is sent as a live location of the bot's own, so its moves can follow.
- Every relayed message carries a one-button header naming the order (and who wrote);
  tapping it makes that order's chat the current one. Replies are threaded with
  `reply_parameters` onto the recipient's copy of the message answered.
- Albums: parts are collected by `media_group_id` for `ALBUM_WAIT_SECONDS` and go out
  together with `sendMediaGroup`.
- Other platforms (WeChat) are reached through a `RelayCarrier` registered in the
  dispatcher's workflow data as `relay_carriers` (`{"wechat": carrier}`); the carrier gets
  a `MediaSource` to download the original's files from Telegram.
- Each delivered copy is recorded with `RecordRelayed` (the pair table replies and edits
  follow); a refusal (the recipient blocked the bot) is reported with `ReportRelayFailed`,
  and the sender is told through the notice the core records for it.
- Edits (`edited_message`) go through `RouteEdit` and edit the copies in place.
- `/chat` lists the open order chats to choose the current one; `/sos` (and the
  `relay.sos` button) raises an SOS in an in-person order. `sos_card` is the operators'
  group card for it (registered with the group's notice functions in `app/telegram.py`).

Texts: `relay.*` (the core's catalog) and `relay_tx.*` in `relay_transport.po`.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, StateFilter
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReplyParameters,
    Update,
)

from bots.i18n import gettext
from bots.i18n.relay import header_label, masked_text, placeholder_text
from bots.telegram.albums import AlbumCollector, InProcessAlbums, album_key
from bots.telegram.callbacks import ActionCallback
from bots.telegram.messenger import chat_ref
from bots.telegram.middlewares import Actor
from core.messagebus import MessageBus
from core.relay import events as relay_events
from core.relay.commands import (
    ConversationSummary,
    EditPlan,
    EditTarget,
    GetTranscript,
    ListConversations,
    RaiseSos,
    RecordRelayed,
    RelayPlan,
    RelayTarget,
    ReportRelayFailed,
    RouteEdit,
    RouteInbound,
    SelectConversation,
)
from core.relay.model import DeliveryMode, Location, MessageKind
from core.relay.routing import ChooseConversation
from core.shared.errors import AlreadyProcessed
from core.shared.messages import Action, Event, Notice

log = logging.getLogger(__name__)

PLATFORM = "telegram"
# How long the first part of an album waits for the others (Telegram sends them together).
ALBUM_WAIT_SECONDS = 0.3
# The operators' group is no person: its cards go to recipient 0.
GROUP_RECIPIENT = 0
# The courier of each running dispatcher, by its bus (tests wait for albums through it).
COURIERS: dict[int, RelayCourier] = {}


class RelayRefused(Exception):
    """The recipient's channel refused the message for good (`failure`: blocked, ...)."""

    def __init__(self, failure: str, detail: str = "") -> None:
        super().__init__(f"{failure}: {detail}" if detail else failure)
        self.failure = failure


class MediaSource(Protocol):
    """Where the original message's files can be downloaded (its platform's media API)."""

    platform: str

    async def fetch(self, file_ref: str) -> tuple[bytes, str]:
        """The file's bytes and a file name."""
        ...


class RelayCarrier(Protocol):
    """Delivers relayed messages on one platform; returns the ids of the messages it made."""

    platform: str

    async def carry(self, plan: RelayPlan, target: RelayTarget,
                    source: MediaSource | None) -> list[str]: ...

    async def carry_edit(self, plan: EditPlan, target: EditTarget) -> list[str]: ...


# -- reading a Telegram message ----------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    kind: MessageKind
    text: str | None
    files: tuple[str, ...] = ()
    location: Location | None = None
    live_period: int | None = None


def read_message(message: Message) -> Inbound | None:
    """What kind of message this is and what it carries; None for kinds the relay skips."""
    caption = message.caption
    if message.text is not None:
        return Inbound(MessageKind.TEXT, message.text)
    if message.photo:
        return Inbound(MessageKind.PHOTO, caption, (message.photo[-1].file_id,))
    media: list[tuple[MessageKind, Any]] = [
        (MessageKind.ANIMATION, message.animation), (MessageKind.VOICE, message.voice),
        (MessageKind.VIDEO_NOTE, message.video_note), (MessageKind.VIDEO, message.video),
        (MessageKind.STICKER, message.sticker), (MessageKind.AUDIO, message.audio),
        (MessageKind.DOCUMENT, message.document),
    ]
    for kind, item in media:
        if item is not None:
            return Inbound(kind, None if kind is MessageKind.STICKER else caption,
                           (item.file_id,))
    if message.location is not None:
        spot = message.location
        live = spot.live_period is not None
        return Inbound(MessageKind.LIVE_LOCATION if live else MessageKind.LOCATION, None,
                       location=Location(spot.latitude, spot.longitude),
                       live_period=spot.live_period)
    if message.contact is not None:
        return Inbound(MessageKind.CONTACT, None)
    return None


# -- the header and texts -----------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def header_keyboard(order_id: int, label: str) -> InlineKeyboardMarkup:
    """The one-button header naming the order; tapping it makes this chat the current one.
    The same for every message of a conversation, so built once (never changed once built)."""
    data = ActionCallback(kind="relay.select", id=order_id).pack()
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label,
                                                                      callback_data=data)]])


def _reply(target_message_id: str | None) -> ReplyParameters | None:
    if target_message_id is None or not target_message_id.isdigit():
        return None
    return ReplyParameters(message_id=int(target_message_id), allow_sending_without_reply=True)


def _refusal(error: Exception) -> RelayRefused | None:
    if isinstance(error, TelegramForbiddenError):
        return RelayRefused("blocked", str(error))
    if isinstance(error, TelegramBadRequest):
        lowered = error.message.lower()
        if "chat not found" in lowered:
            return RelayRefused("chat_not_found", error.message)
        if "too big" in lowered or "too large" in lowered:
            return RelayRefused("too_large", error.message)
        return RelayRefused("rejected", error.message)
    return None


# -- Telegram as a relay destination -----------------------------------------------------------


class TelegramMedia:
    """Telegram's files, downloaded through getFile (for carriers to other platforms)."""

    platform = PLATFORM

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def fetch(self, file_ref: str) -> tuple[bytes, str]:
        file = await self.bot.get_file(file_ref)
        buffer = io.BytesIO()
        await self.bot.download_file(file.file_path or "", buffer)
        name = (file.file_path or file_ref).rsplit("/", 1)[-1]
        return buffer.getvalue(), name


class TelegramCarrier:
    """Delivers relayed messages into Telegram chats."""

    platform = PLATFORM

    def __init__(self, bot: Bot, *, protect_content: bool = False) -> None:
        self.bot = bot
        self.protect_content = protect_content

    async def carry(self, plan: RelayPlan, target: RelayTarget, source: MediaSource | None,
                    live_period: int | None = None) -> list[str]:
        try:
            return [str(await self._carry(plan, target, source, live_period))]
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            refusal = _refusal(error)
            assert refusal is not None
            raise refusal from error

    async def _carry(self, plan: RelayPlan, target: RelayTarget, source: MediaSource | None,
                     live_period: int | None) -> int:
        locale = target.locale
        chat = chat_ref(target.chat_id)
        common: dict[str, Any] = {
            "reply_markup": header_keyboard(plan.order_id, header_label(
                plan.order_number, plan.sender_role.value, locale)),
            "reply_parameters": _reply(target.reply_to_message_id),
            "protect_content": self.protect_content or None,
        }
        if target.mode is DeliveryMode.PLACEHOLDER:
            sent = await self.bot.send_message(chat, placeholder_text(plan.kind, locale), **common)
            return sent.message_id
        if target.mode is DeliveryMode.COPY and plan.platform == PLATFORM:
            if plan.kind is MessageKind.LIVE_LOCATION and plan.location is not None:
                # A copy of a live location is a still one; the bot's own can move.
                sent = await self.bot.send_location(
                    chat, plan.location.latitude, plan.location.longitude,
                    live_period=live_period or 900, **common)
                return sent.message_id
            caption = masked_text(plan, locale) if target.replace_caption else None
            copied = await self.bot.copy_message(
                chat, from_chat_id=chat_ref(plan.chat_id), message_id=int(plan.message_id),
                caption=caption, **common)
            return copied.message_id
        # SEND: masked text, or a file from another platform through the Bot API's uploads.
        if plan.kind in (MessageKind.PHOTO, MessageKind.VOICE) and plan.files and source:
            content, name = await source.fetch(plan.files[0])
            caption = masked_text(plan, locale) or None
            upload = BufferedInputFile(content, filename=name)
            if plan.kind is MessageKind.PHOTO:
                sent = await self.bot.send_photo(chat, upload, caption=caption, **common)
            else:
                sent = await self.bot.send_voice(chat, upload, caption=caption, **common)
            return sent.message_id
        if plan.kind in (MessageKind.LOCATION, MessageKind.LIVE_LOCATION) and plan.location:
            sent = await self.bot.send_location(chat, plan.location.latitude,
                                                plan.location.longitude, **common)
            return sent.message_id
        text = masked_text(plan, locale) or placeholder_text(plan.kind, locale)
        sent = await self.bot.send_message(chat, text, **common)
        return sent.message_id

    async def carry_album(self, plans: Sequence[RelayPlan], target: RelayTarget) -> list[str]:
        """An album's parts as one media group; the ids of the new parts, in order."""
        locale = target.locale
        media: list[Any] = []
        for plan in plans:
            caption = masked_text(plan, locale) or None
            kind = {MessageKind.PHOTO: InputMediaPhoto, MessageKind.VIDEO: InputMediaVideo,
                    MessageKind.AUDIO: InputMediaAudio}.get(plan.kind, InputMediaDocument)
            media.append(kind(media=plan.files[0], caption=caption))
        try:
            sent = await self.bot.send_media_group(
                chat_ref(target.chat_id), media, reply_parameters=_reply(target.reply_to_message_id),
                protect_content=self.protect_content or None)
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            refusal = _refusal(error)
            assert refusal is not None
            raise refusal from error
        return [str(m.message_id) for m in sent]

    async def carry_edit(self, plan: EditPlan, target: EditTarget) -> list[str]:
        locale = target.locale
        chat, message_id = chat_ref(target.chat_id), int(target.message_id)
        keyboard = header_keyboard(plan.order_id, gettext("relay_tx.header_order", locale,
                                                          order_number=plan.order_number))
        try:
            if target.mode is not DeliveryMode.EDIT:
                text = f"{gettext('relay.edited', locale)} {masked_text(plan, locale)}"
                sent = await self.bot.send_message(chat, text, reply_markup=keyboard,
                                                   reply_parameters=_reply(target.message_id))
                return [str(sent.message_id)]
            if plan.location is not None:
                await self.bot.edit_message_live_location(
                    latitude=plan.location.latitude, longitude=plan.location.longitude,
                    chat_id=chat, message_id=message_id, reply_markup=keyboard)
            elif plan.kind is MessageKind.TEXT:
                await self.bot.edit_message_text(masked_text(plan, locale), chat_id=chat,
                                                 message_id=message_id, reply_markup=keyboard)
            else:
                await self.bot.edit_message_caption(chat_id=chat, message_id=message_id,
                                                    caption=masked_text(plan, locale),
                                                    reply_markup=keyboard)
        except TelegramBadRequest as error:
            if "not modified" in error.message.lower():
                return []
            log.info("edit of relayed copy %s:%s refused: %s", target.chat_id,
                     target.message_id, error.message)
            return []
        except TelegramForbiddenError:
            return []  # they blocked the bot since: their copy stays as it was
        return []


# -- carrying out plans -------------------------------------------------------------------------


Report = Callable[[Any], Awaitable[Any]]


class RelayCourier:
    """Carries out relay plans for one dispatcher: delivers, records pairs, reports refusals."""

    def __init__(self, bus: MessageBus, telegram: TelegramCarrier,
                 carriers: Mapping[str, RelayCarrier] | None = None,
                 album_wait: float = ALBUM_WAIT_SECONDS,
                 albums: AlbumCollector | None = None) -> None:
        self.bus = bus
        self.telegram = telegram
        self.carriers: dict[str, Any] = {PLATFORM: telegram, **(carriers or {})}
        self.media = TelegramMedia(telegram.bot)
        self.album_wait = album_wait
        # Where an album's parts meet: this process, or Redis when workers share the bot.
        self.albums: AlbumCollector = albums if albums is not None else InProcessAlbums()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def deliver(self, plan: RelayPlan, live_period: int | None = None) -> None:
        if plan.media_group_id is not None:
            self._collect(plan)
            return
        if len(plan.targets) == 1:  # the usual two-person chat: no task to gather
            await self._one(plan, plan.targets[0], live_period)
            return
        await asyncio.gather(*(self._one(plan, target, live_period) for target in plan.targets))

    async def _one(self, plan: RelayPlan, target: RelayTarget,
                   live_period: int | None = None) -> None:
        carrier = self.carriers.get(target.platform)
        if carrier is None:
            log.warning("no relay carrier for %s: message %s not delivered to user %s",
                        target.platform, plan.relayed_message_id, target.user_id)
            await self._failed(plan.relayed_message_id, target.user_id, "error")
            return
        source = self.media if plan.platform == PLATFORM else None
        try:
            if carrier is self.telegram:
                ids = await self.telegram.carry(plan, target, source, live_period)
            else:
                ids = await carrier.carry(plan, target, source)
        except Exception as error:
            # A carrier's refusal names its failure (blocked, window_closed, quota, ...).
            failure = getattr(error, "failure", None)
            if not isinstance(failure, str):
                log.exception("relaying message %s to user %s failed",
                              plan.relayed_message_id, target.user_id)
            await self._failed(plan.relayed_message_id, target.user_id,
                               failure if isinstance(failure, str) else "error")
            return
        await self._record(plan.relayed_message_id, target, ids)

    async def _record(self, relayed_message_id: int, target: RelayTarget | EditTarget,
                      ids: Sequence[str]) -> None:
        # No idempotency key: the pair table is unique on the copy, so a repeated report
        # records nothing, and a key would cost a row per copy.
        for to_message_id in ids:
            await self.bus.handle(RecordRelayed(
                relayed_message_id=relayed_message_id, recipient_user_id=target.user_id,
                to_platform=target.platform, to_chat_id=target.chat_id,
                to_message_id=to_message_id,
            ))

    async def _failed(self, relayed_message_id: int, user_id: int, failure: str) -> None:
        try:
            await self.bus.handle(ReportRelayFailed(
                relayed_message_id=relayed_message_id, recipient_user_id=user_id,
                failure=failure, idempotency_key=f"relay:{relayed_message_id}:{user_id}:failed",
            ))
        except AlreadyProcessed:
            pass

    # albums

    def _collect(self, plan: RelayPlan) -> None:
        task = asyncio.get_running_loop().create_task(self._flush_later(plan))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_later(self, plan: RelayPlan) -> None:
        """Collect the part; the part that claimed the album sends it after the wait."""
        key = album_key(plan)
        try:
            claimed = await self.albums.add(plan)
        except Exception:
            log.exception("collecting album %s failed; its part %s goes alone", key,
                          plan.message_id)
            plans = [plan]
        else:
            if not claimed:
                return
            await asyncio.sleep(self.album_wait)
            try:
                plans = await self.albums.take(plan)
            except Exception:
                log.exception("taking album %s failed; its first part goes alone", key)
                plans = [plan]
        if not plans:
            return
        plans.sort(key=lambda p: int(p.message_id) if p.message_id.isdigit() else 0)
        try:
            await asyncio.gather(*(self._album_to(plans, target) for target in plans[0].targets))
        except Exception:
            log.exception("relaying album %s failed", key)

    async def _album_to(self, plans: list[RelayPlan], first: RelayTarget) -> None:
        parts = [(plan, next((t for t in plan.targets if t.user_id == first.user_id), None))
                 for plan in plans]
        # Other platforms have no albums; and a lone part (the rest came after the wait, on
        # a busy bot) is no album for Telegram either, which wants two to ten.
        if len(parts) == 1 or first.platform != PLATFORM or any(
                p.platform != PLATFORM for p, _ in parts):
            for plan, target in parts:  # part by part
                if target is not None:
                    await self._one(plan, target)
            return
        try:
            ids = await self.telegram.carry_album(plans, first)
        except RelayRefused as refusal:
            await self._failed(plans[0].relayed_message_id, first.user_id, refusal.failure)
            return
        for (plan, target), to_id in zip(parts, ids, strict=False):
            await self._record(plan.relayed_message_id, target or first, [to_id])

    async def settle(self) -> None:
        """Wait for albums still being collected (tests and shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # edits

    async def deliver_edit(self, plan: EditPlan) -> None:
        for target in plan.targets:
            carrier = self.carriers.get(target.platform)
            if carrier is None:
                continue
            try:
                ids = await carrier.carry_edit(plan, target)
            except RelayRefused:
                continue
            except Exception:
                log.exception("relaying edit of %s to user %s failed", plan.relayed_message_id,
                              target.user_id)
                continue
            if ids and plan.edit_id:
                await self._record(plan.edit_id, target, ids)


# -- the router ---------------------------------------------------------------------------------


def router() -> Router:
    relay = Router(name="relay")
    couriers: dict[int, RelayCourier] = {}

    def courier(bot: Bot, bus: MessageBus, data: Mapping[str, Any]) -> RelayCourier:
        found = couriers.get(id(bus))
        if found is None:
            telegram = TelegramCarrier(bot, protect_content=bool(data.get("relay_protect_content")))
            found = RelayCourier(bus, telegram, data.get("relay_carriers"),
                                 albums=data.get("relay_albums"))
            couriers[id(bus)] = found
            COURIERS[id(bus)] = found
        return found

    async def on_message(message: Message, actor: Actor, locale: str, bus: MessageBus,
                         bot: Bot, **data: Any) -> None:
        inbound = read_message(message)
        if inbound is None:
            await message.answer(gettext("relay_tx.unsupported", locale))
            return
        reply = message.reply_to_message
        # No idempotency key: the dedup middleware already drops a repeated update_id, and
        # routing writes nothing but the transcript row (leaks and strikes go in one
        # transaction with it), so a key would only cost a write per message.
        command = RouteInbound(
            sender_user_id=actor.user_id, platform=PLATFORM, chat_id=str(message.chat.id),
            message_id=str(message.message_id), kind=inbound.kind, text=inbound.text,
            files=inbound.files, location=inbound.location,
            reply_to_message_id=str(reply.message_id) if reply else None,
            media_group_id=message.media_group_id, actor_id=actor.user_id,
        )
        try:
            plan: RelayPlan = await bus.handle(command)
        except ChooseConversation as choice:
            await message.answer(
                gettext("error.relay.choose_conversation", locale,
                        orders=", ".join(n for _, n in choice.options)),
                reply_markup=_choices(choice.options, locale))
            return
        if not plan.targets:
            await message.answer(gettext("relay_tx.nobody", locale, number=plan.order_number))
            return
        await courier(bot, bus, data).deliver(plan, inbound.live_period)

    async def on_edit(message: Message, actor: Actor, bus: MessageBus, bot: Bot,
                      event_update: Update, **data: Any) -> None:
        location = message.location
        plan: EditPlan = await bus.handle(RouteEdit(
            sender_user_id=actor.user_id, platform=PLATFORM, chat_id=str(message.chat.id),
            message_id=str(message.message_id), text=message.text or message.caption,
            location=Location(location.latitude, location.longitude) if location else None,
            actor_id=actor.user_id, idempotency_key=f"tg:{event_update.update_id}",
        ))
        await courier(bot, bus, data).deliver_edit(plan)

    # A chat message first: it is most of what arrives, and its filter leaves commands alone.
    # Plain async filters: aiogram runs a synchronous filter (a magic `F` one too) in a
    # worker thread, a thread hop per filter per message.
    relay.message.register(on_message, _relayable, StateFilter(None))
    relay.message.register(on_chat, Command("chat"), F.chat.type == "private")
    relay.message.register(on_sos, Command("sos"), F.chat.type == "private")
    relay.edited_message.register(on_edit, _private)
    return relay


def buttons_router() -> Router:
    """The relay's buttons: matched after the other features' (taps are mostly theirs)."""
    buttons = Router(name="relay.buttons")
    buttons.callback_query.register(on_select, ActionCallback.filter(F.kind == "relay.select"))
    buttons.callback_query.register(on_sos_button, ActionCallback.filter(F.kind == "relay.sos"))
    buttons.callback_query.register(on_transcript,
                                    ActionCallback.filter(F.kind == "relay.transcript"))
    return buttons


async def _private(message: Message) -> bool:
    return message.chat.type == "private"


async def _relayable(message: Message) -> bool:
    """A private message that is no command (in its text or caption, as aiogram's `Command`
    reads them) and no payment notice."""
    return (message.chat.type == "private"
            and not (message.text or message.caption or "").startswith("/")
            and message.successful_payment is None and message.refunded_payment is None)


def _choices(options: Sequence[tuple[int, str]], locale: str,
             current: int | None = None) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(
        text=("✓ " if order_id == current else "") + gettext("relay_tx.choose_button", locale,
                                                            order_number=number),
        callback_data=ActionCallback(kind="relay.select", id=order_id).pack(),
    )] for order_id, number in options]
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def on_chat(message: Message, actor: Actor, locale: str, bus: MessageBus,
                  event_update: Update) -> None:
    chats: list[ConversationSummary] = await bus.handle(ListConversations(actor_id=actor.user_id))
    if not chats:
        await message.answer(gettext("error.relay.no_active_conversation", locale))
        return
    current = next((c.order_id for c in chats if c.current), None)
    await message.answer(
        gettext("relay_tx.chats", locale, count=len(chats)),
        reply_markup=_choices([(c.order_id, c.order_number) for c in chats], locale, current))


async def on_select(callback: CallbackQuery, callback_data: ActionCallback, actor: Actor,
                    locale: str, bus: MessageBus) -> None:
    if callback_data.id is None:
        await callback.answer(gettext("tg.button.stale", locale), show_alert=True)
        return
    chosen: ConversationSummary = await bus.handle(SelectConversation(
        order_id=callback_data.id, actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}"))
    text = gettext("relay_tx.selected", locale, order_number=chosen.order_number)
    await callback.answer(text)
    if isinstance(callback.message, Message) and callback.message.text and \
            callback.message.from_user and callback.message.from_user.is_bot and \
            callback.message.reply_markup and len(callback.message.reply_markup.inline_keyboard) > 1:
        # The /chat list: mark the chosen one.
        await callback.message.edit_text(text)


async def on_sos(message: Message, actor: Actor, locale: str, bus: MessageBus,
                 event_update: Update) -> None:
    chats: list[ConversationSummary] = await bus.handle(ListConversations(actor_id=actor.user_id))
    current = [c for c in chats if c.current] or (chats if len(chats) == 1 else [])
    if not current:
        if not chats:
            await message.answer(gettext("error.relay.no_active_conversation", locale))
            return
        rows = [[InlineKeyboardButton(
            text=gettext("relay_tx.sos_button", locale, order_number=c.order_number),
            callback_data=ActionCallback(kind="relay.sos", id=c.order_id).pack())] for c in chats]
        await message.answer(gettext("relay_tx.sos_choose", locale),
                             reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
        return
    # The sender hears back through the core's notice (with or without a location).
    await bus.handle(RaiseSos(sender_user_id=actor.user_id, order_id=current[0].order_id,
                              actor_id=actor.user_id,
                              idempotency_key=f"tg:{event_update.update_id}"))


async def on_sos_button(callback: CallbackQuery, callback_data: ActionCallback, actor: Actor,
                        locale: str, bus: MessageBus) -> None:
    if callback_data.id is None:
        await callback.answer(gettext("tg.button.stale", locale), show_alert=True)
        return
    alert: relay_events.SosRaised = await bus.handle(RaiseSos(
        sender_user_id=actor.user_id, order_id=callback_data.id, actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}"))
    await callback.answer(gettext("relay_tx.sos_raised", locale,
                                  order_number=alert.order_number), show_alert=True)


async def on_transcript(callback: CallbackQuery, callback_data: ActionCallback, actor: Actor,
                        locale: str, bus: MessageBus, bot: Bot, **data: Any) -> None:
    if callback_data.id is None:
        await callback.answer(gettext("tg.button.stale", locale), show_alert=True)
        return
    group = data.get("operator_group")
    if group is not None and callback.message is not None and \
            str(callback.message.chat.id) == group.chat_id:
        locale = group.locale
    transcript = await bus.handle(GetTranscript(order_id=callback_data.id, actor_id=actor.user_id))
    lines = [gettext("relay_tx.transcript.title", locale, order_number=transcript.order_number,
                     count=len(transcript.entries))]
    marker = gettext("relay.hidden", locale)
    for entry in transcript.entries[-50:]:
        shown = entry.rendered(marker) or gettext(f"relay.kind.{entry.kind.value}", locale)
        if entry.kind is not MessageKind.TEXT and entry.text:
            shown = f"[{gettext(f'relay.kind.{entry.kind.value}', locale)}] {shown}"
        lines.append(gettext("relay_tx.transcript.line", locale,
                             at=entry.at.strftime("%m-%d %H:%M"),
                             role=gettext(f"relay.role.{entry.sender_role.value}", locale),
                             text=shown))
    await callback.answer()
    if callback.message is not None:
        await bot.send_message(callback.message.chat.id, "\n".join(lines)[:4000])


# -- the operators' group ---------------------------------------------------------------------


def sos_card(event: Event) -> list[Notice]:
    """The operators' group card for an SOS: order, both parties, last known location."""
    if not isinstance(event, relay_events.SosRaised):
        return []
    located = event.latitude is not None and event.longitude is not None
    key = f"relay_tx.sos.card.{event.raised_by_role}" + ("" if located else ".no_location")
    params: dict[str, Any] = {
        "order_number": event.order_number, "service_kind": event.service_kind or "—",
        "raised_by": event.raised_by, "customer_id": event.customer_id,
        "provider_id": event.provider_id or "—",
        "latitude": event.latitude if located else "—",
        "longitude": event.longitude if located else "—",
        "location_at": event.location_at or "—", "raised_at": event.raised_at,
    }
    action = Action("relay.transcript", {"order_id": event.order_id})
    return [Notice(GROUP_RECIPIENT, key, params, (action,),
                   dedup_key=f"{event.event_id}:group:sos")]


__all__ = [
    "MediaSource", "RelayCarrier", "RelayCourier", "RelayRefused",
    "TelegramCarrier", "TelegramMedia", "buttons_router", "read_message", "router", "sos_card",
]
