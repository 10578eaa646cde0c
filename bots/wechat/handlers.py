"""The product in WeChat: every accepted push becomes a reply, through one thin router.

`WeChatProduct` plugs into `WeChatWebhook` as `quick_reply` and `on_message`:

1. `quick_reply` starts the work for the message (in order per openid: one person's
   messages are handled one after another) and waits for it a little less than the
   webhook's budget. If it is done, its first text goes back as WeChat's passive reply,
   which is free and instant and does not spend the customer-service quota.
2. `on_message` runs after the webhook recorded the person's interaction (their service
   window is open), waits for the work, and sends whatever the passive reply did not carry
   (a late answer, a QR code image) as customer-service messages.

The work: resolve the person (`RegisterFromChannel`), load their session, route the push
(a msgmenu tap, a number, free text a flow is waiting for, a command word, a menu click,
a location or a photo) to a flow function, save the session. Flows build commands with the
acting user and the edge's idempotency key (`wx:{MsgId}`; events
`wx:{FromUserName}:{CreateTime}:{Event}`), `await bus.handle`, and describe the result.

One error boundary: a `DomainError` becomes the person's localized message and leaves the
session as it was (nothing was changed); anything else is logged and the person is told,
in their language, that nothing was changed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from bots.i18n import DEFAULT_LOCALE, gettext, render_error
from bots.wechat import account, browse, orders, relay
from bots.wechat.client import CustomerServiceUnavailable, WeChatApi, WeChatApiError
from bots.wechat.conversation import (
    ActorCache,
    Conversation,
    Image,
    Outgoing,
    ProductOptions,
    Text,
    resolve_actor,
)
from bots.wechat.menus import MENU_KEYS
from bots.wechat.relay import WeChatCourier
from bots.wechat.render import parse_action_token
from bots.wechat.sessions import InMemorySessionStore, SessionStore
from bots.wechat.webhook import InboundMessage, PassiveReply
from core.booking.model import Place
from core.catalog.commands import ProviderUnreachable
from core.messagebus import MessageBus
from core.relay.model import Location, MessageKind
from core.shared.clock import Clock
from core.shared.errors import DomainError

log = logging.getLogger(__name__)

# The webhook gives a passive reply 1 s by default; stay inside it.
DEFAULT_PASSIVE_BUDGET_SECONDS = 0.8

# Typed words (either language) -> command. A command may take an argument after a space.
COMMANDS: dict[str, str] = {
    "浏览": "browse", "找人": "browse", "browse": "browse", "b": "browse",
    "有空": "online_now", "online?": "online_now",
    "订单": "orders", "我的订单": "orders", "orders": "orders", "o": "orders",
    "接的单": "provider_orders", "jobs": "provider_orders",
    "我的": "me", "me": "me", "个人中心": "me",
    "钱包": "wallet", "余额": "wallet", "wallet": "wallet", "balance": "wallet",
    "充值": "topup", "topup": "topup",
    "绑定": "link", "link": "link",
    "绑定码": "linkcode", "linkcode": "linkcode",
    "语言": "language", "language": "language", "lang": "language",
    "帮助": "help", "help": "help", "?": "help", "？": "help", "菜单": "help", "menu": "help",
    "上线": "go_online", "online": "go_online",
    "下线": "go_offline", "offline": "go_offline",
    "下一页": "next", "next": "next", "more": "next",
    "退出": "abort", "quit": "abort", "取消": "cancel", "cancel": "cancel",
    "接单": "accept", "accept": "accept",
    "拒绝": "reject", "reject": "reject",
    "开始": "start", "start": "start",
    "完成": "finish", "finish": "finish", "done": "finish",
    "确认": "confirm", "confirm": "confirm",
    "付款": "pay", "支付": "pay", "pay": "pay",
    "订单号": "order", "order": "order",
    "聊天": "chats", "chat": "chats",
}
# Commands about one order, typed with its number ("接单 YB0001A"), as notices suggest.
ORDER_COMMANDS = {
    "accept": "order.accept", "reject": "order.reject", "start": "order.start",
    "finish": "order.finish", "confirm": "order.confirm", "cancel": "order.cancel",
    "pay": "order.pay", "order": "order.show",
}
ORDER_NUMBER = re.compile(r"^YB[0-9A-Z]{5,13}$")
# Steps that wait for free text, and what to do with it.
TEXT_STEPS: dict[str, Callable[[Conversation, str], Awaitable[None]]] = {
    "book.address": browse.address,
    "reject.reason": orders.reject,
    "finish.code": orders.finish_with_code,
    "dispute.reason": orders.dispute,
    "dispute.response": orders.respond_dispute,
    "application.reason": account.reject_application,
}


class WeChatProduct:
    """The webhook's `quick_reply` and `on_message`, doing the product's work."""

    def __init__(
        self,
        *,
        bus: MessageBus,
        api: WeChatApi,
        clock: Clock,
        sessions: SessionStore | None = None,
        options: ProductOptions | None = None,
        actors: ActorCache | None = None,
        courier: WeChatCourier | None = None,
        passive_budget_seconds: float = DEFAULT_PASSIVE_BUDGET_SECONDS,
    ) -> None:
        self.bus = bus
        self.courier = courier
        self.api = api
        self.clock = clock
        self.sessions = sessions or InMemorySessionStore()
        self.options = options or ProductOptions()
        self.actors = actors or ActorCache()
        self.passive_budget = passive_budget_seconds
        self._work: dict[str, asyncio.Task[list[Outgoing]]] = {}
        self._answered: dict[str, int] = {}
        self._tails: dict[str, asyncio.Task[list[Outgoing]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.sent_failures = 0

    # -- the webhook's two hooks -------------------------------------------------------------

    async def quick_reply(self, inbound: InboundMessage) -> PassiveReply:
        task = self._start(inbound)
        done, _ = await asyncio.wait({task}, timeout=self.passive_budget)
        if task not in done or task.cancelled() or task.exception() is not None:
            return None
        outgoing = task.result()
        if not outgoing or not isinstance(outgoing[0], Text):
            return None
        # No await between here and the return: on_message must see this mark.
        self._answered[inbound.dedup_key] = 1
        return outgoing[0].text

    async def on_message(self, inbound: InboundMessage) -> None:
        task = self._work.pop(inbound.dedup_key, None) or self._start(inbound, remember=False)
        outgoing = await task
        skip = self._answered.pop(inbound.dedup_key, 0)
        await self._send(inbound.openid, outgoing[skip:])

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_seconds: float | None = 30.0) -> None:
        """Wait for messages still being worked on (shutdown calls this)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_seconds)

    # -- ordering per person ----------------------------------------------------------------

    def _start(self, inbound: InboundMessage, *, remember: bool = True) -> asyncio.Task[list[Outgoing]]:
        previous = self._tails.get(inbound.openid)
        task = asyncio.get_running_loop().create_task(self._after(previous, inbound))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._tails[inbound.openid] = task
        task.add_done_callback(lambda done: self._forget_tail(inbound.openid, done))
        if remember:
            self._work[inbound.dedup_key] = task
        return task

    def _forget_tail(self, openid: str, task: asyncio.Task[Any]) -> None:
        if self._tails.get(openid) is task:
            del self._tails[openid]

    async def _after(self, previous: asyncio.Task[Any] | None,
                     inbound: InboundMessage) -> list[Outgoing]:
        if previous is not None:
            await asyncio.wait([previous])
        return await self.answer(inbound)

    # -- the work: one error boundary -------------------------------------------------------

    async def answer(self, inbound: InboundMessage) -> list[Outgoing]:
        """What to say back to `inbound` (never raises)."""
        locale = DEFAULT_LOCALE
        try:
            actor = await resolve_actor(self.bus, self.actors, inbound.openid)
            locale = actor.locale
            session = await self.sessions.load(inbound.openid)
            conv = Conversation(
                bus=self.bus, openid=inbound.openid, actor=actor, session=session,
                key=idempotency_key(inbound), now=self.clock.now(), options=self.options,
                actors=self.actors, courier=self.courier,
            )
            await route(conv, inbound)
            await self.sessions.save(inbound.openid, conv.session)
            return conv.out
        except DomainError as error:
            log.info("refused WeChat message %s: %r", inbound.dedup_key, error)
            return [Text(render_error(error, locale))]
        except Exception:
            log.exception("WeChat message %s failed", inbound.dedup_key)
            return [Text(gettext("error.generic", locale))]

    # -- sending what the passive reply did not carry ---------------------------------------

    async def _send(self, openid: str, outgoing: list[Outgoing]) -> None:
        for item in outgoing:
            try:
                if isinstance(item, Text):
                    await self.api.send_text(openid, item.text)
                elif isinstance(item, Image):
                    media_id = await self.api.upload_media("image", item.filename, item.content,
                                                           "image/png")
                    await self.api.send_image(openid, media_id)
            except CustomerServiceUnavailable as error:
                # The person wrote just now, so this is rare: WeChat closed the window or
                # the quota is spent. Nothing else can carry a reply.
                self.sent_failures += 1
                log.warning("reply to %s not sent: %s", openid, error)
                return
            except WeChatApiError as error:
                self.sent_failures += 1
                log.error("reply to %s failed: %s", openid, error)
                return


