"""The Bot API methods the stand-in answers, and the pipeline every call goes through.

``BotApi.call`` is the one door: look the method up (404 like Telegram when unknown),
validate the parameters against the spec (400), run the method (which checks the chat:
400 "chat not found", 403 when the user blocked the bot, and the flood limits: 429), and
record the call with its result or error. Methods build the JSON Telegram would return
(Message objects with ``from`` = the bot, photo sizes, invoices, locations...) and keep
the chats' state, so later calls (edits, copies, getFile) see what earlier ones did.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bots.telegram.standin import media
from bots.telegram.standin.errors import (
    BotApiError,
    bad_request,
    conflict,
    forbidden,
    not_found,
    not_implemented,
    too_many_requests,
)
from bots.telegram.standin.formatting import parse_text
from bots.telegram.standin.spec import (
    ApiSpec,
    UploadedFile,
    check_limit_after_entities,
    validate_call,
)
from bots.telegram.standin.world import (
    BotWorld,
    ChatState,
    StarPayment,
    StoredFile,
    StoredMessage,
    WebhookConfig,
)

log = logging.getLogger("yueban.telegram.standin")

CONTENT_KEYS = (
    "text", "entities", "link_preview_options", "animation", "audio", "document", "photo",
    "sticker", "video", "video_note", "voice", "caption", "caption_entities",
    "show_caption_above_media", "has_media_spoiler", "contact", "dice", "location", "venue",
    "poll",
)
MEDIA_KEYS = ("animation", "audio", "document", "photo", "video", "voice")
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
})
FOREVER = 0x7FFFFFFF
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_EXPIRED = "query is too old and response timeout expired or query ID is invalid"


class WebhookSwitch(Protocol):
    """Starts and stops webhook delivery for a bot (implemented by the delivery module)."""

    def webhook_changed(self, world: BotWorld) -> None: ...


class Params:
    """Typed access to call parameters; also copes with untyped ones when no spec is loaded."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def has(self, name: str) -> bool:
        value = self.values.get(name)
        return value is not None and value != ""

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            raise bad_request(f"parameter {name} must be a String")
        return str(value)

    def req_text(self, name: str) -> str:
        value = self.text(name)
        if value is None or value == "":
            raise bad_request(f"parameter {name} is required")
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f"parameter {name} must be an Integer")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"parameter {name} must be an Integer") from None

    def req_integer(self, name: str) -> int:
        value = self.integer(name)
        if value is None:
            raise bad_request(f"parameter {name} is required")
        return value

    def number(self, name: str) -> float | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"parameter {name} must be a Float") from None

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    def json(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"parameter {name} is not valid JSON") from None
        return value

    def chat_ref(self, name: str = "chat_id") -> int | str:
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        if isinstance(value, int):
            return value
        text = str(value)
        try:
            return int(text)
        except ValueError:
            return text


@dataclass
class Call:
    api: BotApi
    world: BotWorld
    params: Params
    files: Mapping[str, UploadedFile]


Handler = Callable[[Call], Awaitable[Any]]
_HANDLERS: dict[str, tuple[str, Handler]] = {}


def _method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _HANDLERS[name.lower()] = (name, handler)
        return handler

    return register


def implemented_methods() -> list[str]:
    return sorted(name for name, _ in _HANDLERS.values())


class BotApi:
    """Validates, rate-limits, executes and records Bot API calls."""

    def __init__(self, spec: ApiSpec | None, webhooks: WebhookSwitch | None = None) -> None:
        self.spec = spec
        self.webhooks = webhooks
        self.closing = False

    async def call(
        self,
        world: BotWorld,
        method_name: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
        *,
        via: str = "http",
    ) -> Any:
        files = files or {}
        method_spec = self.spec.method(method_name) if self.spec else None
        entry = _HANDLERS.get(method_name.lower())
        name = method_spec.name if method_spec else entry[0] if entry else method_name
        warnings: tuple[str, ...] = ()
        try:
            if method_spec is None and (self.spec is not None or entry is None):
                raise not_found()
            typed: Mapping[str, Any]
            if self.spec is not None and method_spec is not None:
                validated = validate_call(self.spec, method_spec, params, files)
                typed, warnings = validated.params, tuple(validated.warnings)
                for warning in warnings:
                    log.warning("%s: %s", name, warning)
            else:
                typed = {**params, **{k: v for k, v in files.items() if k not in params}}
            if entry is None:
                raise not_implemented(name)
            result = await entry[1](Call(self, world, Params(typed), files))
        except BotApiError as error:
            if error.warnings:
                warnings = error.warnings
                for warning in warnings:
                    log.warning("%s: %s", name, warning)
            world.record_call(method=name, params=_loggable(params, files), ok=False,
                              error_code=error.error_code, description=error.description,
                              warnings=warnings, via=via)
            raise
        world.record_call(method=name, params=_loggable(params, files), ok=True, result=result,
                          warnings=warnings, via=via)
        return result


