"""The state one bot sees through the stand-in: users, chats, messages, files and updates.

A ``BotWorld`` belongs to one bot token. It keeps what Telegram's servers would keep for
that bot (chats with their own message-id counters, uploaded files, pending updates,
unanswered callback and pre-checkout queries, Star payments) plus what tests and the demo
page need to look at (a per-chat event timeline with every message, edit, deletion,
chat action and callback answer, and the log of every API call).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bots.telegram.standin.ratelimit import RateLimiter, RateLimits

# Update types Telegram leaves out unless asked for explicitly.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class Signal:
    """Wakes every waiter when something changed; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, within: float | None) -> None:
        if self._event is None:
            self._event = asyncio.Event()
        # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that
        # arrives as the event fires (https://github.com/python/cpython/issues/86296).
        try:
            async with asyncio.timeout(within):
                await self._event.wait()
        except TimeoutError:
            pass


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_path: str
    mime_type: str
    file_name: str | None = None

    def as_file(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


@dataclass
class StoredMessage:
    message: dict[str, Any]
    from_bot: bool
    versions: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    protect_content: bool = False
    live_until: float | None = None
    invoice: dict[str, Any] | None = None
    callback_answers: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "from_bot": self.from_bot,
            "edits": self.versions,
            "deleted": self.deleted,
            "protect_content": self.protect_content,
            "callback_answers": self.callback_answers,
        }


