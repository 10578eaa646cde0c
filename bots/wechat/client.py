"""The outbound WeChat API client: wechatpy's synchronous client, driven from asyncio.

Every call runs in a worker thread (`asyncio.to_thread`) with the access token bound for
that call only; wechatpy never fetches tokens itself here (its auto-retry is off and its
`access_token` property reads the bound value). `AccessTokenManager` owns the token:
40001/42001/40014 lead to one shared refresh and one retry. Customer-service sends are
checked against the per-openid service window first, and WeChat's 45015/45047 come back
as typed exceptions so the caller can fall back to a template message.

wechatpy hard-codes `https://api.weixin.qq.com/` (its token URL is not even built from
`API_BASE_URL`), so a configurable base is applied below the client, as a `requests`
transport adapter that rewrites the URL of every request it sends.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bots.wechat.menu import validate_menu
from bots.wechat.tokens import AccessToken, AccessTokenManager, TokenStore
from bots.wechat.windows import ServiceWindows, WindowStatus

logger = logging.getLogger(__name__)

WECHAT_API_ORIGIN = "https://api.weixin.qq.com/"
WECHAT_PAY_API_ORIGIN = "https://api.mch.weixin.qq.com/"

ERR_INVALID_CREDENTIAL = 40001
ERR_INVALID_ACCESS_TOKEN = 40014
ERR_ACCESS_TOKEN_EXPIRED = 42001
ERR_WINDOW_CLOSED = 45015
ERR_QUOTA_EXHAUSTED = 45047
TOKEN_ERRORS = frozenset({ERR_INVALID_CREDENTIAL, ERR_INVALID_ACCESS_TOKEN, ERR_ACCESS_TOKEN_EXPIRED})

T = TypeVar("T")


# -- errors --------------------------------------------------------------------------


class WeChatApiError(Exception):
    """WeChat answered with a non-zero errcode, or could not be reached (errcode None)."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class CustomerServiceUnavailable(WeChatApiError):
    """A customer-service message cannot reach `openid` now: send a template message."""

    def __init__(self, errcode: int | None, errmsg: str, openid: str) -> None:
        super().__init__(errcode, errmsg)
        self.openid = openid


class ServiceWindowClosed(CustomerServiceUnavailable):
    """Outside the window the user's last interaction opened (WeChat 45015)."""


class ServiceQuotaExhausted(CustomerServiceUnavailable):
    """The sends the user's last interaction allowed are used up (WeChat 45047)."""


# -- transport -----------------------------------------------------------------------


class ApiBaseAdapter(HTTPAdapter):
    """Sends requests meant for `origin` to `base` instead (mounted on `origin`)."""

    def __init__(self, origin: str, base: str, *, pool_maxsize: int = 32) -> None:
        super().__init__(pool_connections=4, pool_maxsize=pool_maxsize)
        self.origin = origin
        self.base = base

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        if url.startswith(self.origin):
            request.url = self.base + url[len(self.origin):]
            # requests chose proxies for the original host; choose again for the new one
            # (a loopback stand-in must not go through an HTTPS_PROXY meant for WeChat).
            kwargs["proxies"] = get_environ_proxies(request.url)
        return super().send(request, *args, **kwargs)


def normalise_base(base: str) -> str:
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"API base must be an http(s) URL, got {base!r}")
    return base if base.endswith("/") else base + "/"


def mount_api_base(session: requests.Session, base: str, origin: str = WECHAT_API_ORIGIN) -> None:
    """Point every request `session` makes to `origin` at `base` (e.g. a local stand-in)."""
    session.mount(origin, ApiBaseAdapter(origin, normalise_base(base)))


# -- the wechatpy client with a per-call token ---------------------------------------

class TokenNotBound(AttributeError):
    """wechatpy was used directly, outside `WeChatApi.call`, so no token is bound."""


_bound_token: contextvars.ContextVar[str] = contextvars.ContextVar("wechat_access_token")


class _BoundTokenClient(WeChatClient):
    """wechatpy's client, reading the token bound to the current call and never fetching."""

    @property
    def access_token(self) -> str:
        try:
            return _bound_token.get()
        except LookupError:
            # An AttributeError, because wechatpy's constructor probes every attribute
            # with inspect.getmembers, which only tolerates that kind.
            raise TokenNotBound("no access token bound: call through WeChatApi") from None

    def fetch_access_token(self) -> dict[str, Any]:
        raise RuntimeError("workers never fetch tokens; AccessTokenManager does")

    def fetch_token_once(self) -> dict[str, Any]:
        """The refresher's one real call to `cgi-bin/token`."""
        return WeChatClient.fetch_access_token(self)


