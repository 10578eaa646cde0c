"""WeChatMessenger against the stand-in: customer-service messages inside the 48-hour window
(tappable choices, numbered when they cannot hijack a flow), template messages outside it or
past the quota, "window_closed" when neither is possible, and token expiry handled with one
refresh."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bots.wechat.client import WeChatApi, WeChatApiError
from bots.wechat.messenger import WeChatMessenger
from bots.wechat.sessions import InMemorySessionStore, Session
from bots.wechat.standin import WeChatStandIn
from bots.wechat.tokens import InMemoryTokenStore
from bots.wechat.windows import InMemoryServiceWindows, Interaction
from core.ports import ChannelAddress
from core.shared.messages import Action, Notice
from core.shared.money import Money

OPENID = "oNoticeReader000000000000001"
ADDRESS = ChannelAddress("wechat", OPENID, "zh", "Asia/Shanghai")
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def request_notice() -> Notice:
    return Notice(
        7, "notice.order.request",
        {"number": "YB0001A", "start": datetime(2026, 1, 12, 2, 0, tzinfo=UTC),
         "total": Money(12000, "CNY"), "deadline": datetime(2026, 1, 5, 9, 10, tzinfo=UTC)},
        (Action("order.accept", {"order_id": 42}), Action("order.reject", {"order_id": 42})),
    )


@pytest.fixture
async def standin() -> AsyncIterator[WeChatStandIn]:
    async with WeChatStandIn() as server:
        server.templates = {"tpl-ok"}
        yield server


@pytest.fixture
def windows() -> InMemoryServiceWindows:
    return InMemoryServiceWindows()


@pytest.fixture
async def api(standin: WeChatStandIn, windows: InMemoryServiceWindows) -> AsyncIterator[WeChatApi]:
    client = WeChatApi(app_id=standin.app_id, app_secret=standin.app_secret,
                       tokens=InMemoryTokenStore(), windows=windows, api_base=standin.base_url)
    yield client
    client.close()


async def open_window(standin: WeChatStandIn, windows: InMemoryServiceWindows) -> None:
    """The person wrote to the account: WeChat and our tracker both know."""
    standin.open_window(OPENID, Interaction.MESSAGE)
    await windows.record(OPENID, Interaction.MESSAGE, time.time())


async def test_inside_the_window_a_notice_is_one_msgmenu_with_numbered_choices(
    standin: WeChatStandIn, api: WeChatApi, windows: InMemoryServiceWindows
) -> None:
    sessions = InMemorySessionStore()
    messenger = WeChatMessenger(api, template_id="tpl-ok", sessions=sessions, clock=lambda: NOW)
    await open_window(standin, windows)
    result = await messenger.deliver(request_notice(), ADDRESS)
    assert result.delivered
    [sent] = standin.messages_to(OPENID)
    assert sent.kind == "custom" and sent.msgtype == "msgmenu"
    menu = sent.payload["msgmenu"]
    # Money in yuan and the start in the reader's zone (Shanghai), not UTC.
    assert "新订单 YB0001A，时间 2026-01-12 10:00，金额 ¥120.00" in menu["head_content"]
    assert [(c["id"], c["content"]) for c in menu["list"]] == [
        ("act:order.accept:42", "1. 接单"), ("act:order.reject:42", "2. 拒绝")]
    session = await sessions.load(OPENID)
    assert session.choice(1) == "act:order.accept:42"


async def test_in_the_middle_of_a_flow_the_choices_are_tappable_but_not_numbered(
    standin: WeChatStandIn, api: WeChatApi, windows: InMemoryServiceWindows
) -> None:
    sessions = InMemorySessionStore()
    await sessions.save(OPENID, Session(choices=[("slot:1", "10:00-11:00")], data={"book": {"offer": 1}}))
    messenger = WeChatMessenger(api, sessions=sessions)
    await open_window(standin, windows)
    assert (await messenger.deliver(request_notice(), ADDRESS)).delivered
    [sent] = standin.messages_to(OPENID)
    assert [c["content"] for c in sent.payload["msgmenu"]["list"]] == ["接单", "拒绝"]
    # The slot the person was choosing is still what "1" means.
    assert (await sessions.load(OPENID)).choice(1) == "slot:1"


async def test_a_notice_without_actions_is_a_plain_text(
    standin: WeChatStandIn, api: WeChatApi, windows: InMemoryServiceWindows
) -> None:
    await open_window(standin, windows)
    notice = Notice(7, "notice.order.completed", {"number": "YB0001A"})
    assert (await WeChatMessenger(api).deliver(notice, ADDRESS)).delivered
    [sent] = standin.messages_to(OPENID)
    assert sent.msgtype == "text" and "YB0001A" in sent.payload["text"]["content"]


async def test_after_48_hours_the_notice_falls_back_to_a_template_with_short_fields(
    standin: WeChatStandIn, api: WeChatApi, windows: InMemoryServiceWindows
) -> None:
    messenger = WeChatMessenger(api, template_id="tpl-ok", clock=lambda: NOW)
    await open_window(standin, windows)
    standin.close_window(OPENID)  # 48 hours passed: WeChat says 45015; we had not noticed
    result = await messenger.deliver(request_notice(), ADDRESS)
    assert result.delivered and result.channel_message_id
    [sent] = standin.messages_to(OPENID)
    assert sent.kind == "template" and sent.payload["template_id"] == "tpl-ok"
    fields = {key: value["value"] for key, value in sent.payload["data"].items()}
    assert fields["character_string2"] == "YB0001A"
    assert fields["time3"] == "2026-01-05 17:00"
    assert len(fields["thing1"]) <= 20 and fields["thing1"].startswith("新订单 YB0001A")
    assert len(fields["thing4"]) <= 20
    custom_tries = len(standin.calls_to("/cgi-bin/message/custom/send"))
    # Now we know the window is closed: the next notice costs no customer-service call.
    assert (await messenger.deliver(request_notice(), ADDRESS)).delivered
    assert len(standin.calls_to("/cgi-bin/message/custom/send")) == custom_tries
    assert [m.kind for m in standin.messages_to(OPENID)] == ["template", "template"]


async def test_past_the_quota_the_notice_falls_back_to_a_template(
    standin: WeChatStandIn, api: WeChatApi, windows: InMemoryServiceWindows
) -> None:
    await open_window(standin, windows)
    standin.exhaust_quota(OPENID)  # WeChat says 45047
    result = await WeChatMessenger(api, template_id="tpl-ok").deliver(request_notice(), ADDRESS)
    assert result.delivered
    assert [m.kind for m in standin.messages_to(OPENID)] == ["template"]


async def test_window_closed_and_no_template_is_reported_never_lost_silently(
    standin: WeChatStandIn, api: WeChatApi
) -> None:
    result = await WeChatMessenger(api).deliver(request_notice(), ADDRESS)
    assert (result.delivered, result.failure) == (False, "window_closed")
    assert standin.messages_to(OPENID) == []
    # A template WeChat refuses (not set up in the account) is no better.
    refused = await WeChatMessenger(api, template_id="tpl-unknown").deliver(request_notice(), ADDRESS)
    assert (refused.delivered, refused.failure) == (False, "window_closed")


async def test_someone_who_unfollowed_the_account_is_reported_blocked(
    standin: WeChatStandIn, api: WeChatApi
) -> None:
    standin.unsubscribed.add(OPENID)
    result = await WeChatMessenger(api, template_id="tpl-ok").deliver(request_notice(), ADDRESS)
    assert (result.delivered, result.failure) == (False, "blocked")


async def test_an_expired_or_revoked_token_is_refreshed_once_and_the_notice_goes_out(
    standin: WeChatStandIn, api: WeChatApi, windows: InMemoryServiceWindows
) -> None:
    messenger = WeChatMessenger(api)
    await open_window(standin, windows)
    notice = Notice(7, "notice.order.completed", {"number": "YB0001A"})
    assert (await messenger.deliver(notice, ADDRESS)).delivered
    assert standin.token_requests == 1
    standin.expire_tokens()  # 42001
    assert (await messenger.deliver(notice, ADDRESS)).delivered
    assert standin.token_requests == 2
    standin.revoke_tokens()  # 40001
    assert (await messenger.deliver(notice, ADDRESS)).delivered
    assert standin.token_requests == 3
    assert len(standin.messages_to(OPENID)) == 3


async def test_wechat_unreachable_raises_so_the_relay_tries_again(
    standin: WeChatStandIn, windows: InMemoryServiceWindows
) -> None:
    await open_window(standin, windows)
    api = WeChatApi(app_id=standin.app_id, app_secret=standin.app_secret,
                    tokens=InMemoryTokenStore(), windows=windows,
                    api_base="http://127.0.0.1:9/", timeout_seconds=0.5)
    try:
        with pytest.raises(WeChatApiError):
            await WeChatMessenger(api, template_id="tpl-ok").deliver(request_notice(), ADDRESS)
    finally:
        api.close()
