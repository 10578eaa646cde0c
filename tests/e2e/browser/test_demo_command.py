"""`yueban demo` as a newcomer runs it: it seeds a world once and reuses it, serves the page
and the stand-in on one port, stops cleanly on Ctrl-C and SIGTERM, and its walkthrough plays
the whole journey to the end."""

from __future__ import annotations

import json
import signal
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from app.demo.server import DemoOptions, bot_settings, database_url
from app.demo.world import PROVIDERS
from app.settings import Settings
from tests.e2e.browser.conftest import SeededWorld, demo_command

START_TIMEOUT_S = 120.0
WALKTHROUGH_TIMEOUT_S = 300.0


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get_content_type(), response.read()


def get_json(url: str) -> Any:
    status, _, body = get(url)
    assert status == 200
    payload = json.loads(body)
    assert payload["ok"] is True, payload
    return payload["result"]


def counts(folder: Path) -> dict[str, int]:
    with sqlite3.connect(folder / "demo.db") as db:
        return {table: db.execute(f"select count(*) from {table}").fetchone()[0]
                for table in ("users", "catalog_providers", "catalog_offers", "reviews",
                              "orders", "catalog_venues", "catalog_categories")}


def test_the_first_run_seeds_the_world_with_every_kind_of_work(seeded_world: SeededWorld) -> None:
    assert "Seeding the demo world" in seeded_world.first_output
    assert f"Demo world ready: {len(PROVIDERS)} providers" in seeded_world.first_output
    assert "Yueban demo stopped." in seeded_world.first_output
    seeded = counts(seeded_world.folder)
    assert seeded["catalog_providers"] == len(PROVIDERS) == 30
    assert seeded["catalog_venues"] == 1
    assert seeded["reviews"] >= len(PROVIDERS)
    with sqlite3.connect(seeded_world.folder / "demo.db") as db:
        kinds = {row[0] for row in db.execute(
            "select distinct c.kind from catalog_offers o "
            "join catalog_categories c on c.id = o.category_id")}
        coaches = db.execute("select count(*) from catalog_providers "
                             "where venue_id is not null").fetchone()[0]
    assert kinds == {"online_session", "errand", "on_site", "venue_lesson"}
    assert coaches >= 5  # the hall's coach team


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_the_demo_serves_the_page_and_the_stand_in_and_stops_cleanly(
    demo_dir: Path, signum: int
) -> None:
    with demo_command(demo_dir) as demo:
        ready = demo.wait_for("open http://", START_TIMEOUT_S)
        assert demo.url in ready
        status, kind, body = get(demo.url + "/")
        assert (status, kind) == (200, "text/html")
        assert b"/demo/static/demo.js" in body
        assert get_json(demo.url + "/_standin")["bots"][0]["username"] == "yueban_demo_bot"
        config = get_json(demo.url + "/demo/config")
        assert [p["role"] for p in config["panes"]] == [
            "role_customer", "role_provider", "role_newcomer", "role_operators"]
        assert demo.stop(signum) == 0
    assert "Stopping…" in demo.output
    assert demo.output.rstrip().endswith("Yueban demo stopped.")
    assert "Traceback" not in demo.output


def test_a_second_run_reuses_the_world_and_its_pictures(demo_dir: Path) -> None:
    before = counts(demo_dir)
    with demo_command(demo_dir) as demo:
        demo.wait_for("open http://", START_TIMEOUT_S)
        assert f"Demo world reused from sqlite+aiosqlite:///{demo_dir.resolve()}" in demo.output
        assert "Seeding" not in demo.output
        with sqlite3.connect(demo_dir / "demo.db") as db:
            photos = [json.loads(row[0]) for row in db.execute(
                "select photos from catalog_providers")]
        # The avatars the first run uploaded are still there for the bot to send.
        status, kind, body = get(f"{demo.url}/demo/files/{photos[0][0]}")
        assert (status, kind) == (200, "image/png") and body.startswith(b"\x89PNG")
        assert demo.stop() == 0
    assert counts(demo_dir) == before


def test_the_walkthrough_plays_the_whole_journey_at_a_fast_pace(demo_dir: Path) -> None:
    with demo_command(demo_dir, "--walkthrough", "--pace", "0") as demo:
        demo.wait_for("open http://", START_TIMEOUT_S)
        demo.wait_for("The walkthrough is complete.", WALKTHROUGH_TIMEOUT_S)
        captions = [line["text"] for line in get_json(demo.url + "/demo/narration")]
        assert demo.stop() == 0
    assert "The walkthrough stopped" not in demo.output
    assert captions[0].startswith("Walkthrough:")
    assert any("applies with /apply" in c for c in captions)
    assert any("Olivia approves the withdrawal" in c for c in captions)
    assert captions[-1].startswith("That was the whole journey")
    after = counts(demo_dir)
    with sqlite3.connect(demo_dir / "demo.db") as db:
        paid = db.execute("select count(*) from wallet_withdrawals "
                          "where status = 'paid'").fetchone()[0]
    assert after["catalog_providers"] == len(PROVIDERS) + 1  # Mei was approved
    assert paid == 1


def test_the_demo_keeps_what_the_environment_sets_and_picks_the_rest_for_a_demo(
    tmp_path: Path, no_yueban_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = DemoOptions(data_dir=tmp_path, language="zh")
    chosen = bot_settings(Settings(_env_file=None), options, api_base="http://127.0.0.1:1",  # type: ignore[call-arg]
                          bot_port=2, group_chat_id=-100)
    assert chosen.is_demo and chosen.redis_url is None
    assert chosen.database_url == f"sqlite+aiosqlite:///{(tmp_path / 'demo.db').resolve()}"
    assert (chosen.settlement_days, chosen.default_locale) == (0, "zh")
    assert chosen.telegram_admin_chat_id == -100
    assert chosen.telegram_webhook_url == "http://127.0.0.1:2/telegram/webhook"

    monkeypatch.setenv("YUEBAN_SETTLEMENT_DAYS", "3")
    monkeypatch.setenv("YUEBAN_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1/demo")
    given = Settings(_env_file=None)  # type: ignore[call-arg]
    chosen = bot_settings(given, options, api_base="http://127.0.0.1:1", bot_port=2,
                          group_chat_id=-100)
    assert chosen.settlement_days == 3
    assert database_url(given, tmp_path) == chosen.database_url == \
        "postgresql+asyncpg://postgres@127.0.0.1/demo"
