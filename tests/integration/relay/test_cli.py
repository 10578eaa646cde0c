"""`yueban admin orders transcript N` through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from app.cli import app
from app.settings import Settings
from core.relay import commands as r
from core.shared.clock import FixedClock
from storage.db import create_engine
from tests.integration.relay.conftest import make_world

runner = CliRunner()


def yueban(database: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, list(args),
        env={"YUEBAN_DATABASE_URL": database, "YUEBAN_MODE": "demo", "COLUMNS": "250"},
    )
    return result.exit_code, result.stdout, result.stderr


async def _chat(database: str) -> dict[str, int | str]:
    engine = create_engine(database)
    settings = Settings(_env_file=None, mode="demo", database_url=database)  # type: ignore[call-arg]
    try:
        world = await make_world(settings, engine, FixedClock())
        order = await world.accepted_order()
        quiet = await world.accepted_order(provider=world.other_provider)
        await world.bus.handle(r.SelectConversation(actor_id=world.customer.id,
                                                    order_id=order.id))
        first, _ = await world.send_and_deliver(world.customer, "[bold]你好[/bold]，电话 13812345678")
        await world.send_and_deliver(world.provider, "好的，平台里聊")
        await world.bus.handle(r.RouteEdit(
            sender_user_id=world.customer.id, platform="telegram",
            chat_id=world.customer.chat_id, message_id=first.message_id, text="你好"))
        return {"id": order.id, "number": order.number, "quiet": quiet.number,
                "customer": world.customer.id, "provider": world.provider.id}
    finally:
        await engine.dispose()


def test_an_operator_reads_the_chat_of_an_order_masked(database_url: str) -> None:
    chat = asyncio.run(_chat(database_url))
    code, out, err = yueban(database_url, "admin", "orders", "transcript", str(chat["id"]))
    assert code == 0, err
    assert f"order {chat['number']}" in out
    assert "[bold]你好[/bold]，电话 [hidden]" in out  # user text is never read as markup
    assert "13812345678" not in out
    assert "phone" in out and "(edited)" in out


def test_the_transcript_as_json_by_order_number(database_url: str) -> None:
    chat = asyncio.run(_chat(database_url))
    code, out, err = yueban(database_url, "admin", "--lang", "zh", "orders", "transcript",
                            str(chat["number"]), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["order_id"] == chat["id"] and data["customer_id"] == chat["customer"]
    assert [(m["role"], m["text"], m["hidden"]) for m in data["messages"]] == [
        ("customer", "[bold]你好[/bold]，电话 [已隐藏]", ["phone"]),
        ("provider", "好的，平台里聊", []),
        ("customer", "你好", []),
    ]
    assert data["messages"][0]["delivered_to"] == [chat["provider"]]
    assert data["messages"][2]["edit_of"] == data["messages"][0]["id"]


def test_an_unknown_order_is_refused_in_words(database_url: str) -> None:
    chat = asyncio.run(_chat(database_url))
    code, _, err = yueban(database_url, "admin", "orders", "transcript", "YB99999")
    assert code == 1
    assert "no chat for order YB99999" in err
    code, out, _ = yueban(database_url, "admin", "orders", "transcript", str(chat["quiet"]))
    assert code == 0 and "nothing was said" in out