def idempotency_key(inbound: InboundMessage) -> str:
    fields = inbound.fields
    msg_id = fields.get("MsgId") or fields.get("MsgID")
    if msg_id and fields.get("MsgType", "").lower() != "event":
        return f"wx:{msg_id}"
    return f"wx:{inbound.openid}:{fields.get('CreateTime', '')}:{fields.get('Event', '')}"


# -- the router -----------------------------------------------------------------------------


async def route(conv: Conversation, inbound: InboundMessage) -> None:
    fields = inbound.fields
    msg_type = fields.get("MsgType", "").lower()
    if msg_type == "event":
        await _event(conv, fields.get("Event", "").lower(), fields.get("EventKey", ""))
    elif msg_type == "text":
        await _text(conv, fields.get("Content", "").strip(), fields.get("bizmsgmenuid"),
                    _msg_id(fields))
    elif msg_type == "location":
        await _location(conv, fields)
    elif msg_type == "image":
        await _image(conv, fields)
    elif msg_type == "voice":
        if not await relay.route(conv, message_id=_msg_id(fields), kind=MessageKind.VOICE,
                                 files=(fields.get("MediaId", ""),)):
            conv.tell("wx.unsupported")
    else:
        conv.tell("wx.unsupported")


async def _event(conv: Conversation, event: str, key: str) -> None:
    if event == "subscribe":
        account.welcome(conv)
    elif event in ("click", "scancode_push", "scancode_waitmsg"):
        command = MENU_KEYS.get(key)
        if command is None:
            conv.tell("wx.unknown")
            return
        await command_(conv, command, "")
    elif event == "unsubscribe":
        # Nothing reaches them any more: the core takes an online provider offline.
        await conv.run(ProviderUnreachable(actor_id=conv.user_id, provider_id=conv.user_id))
    # VIEW, location reports and template receipts need no answer.


