"""Simulated Telegram users and groups: what people do in their clients, turned into updates.

A ``SimUser`` types text (commands get entities, ``/start payload`` deep links), sends
photos, voice notes, documents, stickers, locations (live ones too), contacts and albums,
replies to and edits messages, taps inline buttons, presses reply-keyboard buttons, pays
invoices and blocks or unblocks the bot. Each action produces the updates Telegram would
send the bot and is recorded in the chat's timeline. The user also reads: ``next_message``
waits for the bot's next message in a chat, which is how tests and the demo follow a
conversation. Clients only let people do what they could do on screen, so tapping a
button that is not there, or paying a message that is not an invoice, is refused.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any

from bots.telegram.standin import media
from bots.telegram.standin.errors import SimulationError
from bots.telegram.standin.formatting import detect_entities, utf16_slice
from bots.telegram.standin.methods import member_object, photo_sizes
from bots.telegram.standin.world import (
    BotWorld,
    CallbackQueryState,
    ChatEvent,
    ChatState,
    PreCheckoutState,
    StarPayment,
    StoredMessage,
)


@dataclass(frozen=True)
class PaymentResult:
    """How a simulated payment ended: paid (with the service message) or not, and why."""

    ok: bool
    telegram_payment_charge_id: str | None = None
    message: dict[str, Any] | None = None
    error_message: str | None = None
    reason: str | None = None  # "refused" or "timeout" when not ok


class CallbackTap:
    """A tapped inline button; ``await tap.answer()`` waits for answerCallbackQuery."""

    def __init__(self, state: CallbackQueryState) -> None:
        self._state = state
        self.query = state.query
        self.id = str(state.query["id"])

    async def answer(self, within: float = 5.0) -> dict[str, Any]:
        try:
            async with asyncio.timeout(within):
                await self._state.answered.wait()
        except TimeoutError:
            raise TimeoutError(f"callback query {self.id} was not answered in {within} s")\
                from None
        assert self._state.answer is not None
        return dict(self._state.answer)

    @property
    def answered(self) -> bool:
        return self._state.answer is not None


class SimGroup:
    """A group or supergroup the bot is in, with simulated members."""

    def __init__(self, world: BotWorld, state: ChatState) -> None:
        self._world = world
        self.state = state
        self.id = state.id
        self._cursor = len(world.events)

    @property
    def chat(self) -> dict[str, Any]:
        return dict(self.state.chat)

    def history(self) -> list[dict[str, Any]]:
        return self._world.history(self.id)

    def bot_messages(self) -> list[dict[str, Any]]:
        return [m["message"] for m in self.history() if m["from_bot"] and not m["deleted"]]

    def message(self, message_id: int) -> dict[str, Any]:
        return _current(self.state, message_id)

    async def next_message(self, within: float = 5.0) -> dict[str, Any]:
        event = await self._world.wait_for_event(
            lambda e: e.chat_id == self.id and e.kind == "message" and e.data["from_bot"],
            after=self._cursor, within=within)
        self._cursor = event.seq
        return copy.deepcopy(event.data["message"])

    def set_bot_status(self, status: str) -> None:
        """Make the bot an "administrator", a "member", or remove it ("left"/"kicked")."""
        if status not in ("administrator", "member", "left", "kicked"):
            raise SimulationError(f"unknown bot status {status!r}")
        old = self.state.bot_status
        self.state.bot_status = status
        actor = next(iter(self.state.members), None)
        self._world.emit("my_chat_member", _member_update(
            self._world, self.state, self._world.users.get(actor, self._world.bot_user), old,
            status))


class SimUser:
    """One simulated Telegram user talking to the bot."""

    def __init__(self, world: BotWorld, user: dict[str, Any]) -> None:
        self._world = world
        self.user = user
        self.id = int(user["id"])
        self._cursors: dict[int, int] = {}
        # reading starts with what happens after the handle is made
        self._origin = len(world.events)

    def __repr__(self) -> str:
        return f"SimUser({self.id}, {self.user.get('username') or self.user['first_name']!r})"

    # -- reading ---------------------------------------------------------------------------

    @property
    def chat_id(self) -> int:
        return self.id

    def history(self, chat: int | SimGroup | None = None) -> list[dict[str, Any]]:
        return self._world.history(self._chat(chat).id)

    def bot_messages(self, chat: int | SimGroup | None = None) -> list[dict[str, Any]]:
        """Current versions of the bot's messages in the chat, oldest first."""
        return [m["message"] for m in self.history(chat) if m["from_bot"] and not m["deleted"]]

    def last_message(self, chat: int | SimGroup | None = None) -> dict[str, Any]:
        messages = self.bot_messages(chat)
        if not messages:
            raise SimulationError("the bot has not sent anything in this chat")
        return messages[-1]

    def message(self, message_id: int, chat: int | SimGroup | None = None) -> dict[str, Any]:
        return _current(self._chat(chat), message_id)

    async def next_message(
        self, within: float = 5.0, chat: int | SimGroup | None = None
    ) -> dict[str, Any]:
        """The bot's next new message in the chat (each message is returned once)."""
        state = self._chat(chat)
        event = await self._world.wait_for_event(
            lambda e: e.chat_id == state.id and e.kind == "message" and e.data["from_bot"],
            after=self._cursor(state), within=within)
        self._cursors[state.id] = event.seq
        return copy.deepcopy(event.data["message"])

    async def next_event(
        self, kind: str, within: float = 5.0, chat: int | SimGroup | None = None
    ) -> ChatEvent:
        state = self._chat(chat)
        event = await self._world.wait_for_event(
            lambda e: e.chat_id == state.id and e.kind == kind,
            after=self._cursor(state), within=within)
        self._cursors[state.id] = event.seq
        return event

    def _cursor(self, state: ChatState) -> int:
        return self._cursors.setdefault(state.id, self._origin)

    # -- writing ---------------------------------------------------------------------------

    async def start(self, payload: str | None = None) -> dict[str, Any]:
        """Open the bot (or a t.me/<bot>?start=<payload> link): sends /start [payload]."""
        return await self.send_text(f"/start {payload}" if payload else "/start")

    async def send_text(
        self, text: str, *, chat: int | SimGroup | None = None,
        reply_to: dict[str, Any] | int | None = None,
    ) -> dict[str, Any]:
        if not text.strip():
            raise SimulationError("Telegram clients do not send empty messages")
        if len(text) > 4096:
            raise SimulationError("a message typed by a user is at most 4096 characters")
        content: dict[str, Any] = {"text": text}
        entities = detect_entities(text)
        if entities:
            content["entities"] = entities
        return self._post(self._chat(chat), content, reply_to)

    async def send_photo(
        self, data: bytes | None = None, *, caption: str | None = None,
        chat: int | SimGroup | None = None, reply_to: dict[str, Any] | int | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        data = data if data is not None else media.make_png(1280, 960)
        stored = self._world.store_file("photo", data, mime_type=media.sniff_mime(data),
                                        extension="jpg")
        content: dict[str, Any] = {"photo": photo_sizes(self._world, stored)}
        _caption(content, caption)
        if media_group_id:
            content["media_group_id"] = media_group_id
        return self._post(self._chat(chat), content, reply_to)

    async def send_album(
        self, photos: list[bytes] | int = 3, *, caption: str | None = None,
        chat: int | SimGroup | None = None,
    ) -> list[dict[str, Any]]:
        """Several photos sent together: one message each, sharing a media_group_id."""
        items = [media.make_png(800 + i, 600) for i in range(photos)] \
            if isinstance(photos, int) else photos
        if not 2 <= len(items) <= 10:
            raise SimulationError("an album has 2-10 items")
        group_id = self._world.new_id("")
        return [
            await self.send_photo(item, caption=caption if index == 0 else None, chat=chat,
                                  media_group_id=group_id)
            for index, item in enumerate(items)
        ]

    async def send_voice(
        self, data: bytes | None = None, *, duration: int = 3,
        chat: int | SimGroup | None = None, reply_to: dict[str, Any] | int | None = None,
    ) -> dict[str, Any]:
        data = data if data is not None else media.make_ogg(duration)
        stored = self._world.store_file("voice", data, mime_type="audio/ogg", extension="oga")
        voice = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                 "duration": duration, "mime_type": "audio/ogg", "file_size": len(data)}
        return self._post(self._chat(chat), {"voice": voice}, reply_to)

    async def send_document(
        self, data: bytes, file_name: str, *, mime_type: str | None = None,
        caption: str | None = None, chat: int | SimGroup | None = None,
        reply_to: dict[str, Any] | int | None = None,
    ) -> dict[str, Any]:
        mime = mime_type or media.sniff_mime(data, file_name)
        stored = self._world.store_file("document", data, mime_type=mime,
                                        extension=media.extension_for(mime, file_name),
                                        file_name=file_name)
        document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                    "file_name": file_name, "mime_type": mime, "file_size": len(data)}
        content: dict[str, Any] = {"document": document}
        _caption(content, caption)
        return self._post(self._chat(chat), content, reply_to)

    async def send_sticker(
        self, emoji: str = "👍", *, chat: int | SimGroup | None = None,
        reply_to: dict[str, Any] | int | None = None,
    ) -> dict[str, Any]:
        data = media.make_webp()
        stored = self._world.store_file("sticker", data, mime_type="image/webp",
                                        extension="webp")
        sticker = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                   "type": "regular", "width": 512, "height": 512, "is_animated": False,
                   "is_video": False, "emoji": emoji, "file_size": len(data)}
        return self._post(self._chat(chat), {"sticker": sticker}, reply_to)

    async def send_location(
        self, latitude: float, longitude: float, *, live_period: int | None = None,
        horizontal_accuracy: float | None = None, chat: int | SimGroup | None = None,
        reply_to: dict[str, Any] | int | None = None,
    ) -> dict[str, Any]:
        _check_coordinates(latitude, longitude)
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        if live_period is not None:
            location["live_period"] = live_period
        state = self._chat(chat)
        message = self._post(state, {"location": location}, reply_to)
        if live_period is not None:
            state.messages[message["message_id"]].live_until = \
                self._world.clock() + live_period
        return message

    async def move_live_location(
        self, message: dict[str, Any] | int, latitude: float, longitude: float,
        *, chat: int | SimGroup | None = None,
    ) -> dict[str, Any]:
        """A live location moving: Telegram sends it to the bot as an edited_message."""
        _check_coordinates(latitude, longitude)
        state = self._chat(chat)
        stored = self._own_message(state, message)
        location = stored.message.get("location")
        if not isinstance(location, dict) or "live_period" not in location:
            raise SimulationError("only a live location can move")
        if stored.live_until is None or stored.live_until <= self._world.clock():
            raise SimulationError("this live location has ended")
        return self._edit(state, stored, {"location": {**location, "latitude": latitude,
                                                       "longitude": longitude}})

    async def send_contact(
        self, phone_number: str, *, first_name: str | None = None,
        last_name: str | None = None, own: bool = True, chat: int | SimGroup | None = None,
    ) -> dict[str, Any]:
        """Share a phone contact; ``own=True`` is the "share my phone number" button."""
        if not phone_number.strip():
            raise SimulationError("a contact needs a phone number")
        contact: dict[str, Any] = {"phone_number": phone_number,
                                   "first_name": first_name or self.user["first_name"]}
        if last_name or (own and self.user.get("last_name")):
            contact["last_name"] = last_name or self.user["last_name"]
        if own:
            contact["user_id"] = self.id
        return self._post(self._chat(chat), {"contact": contact}, None)

    async def press(self, text: str, *, chat: int | SimGroup | None = None) -> dict[str, Any]:
        """Press a button of the reply keyboard the bot is showing."""
        state = self._chat(chat)
        keyboard = state.reply_keyboard
        if keyboard is None:
            raise SimulationError("the bot shows no reply keyboard in this chat")
        for row in keyboard.get("keyboard", []):
            for button in row:
                label = button if isinstance(button, str) else button.get("text")
                if label != text:
                    continue
                if isinstance(button, dict) and button.get("request_contact"):
                    return await self.send_contact(self.user.get("phone_number", "+10000000000"),
                                                   chat=chat)
                if keyboard.get("one_time_keyboard"):
                    state.reply_keyboard = None
                return await self.send_text(text, chat=chat)
        raise SimulationError(f"no reply keyboard button {text!r}")

    async def edit_message(
        self, message: dict[str, Any] | int, text: str, *, chat: int | SimGroup | None = None
    ) -> dict[str, Any]:
        state = self._chat(chat)
        stored = self._own_message(state, message)
        if "text" not in stored.message:
            raise SimulationError("only text messages can be edited this way")
        if stored.message["text"] == text:
            raise SimulationError("the text did not change")
        changes: dict[str, Any] = {"text": text}
        entities = detect_entities(text)
        changes["entities"] = entities
        return self._edit(state, stored, changes)

    async def tap(
        self, message: dict[str, Any] | int, button: str | None = None, *,
        callback_data: str | None = None, chat: int | SimGroup | None = None,
    ) -> CallbackTap:
        """Tap an inline button (by its text or callback_data) under one of the bot's messages."""
        state = self._chat(chat)
        self._require_access(state)
        message_id = message if isinstance(message, int) else int(message["message_id"])
        stored = state.messages.get(message_id)
        if stored is None or stored.deleted:
            raise SimulationError(f"message {message_id} is not in the chat")
        found = _find_button(stored.message, button, callback_data)
        if found.get("pay"):
            raise SimulationError("use pay() for a Pay button")
        if "callback_data" not in found:
            raise SimulationError(f"button {found.get('text')!r} does not send a callback")
        world = self._world
        query = {"id": world.new_id(""), "from": self.user, "message": stored.message,
                 "chat_instance": str(abs(hash((world.bot_id, state.id))) % 10**18),
                 "data": found["callback_data"]}
        tracked = CallbackQueryState(query, state.id, message_id, world.clock())
        world.callback_queries[query["id"]] = tracked
        world.record_event(state.id, "callback_query", callback_query=query)
        world.emit("callback_query", query)
        return CallbackTap(tracked)

    async def pay(
        self, invoice: dict[str, Any] | int | str, *, tip: int = 0,
        chat: int | SimGroup | None = None, within: float | None = None,
        order_info: dict[str, Any] | None = None,
    ) -> PaymentResult:
        """Pay an invoice message (or an invoice link from createInvoiceLink).

        Telegram asks the bot with a pre_checkout_query and waits for
        answerPreCheckoutQuery (10 s); only an ok answer in time charges the user and
        sends the bot a successful_payment message.
        """
        world = self._world
        if isinstance(invoice, str):
            details = world.invoice_links.get(invoice.rsplit("$", 1)[-1])
            if details is None:
                raise SimulationError(f"{invoice!r} is not an invoice link of this bot")
            state = world.chats[self.id]
        else:
            state = self._chat(chat)
            message_id = invoice if isinstance(invoice, int) else int(invoice["message_id"])
            stored = state.messages.get(message_id)
            if stored is None or stored.deleted or stored.invoice is None:
                raise SimulationError(f"message {message_id} is not an invoice")
            details = stored.invoice
        self._require_access(state)
        if tip < 0 or tip > details["max_tip_amount"]:
            raise SimulationError(f"tip must be between 0 and {details['max_tip_amount']}")
        total = details["total_amount"] + tip
        query: dict[str, Any] = {"id": world.new_id(""), "from": self.user,
                                 "currency": details["currency"], "total_amount": total,
                                 "invoice_payload": details["payload"]}
        if order_info or any(details[f] for f in ("need_name", "need_phone_number",
                                                   "need_email")):
            query["order_info"] = order_info or _order_info(self.user, details)
        answer: asyncio.Future[tuple[bool, str | None]] = \
            asyncio.get_running_loop().create_future()
        world.pre_checkouts[query["id"]] = PreCheckoutState(query, state.id, answer)
        world.record_event(state.id, "pre_checkout_query", pre_checkout_query=query)
        world.emit("pre_checkout_query", query)
        wait = world.pre_checkout_timeout if within is None else within
        try:
            async with asyncio.timeout(wait):
                ok, error_message = await asyncio.shield(answer)
        except TimeoutError:
            world.pre_checkouts.pop(query["id"], None)
            answer.cancel()
            world.record_event(state.id, "payment_failed", reason="timeout",
                               pre_checkout_query_id=query["id"])
            return PaymentResult(False, reason="timeout")
        if not ok:
            world.record_event(state.id, "payment_failed", reason="refused",
                               error_message=error_message, pre_checkout_query_id=query["id"])
            return PaymentResult(False, error_message=error_message, reason="refused")
        xtr = details["currency"] == "XTR"
        charge_id = world.new_id("stxP" if xtr else "tgP")
        payment = {"currency": details["currency"], "total_amount": total,
                   "invoice_payload": details["payload"],
                   "telegram_payment_charge_id": charge_id,
                   "provider_payment_charge_id": "" if xtr else world.new_id("prov")}
        if "order_info" in query:
            payment["order_info"] = query["order_info"]
        world.payments[charge_id] = StarPayment(self.id, charge_id, details["currency"], total,
                                                details["payload"])
        message = self._post(state, {"successful_payment": payment}, None)
        return PaymentResult(True, telegram_payment_charge_id=charge_id, message=message)

    async def block(self) -> None:
        """Block the bot: its messages now fail with 403, and it gets a my_chat_member update."""
        state = self._world.chats[self.id]
        if state.blocked:
            raise SimulationError("the bot is already blocked")
        state.blocked = True
        self._world.record_event(state.id, "blocked")
        self._world.emit("my_chat_member", _member_update(self._world, state, self.user,
                                                          "member", "kicked"))

    async def unblock(self) -> None:
        state = self._world.chats[self.id]
        if not state.blocked:
            raise SimulationError("the bot is not blocked")
        state.blocked = False
        self._world.record_event(state.id, "unblocked")
        self._world.emit("my_chat_member", _member_update(self._world, state, self.user,
                                                          "kicked", "member"))

    # -- internals -------------------------------------------------------------------------

    def _chat(self, chat: int | SimGroup | None) -> ChatState:
        if chat is None:
            return self._world.chats[self.id]
        chat_id = chat.id if isinstance(chat, SimGroup) else int(chat)
        state = self._world.chats.get(chat_id)
        if state is None:
            raise SimulationError(f"no chat {chat_id}")
        if state.type != "private" and self.id not in state.members:
            raise SimulationError(f"{self!r} is not a member of {state.chat.get('title')!r}")
        if state.type == "private" and state.id != self.id:
            raise SimulationError("a user can only write in their own chat with the bot")
        return state

    def _require_access(self, state: ChatState) -> None:
        if state.type == "private" and state.blocked:
            raise SimulationError("the user blocked the bot; unblock() first")

    def _own_message(self, state: ChatState, message: dict[str, Any] | int) -> StoredMessage:
        message_id = message if isinstance(message, int) else int(message["message_id"])
        stored = state.messages.get(message_id)
        if stored is None or stored.deleted:
            raise SimulationError(f"message {message_id} is not in the chat")
        if stored.from_bot or stored.message.get("from", {}).get("id") != self.id:
            raise SimulationError("users can only edit their own messages")
        return stored

    def _post(self, state: ChatState, content: dict[str, Any],
              reply_to: dict[str, Any] | int | None) -> dict[str, Any]:
        self._require_access(state)
        world = self._world
        message: dict[str, Any] = {"message_id": state.allocate_message_id(), "from": self.user,
                                   "chat": state.chat, "date": world.now(), **content}
        if reply_to is not None:
            reply_id = reply_to if isinstance(reply_to, int) else int(reply_to["message_id"])
            replied = state.messages.get(reply_id)
            if replied is None or replied.deleted:
                raise SimulationError(f"message {reply_id} is not in the chat")
            message["reply_to_message"] = {k: v for k, v in replied.message.items()
                                           if k != "reply_to_message"}
        world.store_message(state, message, from_bot=False)
        if _bot_sees(world, state, message):
            world.emit("message", message)
        return copy.deepcopy(message)

    def _edit(self, state: ChatState, stored: StoredMessage,
              changes: dict[str, Any]) -> dict[str, Any]:
        world = self._world
        updated = {**stored.message, **changes, "edit_date": world.now()}
        world.replace_message(state, stored, updated)
        if _bot_sees(world, state, updated):
            world.emit("edited_message", updated)
        return copy.deepcopy(updated)