def _loggable(params: Mapping[str, Any], files: Mapping[str, UploadedFile]) -> dict[str, Any]:
    logged: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, UploadedFile):
            value = {"file": value.filename, "size": len(value.data)}
        elif isinstance(value, str) and value[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        logged[key] = value
    for key, upload in files.items():
        logged.setdefault(key, {"file": upload.filename, "size": len(upload.data),
                                "content_type": upload.content_type})
    return logged


# -- chats, rate limits, common message parts ---------------------------------------------


def chat_for_sending(world: BotWorld, chat_ref: int | str) -> ChatState:
    state = world.find_chat(chat_ref)
    if state is None:
        if isinstance(chat_ref, int) and chat_ref > 0:
            raise forbidden("bot can't initiate conversation with a user")
        raise bad_request("chat not found")
    if state.type == "private":
        if state.blocked:
            raise forbidden("bot was blocked by the user")
    elif state.bot_status == "kicked":
        raise forbidden(f"bot was kicked from the {state.type} chat")
    elif state.bot_status == "left":
        raise forbidden(f"bot is not a member of the {state.type} chat")
    return state


def acquire(world: BotWorld, state: ChatState, count: int = 1) -> None:
    retry_after = world.limiter.try_acquire(state.id, state.type, count)
    if retry_after is not None:
        raise too_many_requests(retry_after)


def _strip_reply(message: dict[str, Any]) -> dict[str, Any]:
    # "the Message object in this field will not contain further reply_to_message fields"
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def reply_target(world: BotWorld, state: ChatState, p: Params) -> dict[str, Any] | None:
    reply = p.json("reply_parameters")
    if not isinstance(reply, dict):
        return None
    target_state = state
    if reply.get("chat_id") not in (None, ""):
        target_state = world.find_chat(reply["chat_id"]) or state
    stored = target_state.messages.get(int(reply.get("message_id", 0)))
    if stored is None or stored.deleted:
        if reply.get("allow_sending_without_reply"):
            return None
        raise bad_request("message to be replied not found")
    return _strip_reply(stored.message)


def _check_inline_markup(markup: dict[str, Any], *, invoice: bool) -> None:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list):
        return
    for row_index, row in enumerate(rows):
        for column, button in enumerate(row if isinstance(row, list) else []):
            if not isinstance(button, dict):
                continue
            url = button.get("url")
            if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
                raise bad_request(f"BUTTON_URL_INVALID (inline_keyboard[{row_index}]"
                                  f"[{column}].url {url!r})")
            if button.get("pay"):
                if not invoice:
                    raise bad_request("pay buttons are allowed only in invoice messages")
                if (row_index, column) != (0, 0):
                    raise bad_request("the pay button must be the first button in the first row")


def apply_markup(
    world: BotWorld, state: ChatState, p: Params, message: dict[str, Any], *,
    invoice: bool = False,
) -> None:
    """Inline keyboards belong to the message; reply keyboards change the user's input area."""
    markup = p.json("reply_markup")
    if not isinstance(markup, dict):
        return
    if "inline_keyboard" in markup:
        _check_inline_markup(markup, invoice=invoice)
        message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
    elif "keyboard" in markup:
        state.reply_keyboard = markup
        world.record_event(state.id, "reply_keyboard", markup=markup)
    elif markup.get("remove_keyboard"):
        state.reply_keyboard = None
        world.record_event(state.id, "reply_keyboard", markup=None)
    elif markup.get("force_reply"):
        world.record_event(state.id, "force_reply", markup=markup)


def new_message(world: BotWorld, state: ChatState, p: Params) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": state.allocate_message_id(),
        "from": world.bot_user,
        "chat": state.chat,
        "date": world.now(),
    }
    if p.flag("protect_content"):
        message["has_protected_content"] = True
    return message


def render(
    api: BotApi, owner: str, p: Params, field: str, mode_field: str, entities_field: str,
    *, allow_empty: bool,
) -> tuple[str, list[dict[str, Any]]]:
    raw = p.text(field) or ""
    parse_mode = p.text(mode_field)
    entities = p.json(entities_field)
    text, parsed = parse_text(raw, parse_mode, entities if isinstance(entities, list) else None)
    if not text.strip() and not allow_empty:
        raise bad_request("message text is empty")
    check_limit_after_entities(api.spec, owner, field, text)
    return text, parsed


def put_text(message: dict[str, Any], key: str, text: str, entities: list[dict[str, Any]]) -> None:
    if text:
        message[key] = text
        if entities:
            message[f"{key}_entities" if key == "caption" else "entities"] = entities


def finish_send(
    call: Call, state: ChatState, message: dict[str, Any], *, count: int = 1,
    invoice: dict[str, Any] | None = None, live_until: float | None = None,
) -> dict[str, Any]:
    world, p = call.world, call.params
    reply = reply_target(world, state, p)
    if reply is not None:
        message["reply_to_message"] = reply
    apply_markup(world, state, p, message, invoice=invoice is not None)
    world.store_message(state, message, from_bot=True, protect_content=p.flag("protect_content"),
                        invoice=invoice, live_until=live_until)
    return message


