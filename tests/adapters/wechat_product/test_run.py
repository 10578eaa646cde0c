"""`yueban run` with WeChat: settings WeChat would refuse are refused naming the setting; with
Telegram enabled too, both channels are served on one host and port with one notice relay;
and the real command serves the official account until it is told to stop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from app.bootstrap import bootstrap
from app.cli import app
from app.http import serve_channels
from bots.telegram.standin import BotApiStandIn, RateLimits
from bots.wechat.standin import WeChatStandIn
from bots.wechat.webhook import DeliveryMode
from core.identity.commands import GrantRole
from core.shared.clock import FixedClock
from storage import migrate
from tests.adapters.processes import stop, until_healthy, yueban_run
from tests.adapters.wechat_product.conftest import AES_KEY, TOKEN, free_port, wechat_settings

KEY = "ZGVtby1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="
WECHAT = {"YUEBAN_WECHAT_APP_ID": "wx0123456789abcdef", "YUEBAN_WECHAT_APP_SECRET": "s3cr3t-value",
          "YUEBAN_WECHAT_TOKEN": "t0ken-value"}


def run(env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    base = {"YUEBAN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
            "YUEBAN_MODE": "production", "YUEBAN_ENCRYPTION_KEY": KEY}
    result = CliRunner().invoke(app, ["run"], env={**base, **env})
    return result.exit_code, result.output


def test_with_no_channel_it_names_both_channels_settings(tmp_path: Path) -> None:
    code, output = run({}, tmp_path)
    assert code == 3
    assert "YUEBAN_TELEGRAM_TOKEN" in output and "YUEBAN_WECHAT_APP_ID" in output


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({**WECHAT, "YUEBAN_WECHAT_TOKEN": "changeme"}, "YUEBAN_WECHAT_TOKEN is a placeholder"),
        ({"YUEBAN_WECHAT_APP_ID": "wx1"}, "YUEBAN_WECHAT_APP_SECRET is not set"),
        ({**WECHAT, "YUEBAN_WECHAT_AES_KEY": "too-short"}, "YUEBAN_WECHAT_AES_KEY must be"),
        ({**WECHAT, "YUEBAN_WECHAT_API_BASE": "api.weixin.qq.com"},
         "YUEBAN_WECHAT_API_BASE must be an http(s) URL"),
        ({**WECHAT, "YUEBAN_WECHAT_PAY_MCH_ID": "1900000109",
          "YUEBAN_WECHAT_PAY_API_KEY": "merchant-key-value"},
         "YUEBAN_WECHAT_PAY_NOTIFY_URL must be"),
    ],
)
def test_unusable_wechat_settings_are_refused_naming_the_setting(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    code, output = run(env, tmp_path)
    assert code == 2
    assert named in output


async def test_telegram_and_wechat_share_one_server_and_one_relay(
    database_url: str, engine: AsyncEngine, clock: FixedClock,
) -> None:
    async with WeChatStandIn() as wx, BotApiStandIn.running(rate_limits=RateLimits.off()) as tg:
        settings = wechat_settings(database_url, wx, DeliveryMode.SAFE,
                                   telegram_token=tg.token, telegram_api_base=tg.base_url)
        runtime = bootstrap(settings, clock=clock, engine=engine)
        stop = asyncio.Event()
        task = asyncio.create_task(serve_channels(settings, runtime, stop))
        url = f"http://127.0.0.1:{settings.http_port}"
        driver = wx.driver(url + "/wechat", token=TOKEN, encoding_aes_key=AES_KEY)
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(500):
                    if task.done():
                        task.result()
                    try:
                        async with http.get(url + "/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.01)
            # WeChat on the Telegram service's application.
            follow = await driver.deliver(driver.subscribe("oBoth0000000000000000000001"))
            assert follow.reply is not None and "欢迎关注约伴" in follow.reply["Content"]
            ann = tg.create_user("Ann", language_code="en")
            await ann.start()
            assert "welcome to Yueban" in (await ann.next_message(within=10))["text"]
            # One relay delivers to WeChat too: a role granted is announced there.
            async with runtime.uow_factory() as uow:
                user = await uow.users.get_by_channel("wechat", "oBoth0000000000000000000001")
            assert user is not None
            await runtime.bus.handle(GrantRole(user_id=user.id, role="provider"))
            for _ in range(500):
                if wx.messages_to("oBoth0000000000000000000001"):
                    break
                await asyncio.sleep(0.01)
            [notice] = wx.messages_to("oBoth0000000000000000000001")
            assert "provider" in notice.payload["text"]["content"]
        finally:
            stop.set()
            await task
            await driver.close()


@pytest.mark.slow  # a second Python process importing everything: several seconds
async def test_run_serves_the_official_account_until_it_is_told_to_stop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'yueban.db'}"
    await asyncio.to_thread(migrate.upgrade, url, "head")
    port = free_port()
    async with WeChatStandIn() as standin:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("YUEBAN_")},
            "YUEBAN_MODE": "demo",
            "YUEBAN_DATABASE_URL": url,
            "YUEBAN_HTTP_PORT": str(port),
            "YUEBAN_WECHAT_APP_ID": standin.app_id,
            "YUEBAN_WECHAT_APP_SECRET": standin.app_secret,
            "YUEBAN_WECHAT_TOKEN": TOKEN,
            "YUEBAN_WECHAT_API_BASE": standin.base_url,
        }
        driver = standin.driver(f"http://127.0.0.1:{port}/wechat", token=TOKEN)
        async with yueban_run(env, tmp_path) as process:
            try:
                await until_healthy(process, port, within=60)
                reply = await driver.deliver(driver.text("oRun00000000000000000000001", "帮助"))
                assert reply.reply is not None and "回复这些词就能操作" in reply.reply["Content"]
            finally:
                await driver.close()
                output = await stop(process, 60)
        assert process.returncode == 0, output
        assert "WeChat official account (plaintext mode, /wechat)" in output
        assert standin.menu is not None
