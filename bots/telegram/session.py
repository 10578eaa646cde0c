"""The Bot API session: how each call leaves the bot (its body) and how its answer is read.

Every call the bot makes passes here twice, so both ends are kept cheap: a call without a file
goes as one JSON body encoded in a single pass, and an answer is parsed and validated in one
step by a response class built once per result type. What goes out and what comes back is the
same as aiogram's own session produces; anything unusual is handed to aiogram's code.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import BytesPayload, FormData

# aiogram reads every answer as `Response[<the method's result type>]`, a pydantic generic
# class made on first use and kept by pydantic only weakly: once a garbage collection takes
# it, the next call builds its validator again (tens of milliseconds). Holding each one here
# builds it once per process, and spares the generic lookup on every call.
_RESPONSE_TYPES: dict[Any, Any] = {}

# Values that aiogram's `prepare_value` hands back unchanged. Exact types only: a subclass
# (an IntEnum, say) takes aiogram's own path, which may encode it differently.
_AS_IS = frozenset({str, int, float, bool})


def response_type(returning: Any) -> Any:
    """The `Response[returning]` class, built once per process."""
    found = _RESPONSE_TYPES.get(returning)
    if found is None:
        found = _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
    return found


def _encode(value: Any, other: Callable[[Any], Any]) -> Any:
    """`value` as aiogram's `prepare_value(..., _dumps_json=False)` gives it, for what
    `model_dump` returns: plain values, dicts and lists walked here without a call per check;
    anything else (a `Default`, a file, a date, an enum, a model) goes to `other`."""
    kind = value.__class__
    if kind in _AS_IS:
        return value
    if kind is dict:
        prepared: dict[str, Any] = {}
        for key, item in value.items():
            if item is not None and (done := _encode(item, other)) is not None:
                prepared[key] = done
        return prepared
    if kind is list:
        return [
            done for item in value
            if item is not None and (done := _encode(item, other)) is not None
        ]
    if value is None:
        return None
    return other(value)


class BotApiSession(AiohttpSession):
    """aiogram's session; closing it waits for TLS sockets only when there are any.

    aiogram pauses 250 ms on close so TLS connections can shut down cleanly; a Bot API
    server on plain HTTP (a self-hosted one on the same host, the local stand-in) has none.
    A call with no file to upload goes as one JSON body, as the Bot API accepts, instead of
    a form whose every nested field is encoded as JSON and then form-encoded again. Answers
    are read with response classes built once (see `_RESPONSE_TYPES`).
    """

    def __init__(self, api_base: str) -> None:
        super().__init__(api=TelegramAPIServer.from_base(api_base))
        self._tls = api_base.lower().startswith("https:")

    def json_fields(self, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
        """The fields of `method` as its JSON body carries them, or None when it carries a
        file (which needs a multipart form)."""
        # The fields are byte for byte what aiogram's `prepare_value` over `model_dump`
        # gives, without the fields it leaves out anyway: pydantic drops the None ones, and
        # the `Default(...)` sentinels (each costs pydantic microseconds to serialize as an
        # unknown type) are taken from the model and resolved here, in their own place.
        values = method.__dict__
        defaults = {key for key, value in values.items() if isinstance(value, Default)}
        dumped = method.model_dump(warnings=False, exclude_none=True, exclude=defaults or None)
        if defaults:
            dumped = {
                key: values[key] if key in defaults else dumped[key]
                for key in (*values, *(method.__pydantic_extra__ or ()))
                if key in defaults or key in dumped
            }
        files: dict[str, Any] = {}

        def other(value: Any) -> Any:
            return self.prepare_value(value, bot=bot, files=files, _dumps_json=False)

        fields = {}
        for key, value in dumped.items():
            prepared = _encode(value, other)
            if prepared is not None and prepared != "":  # what aiogram's form leaves out
                fields[key] = prepared
        return None if files else fields

    def build_form_data(  # type: ignore[override]
        self, bot: Bot, method: TelegramMethod[TelegramType]
    ) -> FormData | BytesPayload:
        fields = self.json_fields(bot, method)
        if fields is None:
            return super().build_form_data(bot, method)
        return BytesPayload(self.json_dumps(fields).encode(), content_type="application/json")

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        returning = response_type(method.__returning__)
        if HTTPStatus.OK <= status_code <= HTTPStatus.IM_USED:
            # Parsed and validated in one pass. Whatever does not read as a good answer
            # (bad JSON, an unexpected shape, ok=false) is read again by aiogram, which
            # raises what it always has.
            try:
                response = returning.model_validate_json(content, context={"bot": bot})
            except ValueError:
                pass
            else:
                if response.ok:
                    return response  # type: ignore[no-any-return]
        return super().check_response(bot, method, status_code, content)

    async def close(self) -> None:
        if self._tls:
            await super().close()
        elif self._session is not None and not self._session.closed:
            await self._session.close()