# -- files ------------------------------------------------------------------------------------


def resolve_file(
    call: Call, value: Any, kind: str, *, file_name_hint: str | None = None
) -> StoredFile:
    world = call.world
    if isinstance(value, str) and value.startswith("attach://"):
        upload = call.files.get(value.removeprefix("attach://"))
        if upload is None:
            raise bad_request(f"file {value} was not sent")
        value = upload
    if isinstance(value, UploadedFile):
        if not value.data:
            raise bad_request("file must be non-empty")
        mime = media.sniff_mime(value.data, value.filename, value.content_type)
        return world.store_file(kind, value.data, mime_type=mime,
                                extension=media.extension_for(mime, value.filename),
                                file_name=value.filename)
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        # URLs are not fetched: the file stands for whatever the URL points to.
        name = value.rstrip("/").rsplit("/", 1)[-1] or "file"
        mime = media.sniff_mime(b"", name)
        return world.store_file(kind, f"placeholder for {value}".encode(), mime_type=mime,
                                extension=media.extension_for(mime, name), file_name=name)
    if isinstance(value, str):
        stored = world.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if kind != "document" and stored.kind != kind and not (
            kind == "photo" and stored.kind == "photo_size"
        ):
            raise bad_request("type of file mismatch")
        return stored
    raise bad_request(f"file_name {file_name_hint or kind} must be a file or a file_id")


def photo_sizes(world: BotWorld, stored: StoredFile) -> list[dict[str, Any]]:
    size = media.image_size(stored.data) or (800, 600)
    sizes = []
    if max(size) > 90:
        small = media.scaled(size, 90)
        thumb = world.store_file("photo_size", stored.data, mime_type=stored.mime_type,
                                 extension="jpg")
        sizes.append({"file_id": thumb.file_id, "file_unique_id": thumb.file_unique_id,
                      "file_size": len(thumb.data), "width": small[0], "height": small[1]})
    sizes.append({"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                  "file_size": len(stored.data), "width": size[0], "height": size[1]})
    return sizes


def media_object(call: Call, kind: str, stored: StoredFile, p: Params) -> Any:
    base = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data)}
    if kind == "photo":
        return photo_sizes(call.world, stored)
    if kind == "document":
        document = {**base, "mime_type": stored.mime_type}
        if stored.file_name:
            document["file_name"] = stored.file_name
        return document
    if kind == "voice":
        return {**base, "duration": p.integer("duration", 1), "mime_type": stored.mime_type}
    if kind == "video":
        width, height = media.image_size(stored.data) or (p.integer("width", 640),
                                                          p.integer("height", 360))
        video = {**base, "width": width, "height": height, "duration": p.integer("duration", 1),
                 "mime_type": stored.mime_type}
        if stored.file_name:
            video["file_name"] = stored.file_name
        return video
    if kind == "video_note":
        return {**base, "length": p.integer("length", 240), "duration": p.integer("duration", 1)}
    if kind == "sticker":
        animated = stored.mime_type == "application/x-tgsticker"
        width, height = media.image_size(stored.data) or (512, 512)
        sticker = {**base, "type": "regular", "width": width, "height": height,
                   "is_animated": animated, "is_video": stored.mime_type == "video/webm"}
        if p.has("emoji"):
            sticker["emoji"] = p.text("emoji")
        return sticker
    if kind == "audio":
        return {**base, "duration": p.integer("duration", 1), "mime_type": stored.mime_type}
    if kind == "animation":
        width, height = media.image_size(stored.data) or (320, 240)
        return {**base, "width": width, "height": height, "duration": p.integer("duration", 1)}
    raise bad_request(f"unsupported media type {kind}")


# -- getMe, updates, webhooks -------------------------------------------------------------------


@_method("getMe")
async def get_me(call: Call) -> Any:
    return {**call.world.bot_user, "can_join_groups": True,
            "can_read_all_group_messages": False, "supports_inline_queries": False}


