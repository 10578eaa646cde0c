"""``/_standin/...``: JSON endpoints to drive simulated users and watch chats over HTTP.

This is what a browser page (the demo chat) uses: create users and groups, make a user
act (``POST /_standin/users/<id>/<action>`` with a JSON body), read a chat's history and
follow it with a long poll (``GET /_standin/chats/<id>/events?after=<seq>&timeout=<s>``),
read the API call log, and change settings (duplicates, rate limits, privacy mode).
Every answer is ``{"ok": true, "result": ...}`` or ``{"ok": false, "description": ...}``.
``?bot=<bot id>`` selects a bot other than the default one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bots.telegram.standin.errors import SimulationError
from bots.telegram.standin.ratelimit import RateLimits
from bots.telegram.standin.simulation import SimGroup, SimUser
from bots.telegram.standin.world import BotWorld

if TYPE_CHECKING:
    from bots.telegram.standin.server import BotApiStandIn

_MAX_LONG_POLL = 30.0


class _Refused(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _body_int(body: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Refused(400, f"{name} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise _Refused(400, f"{name} must be an integer") from None


def _body_str(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _Refused(400, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise _Refused(400, f"{name} must be a string")
    return value


def _body_float(body: dict[str, Any], name: str) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Refused(400, f"{name} must be a number")
    return float(value)


def _bytes(body: dict[str, Any]) -> bytes | None:
    encoded = _body_str(body, "data_base64")
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _Refused(400, "data_base64 is not valid base64") from None


Action = Callable[[SimUser, dict[str, Any]], Awaitable[Any]]


def _chat_arg(body: dict[str, Any]) -> int | None:
    return _body_int(body, "chat_id")


async def _text(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.send_text(_body_str(body, "text", required=True) or "",
                                chat=_chat_arg(body),
                                reply_to=_body_int(body, "reply_to_message_id"))


async def _start(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.start(_body_str(body, "payload"))


async def _photo(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.send_photo(_bytes(body), caption=_body_str(body, "caption"),
                                 chat=_chat_arg(body),
                                 reply_to=_body_int(body, "reply_to_message_id"))


async def _album(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.send_album(_body_int(body, "count", 3) or 3,
                                 caption=_body_str(body, "caption"), chat=_chat_arg(body))


async def _voice(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.send_voice(_bytes(body), duration=_body_int(body, "duration", 3) or 3,
                                 chat=_chat_arg(body))


async def _document(user: SimUser, body: dict[str, Any]) -> Any:
    data = _bytes(body)
    if data is None:
        raise _Refused(400, "data_base64 is required")
    return await user.send_document(data, _body_str(body, "file_name", required=True) or "",
                                    caption=_body_str(body, "caption"), chat=_chat_arg(body))


async def _sticker(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.send_sticker(_body_str(body, "emoji") or "👍", chat=_chat_arg(body))


async def _location(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.send_location(_body_float(body, "latitude"),
                                    _body_float(body, "longitude"),
                                    live_period=_body_int(body, "live_period"),
                                    chat=_chat_arg(body))


async def _move(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.move_live_location(_body_int(body, "message_id") or 0,
                                         _body_float(body, "latitude"),
                                         _body_float(body, "longitude"), chat=_chat_arg(body))


async def _contact(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.send_contact(_body_str(body, "phone_number", required=True) or "",
                                   first_name=_body_str(body, "first_name"),
                                   own=body.get("own", True) is not False, chat=_chat_arg(body))


async def _press(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.press(_body_str(body, "text", required=True) or "", chat=_chat_arg(body))


async def _edit(user: SimUser, body: dict[str, Any]) -> Any:
    return await user.edit_message(_body_int(body, "message_id") or 0,
                                   _body_str(body, "text", required=True) or "",
                                   chat=_chat_arg(body))


async def _tap(user: SimUser, body: dict[str, Any]) -> Any:
    tap = await user.tap(_body_int(body, "message_id") or 0, _body_str(body, "text"),
                         callback_data=_body_str(body, "callback_data"), chat=_chat_arg(body))
    answer = None
    wait = body.get("wait_answer", 0)
    if isinstance(wait, (int, float)) and not isinstance(wait, bool) and wait > 0:
        try:
            answer = await tap.answer(within=min(float(wait), _MAX_LONG_POLL))
        except TimeoutError:
            answer = None
    return {"callback_query": tap.query, "answer": answer}


async def _pay(user: SimUser, body: dict[str, Any]) -> Any:
    link = _body_str(body, "link")
    target: int | str = link if link else (_body_int(body, "message_id") or 0)
    result = await user.pay(target, tip=_body_int(body, "tip", 0) or 0, chat=_chat_arg(body))
    return {"ok": result.ok, "telegram_payment_charge_id": result.telegram_payment_charge_id,
            "message": result.message, "error_message": result.error_message,
            "reason": result.reason}


async def _block(user: SimUser, body: dict[str, Any]) -> Any:
    await user.block()
    return True


async def _unblock(user: SimUser, body: dict[str, Any]) -> Any:
    await user.unblock()
    return True


ACTIONS: dict[str, Action] = {
    "text": _text, "start": _start, "photo": _photo, "album": _album, "voice": _voice,
    "document": _document, "sticker": _sticker, "location": _location,
    "live_location": _move, "contact": _contact, "press": _press, "edit": _edit,
    "tap": _tap, "pay": _pay, "block": _block, "unblock": _unblock,
}


def setup_control_routes(app: web.Application, standin: BotApiStandIn) -> None:
    """Mount the ``/_standin`` endpoints for ``standin`` on ``app``."""

    def world_of(request: web.Request) -> BotWorld:
        bot = request.query.get("bot")
        if bot is None:
            return standin.bot
        try:
            return standin.world_by_id(int(bot))
        except (KeyError, ValueError):
            raise _Refused(404, f"no bot {bot}") from None

    async def json_body(request: web.Request) -> dict[str, Any]:
        if not request.body_exists:
            return {}
        try:
            body = await request.json()
        except ValueError:
            raise _Refused(400, "the body must be JSON") from None
        if not isinstance(body, dict):
            raise _Refused(400, "the body must be a JSON object")
        return body

    def float_query(request: web.Request, name: str, default: float) -> float:
        try:
            return float(request.query.get(name, default))
        except ValueError:
            raise _Refused(400, f"{name} must be a number") from None

    def int_query(request: web.Request, name: str, default: int) -> int:
        try:
            return int(request.query.get(name, default))
        except ValueError:
            raise _Refused(400, f"{name} must be an integer") from None

    def guarded(handler: Callable[[web.Request], Awaitable[Any]]
                ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def respond(request: web.Request) -> web.Response:
            try:
                return _ok(await handler(request))
            except _Refused as refused:
                return web.json_response({"ok": False, "description": refused.description},
                                         status=refused.status)
            except (SimulationError, ValueError) as error:
                return web.json_response({"ok": False, "description": str(error)}, status=400)
            except KeyError as error:
                return web.json_response({"ok": False, "description": str(error.args[0])},
                                         status=404)
        return respond

    async def info(request: web.Request) -> Any:
        limits = standin.rate_limits
        return {
            "validation_active": standin.validation_active,
            "spec_version": standin.spec.version if standin.spec else None,
            "bots": [{**w.bot_user, "webhook": w.webhook.url if w.webhook else None,
                      "pending_updates": len(w.pending),
                      "duplicate_updates": w.duplicate_updates,
                      "group_privacy": w.group_privacy} for w in standin.worlds.values()],
            "rate_limits": asdict(limits),
            "actions": sorted(ACTIONS),
        }

    async def list_users(request: web.Request) -> Any:
        return list(world_of(request).users.values())

    async def create_user(request: web.Request) -> Any:
        body = await json_body(request)
        user = standin.create_user(
            _body_str(body, "first_name", required=True) or "",
            username=_body_str(body, "username"), last_name=_body_str(body, "last_name"),
            language_code=_body_str(body, "language_code") or "en",
            user_id=_body_int(body, "id"), world=world_of(request))
        return user.user

    async def create_group(request: web.Request) -> Any:
        body = await json_body(request)
        members = body.get("member_ids") or []
        admins = body.get("admin_ids") or []
        if not isinstance(members, list) or not isinstance(admins, list):
            raise _Refused(400, "member_ids and admin_ids must be arrays")
        group: SimGroup = standin.create_group(
            _body_str(body, "title", required=True) or "",
            [int(m) for m in members], admins=[int(a) for a in admins],
            supergroup=body.get("supergroup", True) is not False,
            bot_is_admin=bool(body.get("bot_is_admin", False)), world=world_of(request))
        return group.chat

    async def act(request: web.Request) -> Any:
        world = world_of(request)
        action = ACTIONS.get(request.match_info["action"])
        if action is None:
            raise _Refused(404, f"unknown action {request.match_info['action']!r}; "
                                f"known: {sorted(ACTIONS)}")
        user_id = int_query_path(request, "user_id")
        if user_id not in world.users:
            raise _Refused(404, f"no user {user_id}")
        return await action(SimUser(world, world.users[user_id]), await json_body(request))

    def int_query_path(request: web.Request, name: str) -> int:
        try:
            return int(request.match_info[name])
        except ValueError:
            raise _Refused(400, f"{name} must be an integer") from None

    async def list_chats(request: web.Request) -> Any:
        world = world_of(request)
        return [{**s.chat, "blocked": s.blocked, "bot_status": s.bot_status,
                 "members": list(s.members), "reply_keyboard": s.reply_keyboard}
                for s in world.chats.values()]

    async def chat_messages(request: web.Request) -> Any:
        return world_of(request).history(int_query_path(request, "chat_id"))

    async def events(request: web.Request) -> Any:
        world = world_of(request)
        chat_id = int_query_path(request, "chat_id") if "chat_id" in request.match_info \
            else None
        if chat_id is not None and chat_id not in world.chats:
            raise _Refused(404, f"no chat {chat_id}")
        after = int_query(request, "after", 0)
        timeout = min(max(float_query(request, "timeout", 0.0), 0.0), _MAX_LONG_POLL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = world.chat_events(chat_id, after)
            remaining = deadline - loop.time()
            if found or remaining <= 0 or standin.api.closing:
                return [event.as_json() for event in found]
            await world.events_changed.wait(remaining)

    async def calls(request: web.Request) -> Any:
        world = world_of(request)
        method = request.query.get("method", "").lower()
        after = int_query(request, "after", 0)
        return [c.as_json() for c in world.calls[after:]
                if not method or c.method.lower() == method]

    async def settings(request: web.Request) -> Any:
        world = world_of(request)
        body = await json_body(request)
        if "duplicate_updates" in body:
            world.duplicate_updates = bool(body["duplicate_updates"])
        if "group_privacy" in body:
            world.group_privacy = bool(body["group_privacy"])
        if "rate_limits" in body:
            limits = body["rate_limits"]
            if limits == "off":
                standin.set_rate_limits(RateLimits.off())
            elif limits == "telegram":
                standin.set_rate_limits(RateLimits.telegram())
            elif isinstance(limits, dict):
                if not all(isinstance(v, (int, float)) and v >= 0 for v in limits.values()):
                    raise _Refused(400, "rate limit settings must be non-negative numbers")
                try:
                    standin.set_rate_limits(standin.rate_limits.with_changes(**limits))
                except TypeError as error:
                    raise _Refused(400, f"unknown rate limit setting: {error}") from None
            else:
                raise _Refused(400, 'rate_limits must be "off", "telegram" or an object')
        return {"duplicate_updates": world.duplicate_updates,
                "group_privacy": world.group_privacy,
                "rate_limits": asdict(standin.rate_limits)}

    routes = [
        ("GET", "/_standin", info),
        ("GET", "/_standin/users", list_users),
        ("POST", "/_standin/users", create_user),
        ("POST", "/_standin/groups", create_group),
        ("POST", "/_standin/users/{user_id}/{action}", act),
        ("GET", "/_standin/chats", list_chats),
        ("GET", "/_standin/chats/{chat_id}/messages", chat_messages),
        ("GET", "/_standin/chats/{chat_id}/events", events),
        ("GET", "/_standin/events", events),
        ("GET", "/_standin/calls", calls),
        ("POST", "/_standin/settings", settings),
    ]
    for verb, path, handler in routes:
        app.router.add_route(verb, path, guarded(handler))
