"""`yueban run`: refuses unusable settings naming the setting to fix, says plainly when no
channel is configured, and with a token serves the bot until told to stop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from bots.telegram.standin import BotApiStandIn
from storage import migrate
from tests.adapters.processes import stop, until_healthy, yueban_run
from tests.adapters.telegram.conftest import free_port

KEY = "ZGVtby1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="
TOKEN = "123456789:AAHreal-looking_token"


def run(env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    base = {"YUEBAN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
            "YUEBAN_MODE": "production", "YUEBAN_ENCRYPTION_KEY": KEY}
    result = CliRunner().invoke(app, ["run"], env={**base, **env})
    return result.exit_code, result.output


def test_with_no_channel_configured_it_says_what_to_set(tmp_path: Path) -> None:
    code, output = run({}, tmp_path)
    assert code == 3
    assert "no chat channel is configured" in output
    assert "YUEBAN_TELEGRAM_TOKEN" in output


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"YUEBAN_TELEGRAM_TOKEN": "changeme"}, "YUEBAN_TELEGRAM_TOKEN is a placeholder"),
        ({"YUEBAN_TELEGRAM_TOKEN": "not a token"}, "YUEBAN_TELEGRAM_TOKEN does not look like"),
        ({"YUEBAN_TELEGRAM_TOKEN": TOKEN, "YUEBAN_ENCRYPTION_KEY": ""},
         "YUEBAN_ENCRYPTION_KEY is not set"),  # an empty variable is no value
        ({"YUEBAN_TELEGRAM_TOKEN": TOKEN,
          "YUEBAN_TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook"},
         "YUEBAN_TELEGRAM_WEBHOOK_SECRET is not set"),
        ({"YUEBAN_TELEGRAM_TOKEN": TOKEN,
          "YUEBAN_TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook",
          "YUEBAN_TELEGRAM_WEBHOOK_SECRET": "has spaces in it"},
         "YUEBAN_TELEGRAM_WEBHOOK_SECRET may only use"),
        ({"YUEBAN_TELEGRAM_TOKEN": TOKEN, "YUEBAN_TELEGRAM_API_BASE": "localhost:8081"},
         "YUEBAN_TELEGRAM_API_BASE must be an http(s) URL"),
    ],
)
def test_unusable_settings_are_refused_naming_the_setting(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    code, output = run(env, tmp_path)
    assert code == 2
    assert named in output


@pytest.mark.slow  # a second Python process importing aiogram: several seconds
async def test_run_serves_the_bot_until_it_is_told_to_stop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'yueban.db'}"
    await asyncio.to_thread(migrate.upgrade, url, "head")
    port = free_port()
    async with BotApiStandIn.running() as standin:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("YUEBAN_")},
            "YUEBAN_MODE": "demo",
            "YUEBAN_DATABASE_URL": url,
            "YUEBAN_TELEGRAM_TOKEN": standin.token,
            "YUEBAN_TELEGRAM_API_BASE": standin.base_url,
            "YUEBAN_HTTP_PORT": str(port),
        }
        async with yueban_run(env, tmp_path) as process:
            try:
                await until_healthy(process, port, within=30)
                ann = standin.create_user("Ann", language_code="en")
                await ann.start()
                reply = await ann.next_message(within=10)
                assert reply["text"].startswith("Hi Ann, welcome to Yueban!")
            finally:
                output = await stop(process, 20)
        assert process.returncode == 0, output
        assert "Telegram bot (long polling)" in output
        commands = standin.calls("setMyCommands")
        assert {c.params.get("language_code") for c in commands} >= {"zh", "en"}