@_method("getUpdates")
async def get_updates(call: Call) -> Any:
    world, p = call.world, call.params
    if world.webhook is not None:
        raise conflict("can't use getUpdates method while webhook is active; use "
                       "deleteWebhook to delete the webhook first")
    limit = p.integer("limit", 100) or 100
    timeout = max(0, min(p.integer("timeout", 0) or 0, 50))
    if p.raw("allowed_updates") is not None:
        allowed = p.json("allowed_updates")
        world.allowed_updates = list(allowed) if isinstance(allowed, list) else None
    world.poller_generation += 1
    generation = world.poller_generation
    world.confirm_updates(p.integer("offset"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if world.poller_generation != generation:
            raise conflict("terminated by other getUpdates request; make sure that only one "
                           "bot instance is running")
        batch = world.pending[:limit]
        if batch or call.api.closing or world.webhook is not None:
            for entry in batch:
                entry.delivered = True
            return [entry.update for entry in batch]
        remaining = deadline - loop.time()
        if remaining <= 0:
            return []
        await world.updates_changed.wait(remaining)


@_method("setWebhook")
async def set_webhook(call: Call) -> Any:
    world, p = call.world, call.params
    url = p.text("url") or ""
    if p.flag("drop_pending_updates"):
        world.drop_pending()
    if not url:
        world.webhook = None
        _webhook_changed(call)
        return True
    if not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = p.text("secret_token")
    if secret is not None and not _SECRET_RE.match(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = p.integer("max_connections", 40) or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    allowed = p.json("allowed_updates") if p.raw("allowed_updates") is not None else None
    if allowed is not None:
        world.allowed_updates = list(allowed)
    world.webhook = WebhookConfig(url, secret, max_connections,
                                  list(allowed) if allowed is not None else None)
    _webhook_changed(call)
    return True


def _webhook_changed(call: Call) -> None:
    call.world.updates_changed.notify()
    if call.api.webhooks is not None:
        call.api.webhooks.webhook_changed(call.world)


@_method("deleteWebhook")
async def delete_webhook(call: Call) -> Any:
    world = call.world
    world.webhook = None
    if call.params.flag("drop_pending_updates"):
        world.drop_pending()
    _webhook_changed(call)
    return True


@_method("getWebhookInfo")
async def get_webhook_info(call: Call) -> Any:
    world = call.world
    hook = world.webhook
    info: dict[str, Any] = {
        "url": hook.url if hook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(world.pending),
    }
    if hook is not None:
        info["max_connections"] = hook.max_connections
        info["ip_address"] = "127.0.0.1"
        if hook.allowed_updates is not None:
            info["allowed_updates"] = hook.allowed_updates
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
    return info


# -- sending ------------------------------------------------------------------------------------


@_method("sendMessage")
async def send_message(call: Call) -> Any:
    state = chat_for_sending(call.world, call.params.chat_ref())
    text, entities = render(call.api, "sendMessage", call.params, "text", "parse_mode",
                            "entities", allow_empty=False)
    acquire(call.world, state)
    message = new_message(call.world, state, call.params)
    put_text(message, "text", text, entities)
    return finish_send(call, state, message)


async def _send_media(call: Call, method: str, kind: str) -> Any:
    p = call.params
    state = chat_for_sending(call.world, p.chat_ref())
    caption, caption_entities = ("", [])
    if kind not in ("sticker", "video_note"):
        caption, caption_entities = render(call.api, method, p, "caption", "parse_mode",
                                           "caption_entities", allow_empty=True)
    stored = resolve_file(call, p.raw(kind), kind)
    acquire(call.world, state)
    message = new_message(call.world, state, p)
    message[kind] = media_object(call, kind, stored, p)
    put_text(message, "caption", caption, caption_entities)
    if p.flag("has_spoiler"):
        message["has_media_spoiler"] = True
    if p.flag("show_caption_above_media"):
        message["show_caption_above_media"] = True
    return finish_send(call, state, message)


def _media_method(method: str, kind: str) -> None:
    async def handler(call: Call) -> Any:
        return await _send_media(call, method, kind)

    handler.__name__ = f"send_{kind}"
    _method(method)(handler)


for _name, _kind in (("sendPhoto", "photo"), ("sendDocument", "document"),
                     ("sendVoice", "voice"), ("sendVideo", "video"),
                     ("sendVideoNote", "video_note"), ("sendSticker", "sticker"),
                     ("sendAudio", "audio"), ("sendAnimation", "animation")):
    _media_method(_name, _kind)


@_method("sendMediaGroup")
async def send_media_group(call: Call) -> Any:
    world, p = call.world, call.params
    state = chat_for_sending(world, p.chat_ref())
    items = p.json("media")
    if not isinstance(items, list) or not 2 <= len(items) <= 10:
        raise bad_request("media must contain 2-10 items")
    kinds = {str(item.get("type")) for item in items if isinstance(item, dict)}
    if not kinds <= {"photo", "video", "document", "audio"}:
        raise bad_request(f"media of types {sorted(kinds)} can't be sent as an album")
    if len(kinds) > 1 and not kinds <= {"photo", "video"}:
        raise bad_request("documents and audio files can only be grouped with their own type")
    prepared = []
    for index, item in enumerate(items):
        item_params = Params(item)
        owner = f"InputMedia{str(item['type']).title()}"
        caption, entities = render(call.api, owner, item_params, "caption", "parse_mode",
                                   "caption_entities", allow_empty=True)
        stored = resolve_file(call, item.get("media"), str(item["type"]),
                              file_name_hint=f"media[{index}]")
        prepared.append((str(item["type"]), stored, item_params, caption, entities))
    acquire(world, state, len(prepared))
    group_id = world.new_id("")
    reply = reply_target(world, state, p)
    messages = []
    for kind, stored, item_params, caption, entities in prepared:
        message = new_message(world, state, p)
        message["media_group_id"] = group_id
        message[kind] = media_object(call, kind, stored, item_params)
        put_text(message, "caption", caption, entities)
        if reply is not None:
            message["reply_to_message"] = reply
        world.store_message(state, message, from_bot=True,
                            protect_content=p.flag("protect_content"))
        messages.append(message)
    return messages


@_method("sendLocation")
async def send_location(call: Call) -> Any:
    world, p = call.world, call.params
    state = chat_for_sending(world, p.chat_ref())
    location = _location(p)
    live_period = p.integer("live_period")
    live_until = None
    if live_period is not None:
        if not (60 <= live_period <= 86400 or live_period == FOREVER):
            raise bad_request("live_period must be between 60 and 86400 or 0x7FFFFFFF")
        location["live_period"] = live_period
        live_until = float("inf") if live_period == FOREVER else world.clock() + live_period
    acquire(world, state)
    message = new_message(world, state, p)
    message["location"] = location
    return finish_send(call, state, message, live_until=live_until)


def _location(p: Params) -> dict[str, Any]:
    latitude, longitude = p.number("latitude"), p.number("longitude")
    if latitude is None or longitude is None:
        raise bad_request("latitude and longitude are required")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise bad_request("wrong latitude or longitude")
    location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    accuracy = p.number("horizontal_accuracy")
    if accuracy is not None:
        if not 0 <= accuracy <= 1500:
            raise bad_request("horizontal_accuracy must be between 0 and 1500")
        location["horizontal_accuracy"] = accuracy
    heading = p.integer("heading")
    if heading is not None:
        if not 1 <= heading <= 360:
            raise bad_request("heading must be between 1 and 360")
        location["heading"] = heading
    radius = p.integer("proximity_alert_radius")
    if radius is not None:
        location["proximity_alert_radius"] = radius
    return location


@_method("sendContact")
async def send_contact(call: Call) -> Any:
    world, p = call.world, call.params
    state = chat_for_sending(world, p.chat_ref())
    acquire(world, state)
    message = new_message(world, state, p)
    contact = {"phone_number": p.req_text("phone_number"), "first_name": p.req_text("first_name")}
    for key in ("last_name", "vcard"):
        if p.has(key):
            contact[key] = p.text(key)
    message["contact"] = contact
    return finish_send(call, state, message)


@_method("sendChatAction")
async def send_chat_action(call: Call) -> Any:
    world, p = call.world, call.params
    state = chat_for_sending(world, p.chat_ref())
    action = p.req_text("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    world.record_event(state.id, "chat_action", action=action)
    return True


# -- copies and forwards ---------------------------------------------------------------------


def _source_message(call: Call, verb: str) -> tuple[ChatState, StoredMessage]:
    p = call.params
    source_chat = call.world.find_chat(p.chat_ref("from_chat_id"))
    if source_chat is None:
        raise bad_request("chat not found")
    stored = source_chat.messages.get(p.req_integer("message_id"))
    if stored is None or stored.deleted:
        raise bad_request(f"message to {verb} not found")
    if stored.protect_content or stored.message.get("has_protected_content"):
        raise bad_request("message can't be forwarded" if verb == "forward"
                          else "message can't be copied")
    if not any(key in stored.message for key in CONTENT_KEYS):
        raise bad_request("message can't be copied" if verb == "copy"
                          else "message can't be forwarded")
    return source_chat, stored


def _content_of(original: dict[str, Any]) -> dict[str, Any]:
    content = {key: original[key] for key in CONTENT_KEYS if key in original}
    if "location" in content:
        # a copy of a live location is a plain location
        content["location"] = {k: v for k, v in content["location"].items()
                               if k in ("latitude", "longitude", "horizontal_accuracy")}
    return content


@_method("copyMessage")
async def copy_message(call: Call) -> Any:
    world, p = call.world, call.params
    _, stored = _source_message(call, "copy")
    target = chat_for_sending(world, p.chat_ref())
    content = _content_of(stored.message)
    if p.raw("caption") is not None and any(k in content for k in MEDIA_KEYS):
        caption, entities = render(call.api, "copyMessage", p, "caption", "parse_mode",
                                   "caption_entities", allow_empty=True)
        content.pop("caption", None)
        content.pop("caption_entities", None)
        put_text(content, "caption", caption, entities)
    acquire(world, target)
    message = new_message(world, target, p)
    message.update(content)
    finish_send(call, target, message)
    return {"message_id": message["message_id"]}


@_method("forwardMessage")
async def forward_message(call: Call) -> Any:
    world, p = call.world, call.params
    source_chat, stored = _source_message(call, "forward")
    target = chat_for_sending(world, p.chat_ref())
    acquire(world, target)
    original = stored.message
    message = new_message(world, target, p)
    if source_chat.type == "private" or "from" in original:
        origin = {"type": "user", "date": original["date"], "sender_user": original["from"]}
    else:
        origin = {"type": "chat", "date": original["date"], "sender_chat": source_chat.chat}
    message["forward_origin"] = original.get("forward_origin", origin)
    message.update(_content_of(original))
    world.store_message(target, message, from_bot=True, protect_content=p.flag("protect_content"))
    return message


# -- edits and deletions -----------------------------------------------------------------------


def edit_target(call: Call) -> tuple[ChatState, StoredMessage]:
    p = call.params
    if p.has("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID (inline messages are not simulated)")
    if not p.has("chat_id") or not p.has("message_id"):
        raise bad_request("message identifier is not specified")
    state = chat_for_sending(call.world, p.chat_ref())
    stored = state.messages.get(p.req_integer("message_id"))
    if stored is None or stored.deleted:
        raise bad_request("message to edit not found")
    if not stored.from_bot:
        raise bad_request("message can't be edited")
    return state, stored


def _edited(call: Call, stored: StoredMessage, changes: Mapping[str, Any],
            removals: tuple[str, ...]) -> dict[str, Any]:
    """The new version, with the inline keyboard replaced by the one given (or removed)."""
    current = stored.message
    updated = {k: v for k, v in current.items() if k not in removals and k != "reply_markup"}
    updated.update(changes)
    markup = call.params.json("reply_markup")
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        _check_inline_markup(markup, invoice=stored.invoice is not None)
        updated["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
    comparable = ("edit_date",)
    if {k: v for k, v in updated.items() if k not in comparable} == {
        k: v for k, v in current.items() if k not in comparable
    }:
        raise bad_request(_NOT_MODIFIED)
    updated["edit_date"] = call.world.now()
    return updated


def _commit_edit(call: Call, state: ChatState, stored: StoredMessage,
                 updated: dict[str, Any]) -> dict[str, Any]:
    call.world.replace_message(state, stored, updated)
    return updated


@_method("editMessageText")
async def edit_message_text(call: Call) -> Any:
    state, stored = edit_target(call)
    if "text" not in stored.message:
        raise bad_request("there is no text in the message to edit")
    text, entities = render(call.api, "editMessageText", call.params, "text", "parse_mode",
                            "entities", allow_empty=False)
    changes: dict[str, Any] = {"text": text}
    if entities:
        changes["entities"] = entities
    updated = _edited(call, stored, changes, ("entities",))
    return _commit_edit(call, state, stored, updated)


@_method("editMessageCaption")
async def edit_message_caption(call: Call) -> Any:
    state, stored = edit_target(call)
    if not any(key in stored.message for key in MEDIA_KEYS):
        raise bad_request("there is no caption in the message to edit")
    caption, entities = render(call.api, "editMessageCaption", call.params, "caption",
                               "parse_mode", "caption_entities", allow_empty=True)
    changes: dict[str, Any] = {}
    put_text(changes, "caption", caption, entities)
    updated = _edited(call, stored, changes, ("caption", "caption_entities"))
    return _commit_edit(call, state, stored, updated)


@_method("editMessageReplyMarkup")
async def edit_message_reply_markup(call: Call) -> Any:
    state, stored = edit_target(call)
    updated = _edited(call, stored, {}, ())
    return _commit_edit(call, state, stored, updated)


def _live_target(call: Call) -> tuple[ChatState, StoredMessage]:
    state, stored = edit_target(call)
    location = stored.message.get("location")
    if not isinstance(location, dict) or "live_period" not in location:
        raise bad_request("message can't be edited")
    if stored.live_until is None or stored.live_until <= call.world.clock():
        raise bad_request("message can't be edited")
    return state, stored


@_method("editMessageLiveLocation")
async def edit_message_live_location(call: Call) -> Any:
    state, stored = _live_target(call)
    location = _location(call.params)
    location["live_period"] = stored.message["location"]["live_period"]
    new_period = call.params.integer("live_period")
    if new_period is not None:
        location["live_period"] = new_period
        stored.live_until = (float("inf") if new_period == FOREVER
                             else stored.message["date"] + new_period)
    updated = _edited(call, stored, {"location": location}, ("location",))
    return _commit_edit(call, state, stored, updated)


@_method("stopMessageLiveLocation")
async def stop_message_live_location(call: Call) -> Any:
    state, stored = _live_target(call)
    stored.live_until = 0.0
    updated = {k: v for k, v in stored.message.items() if k != "reply_markup"}
    markup = call.params.json("reply_markup")
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        updated["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
    updated["edit_date"] = call.world.now()
    return _commit_edit(call, state, stored, updated)


@_method("deleteMessage")
async def delete_message(call: Call) -> Any:
    world, p = call.world, call.params
    state = world.find_chat(p.chat_ref())
    if state is None:
        raise bad_request("chat not found")
    stored = state.messages.get(p.req_integer("message_id"))
    if stored is None or stored.deleted:
        raise bad_request("message to delete not found")
    if state.type != "private" and not stored.from_bot and state.bot_status != "administrator":
        raise bad_request("message can't be deleted")
    stored.deleted = True
    world.record_event(state.id, "deleted", message_id=stored.message["message_id"],
                       from_bot=stored.from_bot)
    return True


# -- callback queries ----------------------------------------------------------------------------


@_method("answerCallbackQuery")
async def answer_callback_query(call: Call) -> Any:
    world, p = call.world, call.params
    query = world.callback_queries.get(p.req_text("callback_query_id"))
    too_late = query is not None and (
        world.clock() - query.created_at > world.callback_answer_timeout
    )
    if query is None or query.answer is not None or too_late:
        raise bad_request(_QUERY_EXPIRED)
    url = p.text("url")
    if url is not None and not url.startswith(("http://", "https://", "tg://", "t.me/")):
        raise bad_request("URL_INVALID")
    answer = {"callback_query_id": query.query["id"], "text": p.text("text") or "",
              "show_alert": p.flag("show_alert"), "url": url,
              "cache_time": p.integer("cache_time", 0), "data": query.query.get("data"),
              "message_id": query.message_id}
    query.answer = answer
    query.answered.set()
    if query.chat_id is not None:
        state = world.chats[query.chat_id]
        if query.message_id is not None and query.message_id in state.messages:
            state.messages[query.message_id].callback_answers.append(answer)
        world.record_event(query.chat_id, "callback_answer", answer=answer)
    return True


# -- payments ----------------------------------------------------------------------------------


def _invoice_details(p: Params) -> dict[str, Any]:
    currency = p.req_text("currency")
    if not _CURRENCY_RE.match(currency):
        raise bad_request("CURRENCY_INVALID")
    provider_token = p.text("provider_token") or ""
    if currency == "XTR" and provider_token:
        raise bad_request("PAYMENT_PROVIDER_INVALID (Telegram Stars invoices take no "
                          "provider_token)")
    if currency != "XTR" and not provider_token:
        raise bad_request("PAYMENT_PROVIDER_INVALID (provider_token is required for "
                          f"{currency})")
    prices = p.json("prices")
    if not isinstance(prices, list) or not prices:
        raise bad_request("prices must be a non-empty array of LabeledPrice")
    if currency == "XTR" and len(prices) != 1:
        raise bad_request("STARS_INVOICE_INVALID (Telegram Stars invoices take exactly one "
                          "price)")
    total = 0
    for price in prices:
        amount = price.get("amount") if isinstance(price, dict) else None
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise bad_request("prices[].amount must be an Integer in the smallest units")
        total += amount
    if total <= 0:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    max_tip = p.integer("max_tip_amount", 0) or 0
    suggested = p.json("suggested_tip_amounts") or []
    if currency == "XTR" and (max_tip or suggested):
        raise bad_request("tips are not supported for Telegram Stars invoices")
    if suggested:
        if len(suggested) > 4 or sorted(suggested) != suggested or max(suggested) > max_tip:
            raise bad_request("suggested_tip_amounts must be at most 4 increasing amounts "
                              "not above max_tip_amount")
    details = {
        "title": p.req_text("title"), "description": p.req_text("description"),
        "payload": p.req_text("payload"), "currency": currency, "prices": prices,
        "total_amount": total, "provider_token": provider_token, "max_tip_amount": max_tip,
        "suggested_tip_amounts": suggested, "start_parameter": p.text("start_parameter") or "",
    }
    for flag in ("need_name", "need_phone_number", "need_email", "need_shipping_address",
                 "is_flexible"):
        details[flag] = p.flag(flag)
    return details


@_method("sendInvoice")
async def send_invoice(call: Call) -> Any:
    world, p = call.world, call.params
    state = chat_for_sending(world, p.chat_ref())
    details = _invoice_details(p)
    acquire(world, state)
    message = new_message(world, state, p)
    message["invoice"] = {key: details[key] for key in ("title", "description",
                                                        "start_parameter", "currency",
                                                        "total_amount")}
    return finish_send(call, state, message, invoice=details)


@_method("createInvoiceLink")
async def create_invoice_link(call: Call) -> Any:
    details = _invoice_details(call.params)
    slug = call.world.new_id("inv")
    call.world.invoice_links[slug] = details
    return f"https://t.me/${slug}"


@_method("answerPreCheckoutQuery")
async def answer_pre_checkout_query(call: Call) -> Any:
    world, p = call.world, call.params
    query = world.pre_checkouts.pop(p.req_text("pre_checkout_query_id"), None)
    if query is None or query.answer.done():
        raise bad_request(_QUERY_EXPIRED)
    ok = p.flag("ok")
    error_message = p.text("error_message")
    if not ok and not error_message:
        world.pre_checkouts[query.query["id"]] = query
        raise bad_request("error_message is required when ok is False")
    query.answer.set_result((ok, error_message))
    world.record_event(query.chat_id, "pre_checkout_answer", ok=ok,
                       error_message=error_message, pre_checkout_query_id=query.query["id"])
    return True


@_method("refundStarPayment")
async def refund_star_payment(call: Call) -> Any:
    world, p = call.world, call.params
    payment = world.payments.get(p.req_text("telegram_payment_charge_id"))
    if payment is None or payment.user_id != p.req_integer("user_id") or payment.currency != "XTR":
        raise bad_request("CHARGE_ID_INVALID")
    if payment.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    payment.refunded = True
    _refund_notice(world, payment)
    return True


def _refund_notice(world: BotWorld, payment: StarPayment) -> None:
    # Telegram posts a refunded_payment service message from the user into the bot chat.
    state = world.chats[payment.user_id]
    message = {
        "message_id": state.allocate_message_id(), "from": world.users[payment.user_id],
        "chat": state.chat, "date": world.now(),
        "refunded_payment": {"currency": payment.currency,
                             "total_amount": payment.total_amount,
                             "invoice_payload": payment.invoice_payload,
                             "telegram_payment_charge_id": payment.charge_id},
    }
    world.store_message(state, message, from_bot=False)
    world.emit("message", message)


# -- bot settings and chat information -------------------------------------------------------------


def _commands_key(p: Params) -> tuple[str, str]:
    scope = p.json("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), p.text("language_code") or ""


@_method("setMyCommands")
async def set_my_commands(call: Call) -> Any:
    commands = call.params.json("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be an array of at most 100 BotCommand")
    for command in commands:
        if not _COMMAND_RE.match(str(command.get("command", ""))):
            raise bad_request(f"BOT_COMMAND_INVALID ({command.get('command')!r}: use 1-32 "
                              "lowercase letters, digits and underscores)")
    call.world.commands[_commands_key(call.params)] = commands
    return True


@_method("getMyCommands")
async def get_my_commands(call: Call) -> Any:
    return call.world.commands.get(_commands_key(call.params), [])


@_method("deleteMyCommands")
async def delete_my_commands(call: Call) -> Any:
    call.world.commands.pop(_commands_key(call.params), None)
    return True


@_method("getChat")
async def get_chat(call: Call) -> Any:
    state = call.world.find_chat(call.params.chat_ref())
    if state is None:
        raise bad_request("chat not found")
    return {**state.chat, "accent_color_id": 0, "max_reaction_count": 11,
            "accepted_gift_types": {"unlimited_gifts": True, "limited_gifts": True,
                                    "unique_gifts": True, "premium_subscription": True,
                                    "gifts_from_channels": True}}


def chat_member(world: BotWorld, state: ChatState, user_id: int) -> dict[str, Any]:
    user = world.bot_user if user_id == world.bot_id else world.users.get(user_id)
    if user is None:
        raise bad_request("user not found")
    if state.type == "private":
        status = "member" if user_id in (state.id, world.bot_id) else "left"
    elif user_id == world.bot_id:
        status = state.bot_status
    else:
        status = state.members.get(user_id, "left")
    return member_object(status, user)


# Every right a ChatMemberAdministrator carries: the spec file's ten, and
# `can_send_welcome_messages`, which clients built for a newer Bot API (aiogram) require.
_ADMINISTRATOR_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
    "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories", "can_send_welcome_messages",
)


def member_object(status: str, user: dict[str, Any]) -> dict[str, Any]:
    """The ChatMember a chat's `status` for `user` reads as."""
    if status == "creator":
        return {"status": "creator", "user": user, "is_anonymous": False}
    if status == "administrator":
        return {"status": "administrator", "user": user, "can_be_edited": False,
                "is_anonymous": False, **dict.fromkeys(_ADMINISTRATOR_RIGHTS, True)}
    if status == "kicked":
        return {"status": "kicked", "user": user, "until_date": 0}
    return {"status": "member" if status == "member" else "left", "user": user}


@_method("getChatMember")
async def get_chat_member(call: Call) -> Any:
    state = call.world.find_chat(call.params.chat_ref())
    if state is None:
        raise bad_request("chat not found")
    return chat_member(call.world, state, call.params.req_integer("user_id"))


@_method("getChatAdministrators")
async def get_chat_administrators(call: Call) -> Any:
    state = call.world.find_chat(call.params.chat_ref())
    if state is None:
        raise bad_request("chat not found")
    if state.type == "private":
        raise bad_request("there are no administrators in the private chat")
    admins = [uid for uid, status in state.members.items()
              if status in ("creator", "administrator")]
    if state.bot_status == "administrator":
        admins.append(call.world.bot_id)
    return [chat_member(call.world, state, uid) for uid in admins]


@_method("getFile")
async def get_file(call: Call) -> Any:
    stored = call.world.files.get(call.params.req_text("file_id"))
    if stored is None:
        raise bad_request("invalid file_id")
    return stored.as_file()