def _msg_id(fields: Any) -> str:
    return str(fields.get("MsgId") or fields.get("MsgID") or fields.get("CreateTime", ""))


async def _text(conv: Conversation, content: str, menu_choice: str | None,
                message_id: str) -> None:
    if menu_choice:
        await token(conv, menu_choice)
        return
    word, _, argument = content.partition(" ")
    command = COMMANDS.get(word.lower())
    step = conv.session.step
    if step in TEXT_STEPS:
        if command in ("abort", "cancel") and not argument:
            conv.finish()
            conv.tell("wx.flow.cancelled")
            return
        await TEXT_STEPS[step](conv, content)
        return
    if step == "start.checkin" and command is None:
        conv.tell("wx.order.checkin_needed")
        return
    if content.isdigit() and conv.session.choices:
        chosen = conv.session.choice(int(content))
        if chosen is None:
            conv.tell("wx.number.range", maximum=len(conv.session.choices))
            return
        await token(conv, chosen)
        return
    if command is None:
        # Anything else is said to the other side of the person's order chat, if any.
        if not await relay.route(conv, message_id=message_id, kind=MessageKind.TEXT,
                                 text=content):
            conv.tell("wx.number.unknown" if content.isdigit() else "wx.unknown")
        return
    await command_(conv, command, argument.strip())


async def command_(conv: Conversation, command: str, argument: str) -> None:
    if command in ORDER_COMMANDS and argument:
        number = argument.split(" ", 1)[0].upper()
        if not ORDER_NUMBER.match(number):
            conv.tell("wx.order.number_hint")
            return
        order = await orders.load(conv, number=number)
        if order is None:
            return
        rest = argument.split(" ", 1)[1].strip() if " " in argument else ""
        if command == "reject" and rest:
            conv.session.data["order_id"] = order.id
            await orders.reject(conv, rest)
            return
        await action(conv, ORDER_COMMANDS[command], order.id)
        return
    match command:
        case "browse":
            await browse.categories(conv)
        case "online_now":
            conv.finish()
            await browse.providers(conv, 0, 1, online=True)
        case "orders":
            await orders.listing(conv, "c", 1)
        case "provider_orders":
            await orders.listing(conv, "p", 1)
        case "me":
            await account.me(conv)
        case "wallet":
            await account.wallet(conv)
        case "topup":
            await _top_up(conv, argument)
        case "link":
            if not argument:
                conv.tell("wx.link.hint")
                return
            await account.redeem_link_code(conv, argument)
        case "linkcode":
            await account.issue_link_code(conv)
        case "language":
            if argument:
                await account.set_language(conv, argument)
            else:
                await account.language(conv)
        case "help":
            account.help_text(conv)
        case "chats":
            await relay.chats(conv)
        case "go_online":
            await account.set_presence(conv, "online")
        case "go_offline":
            await account.set_presence(conv, "offline")
        case "next":
            following = _next_page_token(conv)
            if following is None:
                conv.tell("wx.browse.no_more")
                return
            await token(conv, following)
        case "abort" | "cancel":
            conv.finish()
            conv.tell("wx.flow.cancelled")
        case _:
            conv.tell("wx.order.number_hint")