@dataclass
class ChatState:
    chat: dict[str, Any]
    members: dict[int, str] = field(default_factory=dict)
    blocked: bool = False
    bot_status: str = "member"
    reply_keyboard: dict[str, Any] | None = None
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1

    @property
    def id(self) -> int:
        return int(self.chat["id"])

    @property
    def type(self) -> str:
        return str(self.chat["type"])

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass(frozen=True)
class ChatEvent:
    """One thing that happened in a chat, in order; ``data`` is a snapshot."""

    seq: int
    chat_id: int
    kind: str
    date: int
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "chat_id": self.chat_id, "kind": self.kind,
                "date": self.date, **self.data}


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request as the stand-in saw and answered it."""

    seq: int
    method: str
    params: dict[str, Any]
    ok: bool
    result: Any = None
    error_code: int | None = None
    description: str | None = None
    warnings: tuple[str, ...] = ()
    via: str = "http"

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "method": self.method, "params": self.params, "ok": self.ok,
            "result": self.result, "error_code": self.error_code,
            "description": self.description, "warnings": list(self.warnings), "via": self.via,
        }


@dataclass
class PendingUpdate:
    update: dict[str, Any]
    duplicate: bool = False
    delivered: bool = False
    # webhook bookkeeping
    in_flight: bool = False
    attempts: int = 0
    not_before: float = 0.0
    # the chat whose updates must stay in order (webhook workers read it on every claim)
    chat_key: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.chat_key = self._find_chat()

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    def _find_chat(self) -> int | None:
        for value in self.update.values():
            if isinstance(value, dict):
                chat = value.get("chat") or (value.get("message") or {}).get("chat")
                if isinstance(chat, dict):
                    return int(chat["id"])
                sender = value.get("from")
                if isinstance(sender, dict):
                    return int(sender["id"])
        return None


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class CallbackQueryState:
    query: dict[str, Any]
    chat_id: int | None
    message_id: int | None
    created_at: float
    answer: dict[str, Any] | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class PreCheckoutState:
    query: dict[str, Any]
    chat_id: int
    answer: asyncio.Future[tuple[bool, str | None]]


@dataclass
class StarPayment:
    user_id: int
    charge_id: str
    currency: str
    total_amount: int
    invoice_payload: str
    refunded: bool = False


class BotWorld:
    """Everything the stand-in keeps for one bot token."""

    def __init__(
        self,
        token: str,
        *,
        username: str,
        first_name: str,
        rate_limits: RateLimits,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.clock = clock
        self.monotonic = monotonic
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id, "is_bot": True, "first_name": first_name, "username": username,
        }
        self.users: dict[int, dict[str, Any]] = {}
        self.user_settings: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.pending: list[PendingUpdate] = []
        self.allowed_updates: list[str] | None = None
        self.webhook: WebhookConfig | None = None
        self.duplicate_updates = False
        # Bots in groups see only commands, mentions and replies unless they are admins.
        self.group_privacy = True
        self.events: list[ChatEvent] = []
        self.calls: list[ApiCall] = []
        self.dropped_updates: list[dict[str, Any]] = []
        self.callback_queries: dict[str, CallbackQueryState] = {}
        self.pre_checkouts: dict[str, PreCheckoutState] = {}
        self.payments: dict[str, StarPayment] = {}
        self.invoice_links: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.limiter = RateLimiter(rate_limits, monotonic)
        self.updates_changed = Signal()
        self.events_changed = Signal()
        self.callback_answer_timeout = 15.0
        self.pre_checkout_timeout = 10.0
        self.poller_generation = 0
        self._next_update_id = 1
        self._ids = itertools.count(1)
        self._group_ids = itertools.count(1)

    # -- time and ids ------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def new_id(self, prefix: str = "") -> str:
        return f"{prefix}{self.bot_id % 100000}{next(self._ids):06d}{secrets.token_hex(3)}"

    # -- users and chats ---------------------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = None,
        user_id: int | None = None,
        is_premium: bool = False,
    ) -> dict[str, Any]:
        if not first_name:
            raise ValueError("a Telegram user needs a first_name")
        if user_id is None:
            user_id = 100_000_000 + len(self.users) + 1
            while user_id in self.users or user_id == self.bot_id:
                user_id += 1
        if user_id in self.users:
            raise ValueError(f"user {user_id} already exists")
        if user_id <= 0:
            raise ValueError("user ids are positive")
        if username is not None and any(
            u.get("username", "").lower() == username.lower() for u in self.users.values()
        ):
            raise ValueError(f"username @{username} is taken")
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        if is_premium:
            user["is_premium"] = True
        self.users[user_id] = user
        chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        self.chats[user_id] = ChatState(chat)
        return user

    def add_group(
        self,
        title: str,
        member_ids: Iterable[int],
        *,
        admin_ids: Iterable[int] = (),
        supergroup: bool = False,
        username: str | None = None,
    ) -> ChatState:
        if not title:
            raise ValueError("a group needs a title")
        number = next(self._group_ids)
        chat_id = -(1_000_000_000_000 + number) if supergroup else -(4_000_000_000 + number)
        chat: dict[str, Any] = {"id": chat_id, "type": "supergroup" if supergroup else "group",
                                "title": title}
        if username:
            chat["username"] = username
        state = ChatState(chat)
        admins = set(admin_ids)
        for index, user_id in enumerate(member_ids):
            if user_id not in self.users:
                raise ValueError(f"unknown user {user_id}")
            state.members[user_id] = "creator" if index == 0 and user_id in admins else (
                "administrator" if user_id in admins else "member")
        unknown_admins = admins - set(state.members)
        if unknown_admins:
            raise ValueError(f"admins must be members: {sorted(unknown_admins)}")
        self.chats[chat_id] = state
        return state

    def chat_state(self, chat_id: int) -> ChatState:
        state = self.chats.get(chat_id)
        if state is None:
            raise KeyError(f"no chat {chat_id}")
        return state

    def find_chat(self, chat_ref: int | str) -> ChatState | None:
        if isinstance(chat_ref, int):
            return self.chats.get(chat_ref)
        if chat_ref.startswith("@"):
            wanted = chat_ref[1:].lower()
            for state in self.chats.values():
                if state.type != "private" and state.chat.get("username", "").lower() == wanted:
                    return state
            return None
        try:
            return self.chats.get(int(chat_ref))
        except ValueError:
            return None

    # -- files -------------------------------------------------------------------------------

    def store_file(
        self,
        kind: str,
        data: bytes,
        *,
        mime_type: str,
        extension: str,
        file_name: str | None = None,
    ) -> StoredFile:
        number = next(self._ids)
        file_id = f"{kind[:2].upper()}{self.bot_id % 1000}{number:07d}{secrets.token_urlsafe(12)}"
        unique = f"AQAD{number:08d}{secrets.token_hex(2)}"
        folder = {"photo": "photos", "voice": "voice", "video": "videos", "document": "documents",
                  "sticker": "stickers", "video_note": "video_notes"}.get(kind, "documents")
        stored = StoredFile(file_id, unique, kind, data, f"{folder}/file_{number}.{extension}",
                            mime_type, file_name)
        self.files[file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    # -- messages and events -----------------------------------------------------------------

    def record_event(self, chat_id: int, kind: str, **data: Any) -> ChatEvent:
        event = ChatEvent(len(self.events) + 1, chat_id, kind, self.now(), data)
        self.events.append(event)
        self.events_changed.notify()
        return event

    def store_message(
        self,
        state: ChatState,
        message: dict[str, Any],
        *,
        from_bot: bool,
        protect_content: bool = False,
        invoice: dict[str, Any] | None = None,
        live_until: float | None = None,
    ) -> StoredMessage:
        stored = StoredMessage(message, from_bot, protect_content=protect_content,
                               invoice=invoice, live_until=live_until)
        state.messages[int(message["message_id"])] = stored
        self.record_event(state.id, "message", message=message, from_bot=from_bot)
        return stored

    def replace_message(self, state: ChatState, stored: StoredMessage,
                        new_message: dict[str, Any]) -> None:
        stored.versions.append(stored.message)
        previous = stored.message
        stored.message = new_message
        self.record_event(state.id, "edited", message=new_message, previous=previous,
                          from_bot=stored.from_bot)

    # -- updates -----------------------------------------------------------------------------

    def wants(self, update_type: str) -> bool:
        allowed = self.webhook.allowed_updates if self.webhook and \
            self.webhook.allowed_updates is not None else self.allowed_updates
        if not allowed:
            return update_type not in OPT_IN_UPDATES
        return update_type in allowed

    def emit(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update for the bot; returns it, or None when allowed_updates filters it."""
        update = {"update_id": self._next_update_id, update_type: payload}
        self._next_update_id += 1
        if not self.wants(update_type):
            self.dropped_updates.append(update)
            return None
        self.pending.append(PendingUpdate(update))
        if self.duplicate_updates:
            self.pending.append(PendingUpdate(update, duplicate=True))
        self.updates_changed.notify()
        return update

    def confirm_updates(self, offset: int | None) -> None:
        self.pending = [p for p in self.pending if not (p.duplicate and p.delivered)]
        if offset is None:
            return
        if offset < 0:
            # "retrieve updates starting from -offset update from the end of the queue"
            originals = [p for p in self.pending if not p.duplicate]
            keep_from = originals[offset].update_id if len(originals) >= -offset else None
            if keep_from is not None:
                self.pending = [p for p in self.pending if p.update_id >= keep_from]
            return
        self.pending = [p for p in self.pending if p.duplicate or p.update_id >= offset]

    def drop_pending(self) -> None:
        self.pending.clear()
        self.updates_changed.notify()

    # -- recording ---------------------------------------------------------------------------

    def record_call(self, **fields: Any) -> ApiCall:
        call = ApiCall(seq=len(self.calls) + 1, **fields)
        self.calls.append(call)
        return call

    # -- read access for tests and the demo page ------------------------------------------------

    def history(self, chat_id: int) -> list[dict[str, Any]]:
        state = self.chat_state(chat_id)
        return copy.deepcopy([state.messages[k].as_json() for k in sorted(state.messages)])

    def chat_events(self, chat_id: int | None = None, after: int = 0) -> list[ChatEvent]:
        return [e for e in self.events[after:] if chat_id is None or e.chat_id == chat_id]

    async def wait_for_event(
        self,
        predicate: Callable[[ChatEvent], bool],
        *,
        after: int = 0,
        within: float = 5.0,
    ) -> ChatEvent:
        """The first event after ``after`` matching ``predicate``; TimeoutError if none comes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        checked = after
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = len(self.events)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no matching chat event within {within} s")
            await self.events_changed.wait(remaining)