def _current(state: ChatState, message_id: int) -> dict[str, Any]:
    stored = state.messages.get(message_id)
    if stored is None:
        raise SimulationError(f"message {message_id} is not in the chat")
    return copy.deepcopy(stored.message)


def _caption(content: dict[str, Any], caption: str | None) -> None:
    if caption:
        if len(caption) > 1024:
            raise SimulationError("a caption is at most 1024 characters")
        content["caption"] = caption
        entities = detect_entities(caption)
        if entities:
            content["caption_entities"] = entities


def _check_coordinates(latitude: float, longitude: float) -> None:
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise SimulationError("latitude must be within ±90 and longitude within ±180")


def _find_button(message: dict[str, Any], text: str | None,
                 callback_data: str | None) -> dict[str, Any]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    labels = []
    for row in keyboard:
        for button in row:
            labels.append(button.get("text"))
            if text is not None and button.get("text") == text:
                return dict(button)
            if callback_data is not None and button.get("callback_data") == callback_data:
                return dict(button)
    wanted = text if text is not None else callback_data
    raise SimulationError(f"no inline button {wanted!r} under message "
                          f"{message.get('message_id')}; buttons: {labels}")


def _order_info(user: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if details.get("need_name"):
        info["name"] = " ".join(filter(None, (user.get("first_name"), user.get("last_name"))))
    if details.get("need_phone_number"):
        info["phone_number"] = "+10000000000"
    if details.get("need_email"):
        info["email"] = f"{user.get('username') or user['id']}@example.com"
    return info


def _member_update(world: BotWorld, state: ChatState, actor: dict[str, Any], old: str,
                   new: str) -> dict[str, Any]:
    return {"chat": state.chat, "from": actor, "date": world.now(),
            "old_chat_member": member_object(old, world.bot_user),
            "new_chat_member": member_object(new, world.bot_user)}


def _bot_sees(world: BotWorld, state: ChatState, message: dict[str, Any]) -> bool:
    """Privacy mode: in groups a bot that is not an admin sees only what is meant for it."""
    if state.type == "private" or state.bot_status == "administrator" or not world.group_privacy:
        return True
    if state.bot_status in ("left", "kicked"):
        return False
    text = message.get("text") or message.get("caption") or ""
    username = str(world.bot_user.get("username", "")).lower()
    for entity in message.get("entities") or message.get("caption_entities") or []:
        fragment = utf16_slice(text, entity["offset"], entity["length"]).lower()
        if entity["type"] == "bot_command" and ("@" not in fragment
                                                or fragment.endswith("@" + username)):
            return True
        if entity["type"] == "mention" and fragment == "@" + username:
            return True
    replied = message.get("reply_to_message") or {}
    return bool(replied.get("from", {}).get("id") == world.bot_id)