def _next_page_token(conv: Conversation) -> str | None:
    """The "next page" line of the prompt the person is looking at, if it has one."""
    label = gettext("wx.next_page", conv.locale)
    return next((tok for tok, shown in conv.session.choices if shown == label), None)


async def _top_up(conv: Conversation, argument: str) -> None:
    if not argument:
        await account.wallet(conv)
        return
    try:
        yuan = float(argument.replace("¥", "").replace("元", ""))
    except ValueError:
        conv.tell("wx.wallet.topup_invalid")
        return
    await account.top_up(conv, round(yuan * 100))


async def _location(conv: Conversation, fields: Any) -> None:
    try:
        latitude, longitude = float(fields.get("Location_X", "")), float(fields.get("Location_Y", ""))
    except ValueError:
        conv.tell("wx.unsupported")
        return
    if conv.session.step == "start.checkin":
        await orders.check_in(conv, place=Place(latitude, longitude))
        return
    if not await relay.route(conv, message_id=_msg_id(fields), kind=MessageKind.LOCATION,
                             location=Location(latitude, longitude)):
        conv.tell("wx.location.unexpected")


async def _image(conv: Conversation, fields: Any) -> None:
    media_id = fields.get("MediaId", "")
    if conv.session.step == "start.checkin":
        await orders.check_in(conv, photo=f"wx:image:{media_id}")
        return
    if not await relay.route(conv, message_id=_msg_id(fields), kind=MessageKind.PHOTO,
                             files=(media_id,)):
        conv.tell("wx.image.unexpected")


# -- tokens: numbered choices, msgmenu taps and menu clicks end here ------------------------


def _ints(parts: list[str], count: int) -> list[int] | None:
    if len(parts) < count or not all(p.isdigit() for p in parts[:count]):
        return None
    return [int(p) for p in parts[:count]]


async def token(conv: Conversation, chosen: str) -> None:
    parsed = parse_action_token(chosen)
    if parsed is not None:
        kind, target = parsed
        await action(conv, kind, target)
        return
    name, *parts = chosen.split(":")
    handler = TOKENS.get(name)
    if handler is None:
        conv.tell("wx.flow.expired")
        return
    await handler(conv, parts)


async def _tok_cat(conv: Conversation, parts: list[str]) -> None:
    ids = _ints(parts, 1)
    await (browse.category(conv, ids[0]) if ids else _expired(conv))


async def _tok_plist(conv: Conversation, parts: list[str]) -> None:
    ids = _ints(parts, 3)
    if ids is None:
        await _expired(conv)
        return
    await browse.providers(conv, ids[0], ids[1], online=bool(ids[2]))


async def _tok_prov(conv: Conversation, parts: list[str]) -> None:
    ids = _ints(parts, 2)
    await (browse.provider(conv, ids[0], ids[1]) if ids else _expired(conv))


async def _tok_offer(conv: Conversation, parts: list[str]) -> None:
    ids = _ints(parts, 2)
    await (browse.offer(conv, ids[0], ids[1]) if ids else _expired(conv))


async def _tok_units(conv: Conversation, parts: list[str]) -> None:
    ids = _ints(parts, 1)
    await (browse.units(conv, ids[0]) if ids else _expired(conv))


async def _tok_day(conv: Conversation, parts: list[str]) -> None:
    if len(parts) != 2 or not parts[1].isdigit():
        await _expired(conv)
        return
    await browse.day(conv, parts[0], int(parts[1]))


async def _tok_slot(conv: Conversation, parts: list[str]) -> None:
    ids = _ints(parts, 1)
    await (browse.slot(conv, ids[0]) if ids else _expired(conv))


async def _tok_now(conv: Conversation, parts: list[str]) -> None:
    await browse.instant(conv)


async def _tok_book(conv: Conversation, parts: list[str]) -> None:
    await browse.confirmed(conv)


async def _tok_abort(conv: Conversation, parts: list[str]) -> None:
    conv.finish()
    conv.tell("wx.flow.cancelled")