# -- media rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class MediaRule:
    max_bytes: int
    extensions: frozenset[str]


# https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/New_temporary_materials.html
MEDIA_RULES: Mapping[str, MediaRule] = {
    "image": MediaRule(10 * 1024 * 1024, frozenset({".bmp", ".png", ".jpeg", ".jpg", ".gif"})),
    "voice": MediaRule(2 * 1024 * 1024, frozenset({".amr", ".mp3"})),
    "video": MediaRule(10 * 1024 * 1024, frozenset({".mp4"})),
    "thumb": MediaRule(64 * 1024, frozenset({".jpg", ".jpeg"})),
}


def check_media(media_type: str, filename: str, content: bytes) -> None:
    rule = MEDIA_RULES.get(media_type)
    if rule is None:
        raise ValueError(f"media type must be one of {sorted(MEDIA_RULES)}, got {media_type!r}")
    suffix = PurePath(filename).suffix.lower()
    if suffix not in rule.extensions:
        raise ValueError(
            f"{media_type} files must be {', '.join(sorted(rule.extensions))}; got {filename!r}"
        )
    if not content:
        raise ValueError("media file is empty")
    if len(content) > rule.max_bytes:
        raise ValueError(f"{media_type} files are at most {rule.max_bytes} bytes, got {len(content)}")


# -- the async face ------------------------------------------------------------------


