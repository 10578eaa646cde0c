"""The outbound client against the stand-in: tokens, the service window, menus, media."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bots.wechat.client import (
    ServiceQuotaExhausted,
    ServiceWindowClosed,
    WeChatApi,
    WeChatApiError,
)
from bots.wechat.menu import MenuInvalid
from bots.wechat.standin import WeChatStandIn
from bots.wechat.tokens import InMemoryTokenStore, RedisTokenStore, TokenStore
from bots.wechat.windows import InMemoryServiceWindows, Interaction, ServiceWindows, WindowStatus
from tests.adapters.wechat.conftest import TOKEN, Recorder, ServeWebhook

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8

MakeApi = Callable[..., WeChatApi]


@pytest.fixture
def make_api(standin: WeChatStandIn) -> MakeApi:
    def make(*, tokens: TokenStore | None = None, windows: ServiceWindows | None = None,
             secret: str | None = None) -> WeChatApi:
        return WeChatApi(app_id=standin.app_id, app_secret=secret or standin.app_secret,
                         tokens=tokens or InMemoryTokenStore(), windows=windows,
                         api_base=standin.base_url)
    return make


def errcodes(standin: WeChatStandIn, path: str) -> list[int | str]:
    return [call.errcode for call in standin.calls_to(path)]


async def test_the_token_is_fetched_once_and_reused(
    standin: WeChatStandIn, make_api: MakeApi
) -> None:
    api = make_api()
    standin.open_window("oUser1")

    for n in range(3):
        await api.send_text("oUser1", f"reminder {n}")

    assert standin.token_requests == 1
    assert [m.payload["text"]["content"] for m in standin.messages_to("oUser1")] == [
        "reminder 0", "reminder 1", "reminder 2"]


@pytest.mark.parametrize("failure", ["expire", "revoke"])
async def test_a_rejected_token_causes_exactly_one_refresh_under_20_concurrent_sends(
    failure: str, standin: WeChatStandIn, make_api: MakeApi
) -> None:
    api = make_api()
    users = [f"oUser{i:02d}" for i in range(20)]
    for openid in users:
        standin.open_window(openid)
    await api.send_text(users[0], "warm-up")
    assert standin.token_requests == 1

    standin.expire_tokens() if failure == "expire" else standin.revoke_tokens()
    await asyncio.gather(*(api.send_text(openid, "your order was accepted") for openid in users))

    assert standin.token_requests == 2
    rejected = 42001 if failure == "expire" else 40001
    assert errcodes(standin, "/cgi-bin/message/custom/send").count(rejected) == 20
    assert all(len(standin.messages_to(openid)) >= 1 for openid in users)
    assert sum(len(standin.messages_to(openid)) for openid in users) == 21


async def test_workers_sharing_a_redis_token_store_refresh_once_between_them(
    redis: Redis, key_prefix: str, standin: WeChatStandIn, make_api: MakeApi
) -> None:
    workers = [make_api(tokens=RedisTokenStore(redis, standin.app_id, prefix=key_prefix))
               for _ in range(3)]
    users = [f"oUser{i:02d}" for i in range(21)]
    for openid in users:
        standin.open_window(openid)
    await workers[0].send_text(users[0], "warm-up")
    await workers[1].send_text(users[0], "the others read the stored token")
    assert standin.token_requests == 1

    standin.expire_tokens()
    await asyncio.gather(*(
        workers[i % 3].send_text(openid, "update") for i, openid in enumerate(users)))

    assert standin.token_requests == 2
    assert sum(worker.tokens.fetches for worker in workers) == 2


async def test_a_wrong_secret_fails_clearly_and_sends_nothing(
    standin: WeChatStandIn, make_api: MakeApi
) -> None:
    api = make_api(secret="not-the-secret")
    standin.open_window("oUser1")

    with pytest.raises(WeChatApiError) as raised:
        await api.send_text("oUser1", "hi")

    assert raised.value.errcode == 40125
    assert standin.messages_to("oUser1") == []


async def test_45015_becomes_window_closed_and_later_sends_are_refused_locally(
    standin: WeChatStandIn, make_api: MakeApi
) -> None:
    windows = InMemoryServiceWindows()
    api = make_api(windows=windows)
    # We believe the window is open, WeChat knows better (48 hours passed on its side).
    await windows.record("oUser1", Interaction.MESSAGE, at=time.time())
    standin.close_window("oUser1")

    with pytest.raises(ServiceWindowClosed) as raised:
        await api.send_text("oUser1", "your provider is on the way")
    assert raised.value.errcode == 45015
    assert raised.value.openid == "oUser1"

    calls_before = len(standin.calls_to("/cgi-bin/message/custom/send"))
    with pytest.raises(ServiceWindowClosed) as again:
        await api.send_text("oUser1", "second try")
    assert again.value.errcode is None  # refused here, no call made
    assert len(standin.calls_to("/cgi-bin/message/custom/send")) == calls_before
    assert await api.window_status("oUser1") is WindowStatus.CLOSED

    # The caller's fallback: a template message, which the window does not limit.
    msgid = await api.send_template("oUser1", "TPL_ORDER_UPDATE",
                                    {"order": "#42", "status": "on the way"})
    assert msgid > 0
    [template] = standin.messages_to("oUser1")
    assert template.kind == "template"
    assert template.payload["data"]["status"] == {"value": "on the way"}


async def test_45047_becomes_quota_exhausted(standin: WeChatStandIn, make_api: MakeApi) -> None:
    windows = InMemoryServiceWindows()
    api = make_api(windows=windows)
    await windows.record("oUser1", Interaction.MESSAGE, at=time.time())
    standin.open_window("oUser1")
    standin.exhaust_quota("oUser1")

    with pytest.raises(ServiceQuotaExhausted) as raised:
        await api.send_text("oUser1", "one more")

    assert raised.value.errcode == 45047
    assert await api.window_status("oUser1") is WindowStatus.EXHAUSTED


async def test_a_users_message_opens_five_sends_tracked_from_the_webhook(
    standin: WeChatStandIn, serve_webhook: ServeWebhook, make_api: MakeApi
) -> None:
    windows = InMemoryServiceWindows()
    webhook, url = await serve_webhook(windows=windows, on_message=Recorder())
    api = make_api(windows=windows)
    driver = standin.driver(url, token=TOKEN)

    with pytest.raises(ServiceWindowClosed):
        await api.send_text("oCustomer", "nobody wrote to us yet")
    await driver.deliver(driver.text("oCustomer", "hi, I need a plumber"))
    await webhook.drain()

    for n in range(5):
        await api.send_text("oCustomer", f"update {n}")
    with pytest.raises(ServiceQuotaExhausted) as raised:
        await api.send_text("oCustomer", "update 5")

    assert raised.value.errcode is None  # our own count refused it before WeChat had to
    assert len(standin.messages_to("oCustomer")) == 5
    assert errcodes(standin, "/cgi-bin/message/custom/send") == [0] * 5


async def test_choices_images_and_voice_reach_the_user(
    standin: WeChatStandIn, make_api: MakeApi
) -> None:
    api = make_api()
    standin.open_window("oUser1")
    image_id = await api.upload_media("image", "receipt.png", PNG, "image/png")
    voice_id = await api.upload_media("voice", "note.amr", b"#!AMR\n" + b"\x00" * 64)

    await api.send_choices("oUser1", "New order #42", [("accept:42", "Accept"),
                                                       ("reject:42", "Reject")], "Reply within 10 min")
    await api.send_image("oUser1", image_id)
    await api.send_voice("oUser1", voice_id)

    menu, image, voice = standin.messages_to("oUser1")
    assert menu.payload["msgmenu"]["list"] == [{"id": "accept:42", "content": "Accept"},
                                               {"id": "reject:42", "content": "Reject"}]
    assert image.payload["image"]["media_id"] == image_id
    assert voice.payload["voice"]["media_id"] == voice_id


async def test_media_upload_and_get_round_trip(standin: WeChatStandIn, make_api: MakeApi) -> None:
    api = make_api()

    media_id = await api.upload_media("image", "photo.png", PNG, "image/png")

    assert await api.download_media(media_id) == PNG
    with pytest.raises(WeChatApiError) as raised:
        await api.download_media("no-such-media")
    assert raised.value.errcode == 40007


@pytest.mark.parametrize(
    ("media_type", "filename", "content", "message"),
    [
        ("sticker", "a.png", PNG, "media type"),
        ("image", "a.exe", PNG, "image files must be"),
        ("thumb", "t.jpg", b"x" * (64 * 1024 + 1), "at most 65536 bytes"),
        ("voice", "v.mp3", b"", "empty"),
    ],
)
async def test_bad_media_is_refused_before_any_upload(
    media_type: str, filename: str, content: bytes, message: str,
    standin: WeChatStandIn, make_api: MakeApi,
) -> None:
    api = make_api()
    with pytest.raises(ValueError, match=message):
        await api.upload_media(media_type, filename, content)
    assert standin.calls_to("/cgi-bin/media/upload") == []


GOOD_MENU: dict[str, Any] = {"button": [
    {"name": "找服务", "type": "click", "key": "BROWSE"},
    {"name": "我的订单", "sub_button": [
        {"name": "进行中", "type": "click", "key": "ORDERS_ACTIVE"},
        {"name": "历史订单", "type": "click", "key": "ORDERS_DONE"},
    ]},
    {"name": "我", "type": "view", "url": "https://yueban.example/me"},
]}


async def test_a_valid_menu_is_created_and_read_back(
    standin: WeChatStandIn, make_api: MakeApi
) -> None:
    api = make_api()
    await api.create_menu(GOOD_MENU)
    assert await api.get_menu() == {"menu": GOOD_MENU}


async def test_an_invalid_menu_is_refused_before_any_call(
    standin: WeChatStandIn, make_api: MakeApi
) -> None:
    api = make_api()
    too_wide = {"button": [*GOOD_MENU["button"], {"name": "更多", "type": "click", "key": "M"}]}

    with pytest.raises(MenuInvalid, match="at most 3 top-level buttons"):
        await api.create_menu(too_wide)
    assert standin.calls_to("/cgi-bin/menu/create") == []


async def test_the_standin_refuses_a_bad_menu_as_wechat_would(
    standin: WeChatStandIn, make_api: MakeApi
) -> None:
    api = make_api()
    long_name = {"button": [{"name": "一二三四五六", "type": "click", "key": "K"}]}  # 18 bytes

    with pytest.raises(WeChatApiError) as raised:
        await api.call(lambda wx: wx.menu.create(long_name))  # bypassing our own check

    assert raised.value.errcode == 40018


async def test_an_unreachable_api_fails_clearly() -> None:
    api = WeChatApi(app_id="wx1", app_secret="s", tokens=InMemoryTokenStore(),
                    api_base="http://127.0.0.1:9/")
    with pytest.raises(WeChatApiError, match="unreachable"):
        await api.send_text("oUser1", "hi")


async def test_the_standin_records_are_readable_and_controllable_over_http(
    standin: WeChatStandIn, make_api: MakeApi
) -> None:
    api = make_api()
    async with aiohttp.ClientSession(base_url=standin.base_url) as http:
        async with http.post("/_standin/windows/oUser7/open") as resp:
            assert resp.status == 200
        await api.send_text("oUser7", "over http")
        async with http.get("/_standin/messages/oUser7") as resp:
            [message] = await resp.json()
        async with http.post("/_standin/tokens/expire") as resp:
            assert resp.status == 200
        await api.send_text("oUser7", "after expiry")
        async with http.get("/_standin/calls") as resp:
            calls = await resp.json()

    assert message["payload"]["text"]["content"] == "over http"
    assert [c["errcode"] for c in calls if c["path"] == "/cgi-bin/message/custom/send"] == [
        0, 42001, 0]
    assert all("secret" not in c["query"] for c in calls)