def _order_token(function: Callable[[Conversation, int], Awaitable[None]]
                 ) -> Callable[[Conversation, list[str]], Awaitable[None]]:
    async def handle(conv: Conversation, parts: list[str]) -> None:
        ids = _ints(parts, 1)
        await (function(conv, ids[0]) if ids else _expired(conv))

    return handle


async def _tok_orders(conv: Conversation, parts: list[str]) -> None:
    if len(parts) != 2 or parts[0] not in ("c", "p") or not parts[1].isdigit():
        await _expired(conv)
        return
    await orders.listing(conv, parts[0], int(parts[1]))


async def _tok_pay(conv: Conversation, order_id: int) -> None:
    order = await orders.load(conv, order_id)
    if order is not None:
        await orders.pay_options(conv, order)


async def _tok_setlang(conv: Conversation, parts: list[str]) -> None:
    await (account.set_language(conv, parts[0]) if parts else _expired(conv))


async def _tok_presence(conv: Conversation, parts: list[str]) -> None:
    if not parts or parts[0] not in ("online", "offline"):
        await _expired(conv)
        return
    await account.set_presence(conv, parts[0])


async def _tok_topup(conv: Conversation, parts: list[str]) -> None:
    ids = _ints(parts, 1)
    await (account.top_up(conv, ids[0]) if ids else _expired(conv))


async def _expired(conv: Conversation) -> None:
    conv.finish()
    conv.tell("wx.flow.expired")


def _named(command: str) -> Callable[[Conversation, list[str]], Awaitable[None]]:
    async def handle(conv: Conversation, parts: list[str]) -> None:
        await command_(conv, command, "")

    return handle


TOKENS: dict[str, Callable[[Conversation, list[str]], Awaitable[None]]] = {
    "cats": _named("browse"),
    "cat": _tok_cat,
    "plist": _tok_plist,
    "prov": _tok_prov,
    "offer": _tok_offer,
    "units": _tok_units,
    "now": _tok_now,
    "day": _tok_day,
    "slot": _tok_slot,
    "book": _tok_book,
    "abort": _tok_abort,
    "pay": _order_token(_tok_pay),
    "paywx": _order_token(orders.pay_wechat),
    "paywallet": _order_token(orders.pay_wallet),
    "paysbx": _order_token(orders.pay_sandbox),
    "orders": _tok_orders,
    "order": _order_token(lambda conv, order_id: orders.card(conv, order_id)),
    "cancelok": _order_token(orders.cancel),
    "me": _named("me"),
    "wallet": _named("wallet"),
    "linkcode": _named("linkcode"),
    "lang": _named("language"),
    "help": _named("help"),
    "setlang": _tok_setlang,
    "presence": _tok_presence,
    "topup": _tok_topup,
    "chat": _order_token(relay.select),
}


# -- notice actions (abstract actions from the core, by kind) -------------------------------


async def action(conv: Conversation, kind: str, target: int | None) -> None:
    handler = ACTIONS.get(kind)
    if handler is None:
        conv.tell("wx.action.unsupported")
        return
    if target is None and kind not in ACTIONS_WITHOUT_ID:
        await _expired(conv)
        return
    await handler(conv, target or 0)


async def _go_online(conv: Conversation, _: int) -> None:
    await account.set_presence(conv, "online")


async def _statement(conv: Conversation, _: int) -> None:
    await account.wallet(conv)


async def _book_provider(conv: Conversation, provider_id: int) -> None:
    conv.finish()
    await browse.provider(conv, provider_id)


ACTIONS: dict[str, Callable[[Conversation, int], Awaitable[None]]] = {
    "order.show": lambda conv, order_id: orders.card(conv, order_id),
    "order.pay": _tok_pay,
    "order.cancel": orders.cancel_preview,
    "order.accept": orders.accept,
    "order.reject": orders.ask_reject_reason,
    "order.start": orders.start,
    "order.finish": lambda conv, order_id: orders.finish(conv, order_id),
    "order.confirm": orders.confirm,
    "order.dispute": orders.ask_dispute,
    "order.dispute_respond": orders.ask_dispute_response,
    "order.reschedule_agree": lambda conv, order_id: orders.answer_reschedule(conv, order_id, True),
    "order.reschedule_decline": lambda conv, order_id: orders.answer_reschedule(conv, order_id, False),
    "order.book_provider": _book_provider,
    "provider.go_online": _go_online,
    "wallet.statement": _statement,
    "application.approve": account.approve_application,
    "application.reject": account.ask_application_reason,
    "application.show": account.show_application,
    "relay.select": relay.select,
    "relay.transcript": relay.transcript,
    "relay.sos": relay.sos,
}
ACTIONS_WITHOUT_ID = frozenset({"wallet.statement", "provider.go_online"})