class WeChatApi:
    """Async WeChat API for one official account."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        tokens: TokenStore,
        windows: ServiceWindows | None = None,
        api_base: str | None = None,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not app_id or not app_secret:
            raise ValueError("app_id and app_secret are required")
        self._wx = _BoundTokenClient(app_id, app_secret, timeout=timeout_seconds, auto_retry=False)
        if api_base is not None:
            mount_api_base(self._wx._http, api_base)
        else:
            # Same pool size as with a base, for concurrent sends from the thread pool.
            self._wx._http.mount(WECHAT_API_ORIGIN, HTTPAdapter(pool_maxsize=32))
        self._clock = clock
        self._windows = windows
        self.tokens = AccessTokenManager(tokens, self._fetch_token, clock=clock)

    @property
    def app_id(self) -> str:
        return str(self._wx.appid)

    def close(self) -> None:
        self._wx._http.close()

    async def _fetch_token(self) -> AccessToken:
        try:
            result = await asyncio.to_thread(self._wx.fetch_token_once)
        except WeChatClientException as exc:
            raise WeChatApiError(exc.errcode, str(exc.errmsg)) from exc
        except requests.RequestException as exc:
            raise WeChatApiError(None, f"token endpoint unreachable: {exc}") from exc
        expires_in = int(result.get("expires_in", 7200))
        return AccessToken(value=result["access_token"], expires_at=self._clock() + expires_in)

    async def _in_thread(self, token: str, call: Callable[[WeChatClient], T]) -> T:
        def run() -> T:
            _bound_token.set(token)  # to_thread runs in a copy of our context: call-local
            return call(self._wx)

        return await asyncio.to_thread(run)

    async def call(self, call: Callable[[WeChatClient], T]) -> T:
        """Run `call(client)` off the loop with a valid token; one refresh+retry on 40001/42001."""
        token = await self.tokens.current()
        try:
            try:
                return await self._in_thread(token, call)
            except WeChatClientException as exc:
                if exc.errcode not in TOKEN_ERRORS:
                    raise
                logger.info("WeChat rejected the access token (%s); refreshing once", exc.errcode)
            token = await self.tokens.refresh(stale=token)
            return await self._in_thread(token, call)
        except WeChatClientException as exc:
            raise WeChatApiError(exc.errcode, str(exc.errmsg)) from exc
        except requests.RequestException as exc:
            raise WeChatApiError(None, f"WeChat API unreachable: {exc}") from exc

    # -- customer-service messages (inside the window) -------------------------------

    async def window_status(self, openid: str) -> WindowStatus:
        """Whether a customer-service message could reach `openid` now (OPEN if untracked)."""
        if self._windows is None:
            return WindowStatus.OPEN
        return await self._windows.status(openid)

    async def _send_customer_service(self, openid: str, body: Mapping[str, Any]) -> None:
        if not openid:
            raise ValueError("openid is required")
        if self._windows is not None:
            status = await self._windows.reserve(openid)
            if status is WindowStatus.CLOSED:
                raise ServiceWindowClosed(None, "no open service window for this user", openid)
            if status is WindowStatus.EXHAUSTED:
                raise ServiceQuotaExhausted(None, "service message quota used up", openid)
        payload = {"touser": openid, **body}
        try:
            await self.call(lambda wx: wx.post("message/custom/send", data=payload))
        except WeChatApiError as exc:
            if exc.errcode == ERR_WINDOW_CLOSED:
                await self._mark(openid, WindowStatus.CLOSED)
                raise ServiceWindowClosed(exc.errcode, exc.errmsg, openid) from exc
            if exc.errcode == ERR_QUOTA_EXHAUSTED:
                await self._mark(openid, WindowStatus.EXHAUSTED)
                raise ServiceQuotaExhausted(exc.errcode, exc.errmsg, openid) from exc
            if self._windows is not None:
                await self._windows.release(openid)
            raise

    async def _mark(self, openid: str, status: WindowStatus) -> None:
        if self._windows is not None:
            await self._windows.mark(openid, status)

    async def send_text(self, openid: str, text: str) -> None:
        if not text:
            raise ValueError("text must not be empty")
        await self._send_customer_service(openid, {"msgtype": "text", "text": {"content": text}})

    async def send_image(self, openid: str, media_id: str) -> None:
        if not media_id:
            raise ValueError("media_id is required")
        await self._send_customer_service(openid, {"msgtype": "image", "image": {"media_id": media_id}})

    async def send_voice(self, openid: str, media_id: str) -> None:
        if not media_id:
            raise ValueError("media_id is required")
        await self._send_customer_service(openid, {"msgtype": "voice", "voice": {"media_id": media_id}})

    async def send_choices(
        self,
        openid: str,
        head: str,
        choices: Sequence[tuple[str, str]],
        tail: str = "",
    ) -> None:
        """A `msgmenu` message: tappable lines; a tap comes back as text with bizmsgmenuid."""
        if not choices:
            raise ValueError("a choice menu needs at least one choice")
        ids = [choice_id for choice_id, _ in choices]
        if len(set(ids)) != len(ids) or not all(ids) or not all(label for _, label in choices):
            raise ValueError("choices need unique non-empty ids and non-empty labels")
        menu = {
            "head_content": head,
            "list": [{"id": choice_id, "content": label} for choice_id, label in choices],
            "tail_content": tail,
        }
        await self._send_customer_service(openid, {"msgtype": "msgmenu", "msgmenu": menu})

    # -- template messages (outside the window) --------------------------------------

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        url: str | None = None,
    ) -> int:
        """Send a template message; returns WeChat's msgid."""
        if not openid or not template_id:
            raise ValueError("openid and template_id are required")
        fields = {key: {"value": value} for key, value in data.items()}
        result = await self.call(
            lambda wx: wx.message.send_template(openid, template_id, fields, url=url)
        )
        return int(result.get("msgid", 0))

    # -- menu ------------------------------------------------------------------------

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        validate_menu(menu)
        await self.call(lambda wx: wx.menu.create(dict(menu)))

    async def get_menu(self) -> dict[str, Any] | None:
        return await self.call(lambda wx: wx.menu.get())

    # -- media -----------------------------------------------------------------------

    async def upload_media(
        self, media_type: str, filename: str, content: bytes, content_type: str | None = None
    ) -> str:
        """Upload temporary media (kept by WeChat for 3 days); returns its media_id."""
        check_media(media_type, filename, content)
        part = (filename, content, content_type or "application/octet-stream")
        result = await self.call(lambda wx: wx.media.upload(media_type, part))
        return str(result["media_id"])

    async def download_media(self, media_id: str) -> bytes:
        if not media_id:
            raise ValueError("media_id is required")
        response = await self.call(lambda wx: wx.media.download(media_id))
        if isinstance(response, dict):
            raise WeChatApiError(None, f"expected media bytes, got JSON {sorted(response)}")
        return bytes(response.content)
