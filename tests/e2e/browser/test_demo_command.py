"""`yueban demo` as a newcomer runs it: it seeds a world once and reuses it, serves the page
and the stand-in on one port, stops cleanly on Ctrl-C and SIGTERM, and its walkthrough plays
the whole journey to the end."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.demo.server import DemoOptions, bot_settings, database_url
from app.demo.walkthrough import relay_transport_available
from app.demo.world import PROVIDERS
from app.settings import Settings
from tests.e2e.browser.conftest import SeededWorld, demo_command

pytestmark = pytest.mark.slow

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


@contextlib.contextmanager
def reading(folder: Path) -> Iterator[sqlite3.Connection]:
    """The demo database, closed on leaving: a connection left to the garbage collector
    closes whenever it runs, and SQLite then deletes the WAL files, maybe while another
    test's fixture is copying the folder."""
    db = sqlite3.connect(folder / "demo.db")
    try:
        yield db
    finally:
        db.close()


def counts(folder: Path) -> dict[str, int]:
    with reading(folder) as db:
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
    with reading(seeded_world.folder) as db:
        kinds = {row[0] for row in db.execute(
            "select distinct c.kind from catalog_offers o "
            "join catalog_categories c on c.id = o.category_id")}
        coaches = db.execute("select count(*) from catalog_providers "
                             "where venue_id is not null").fetchone()[0]
    assert kinds == {"online_session", "errand", "on_site", "venue_lesson"}
    assert coaches >= 5  # the hall's coach team


def test_a_second_run_reuses_the_world_serves_page_and_stand_in_and_stops_on_ctrl_c(
    demo_dir: Path,
) -> None:
    before = counts(demo_dir)
    with demo_command(demo_dir) as demo:
        ready = demo.wait_for("open http://", START_TIMEOUT_S)
        assert demo.url in ready
        assert f"Demo world reused from sqlite+aiosqlite:///{demo_dir.resolve()}" in demo.output
        assert "Seeding" not in demo.output
        status, kind, body = get(demo.url + "/")
        assert (status, kind) == (200, "text/html")
        assert b"/demo/static/demo.js" in body
        assert get_json(demo.url + "/_standin")["bots"][0]["username"] == "yueban_demo_bot"
        config = get_json(demo.url + "/demo/config")
        assert [p["role"] for p in config["panes"]] == [
            "role_customer", "role_provider", "role_newcomer", "role_operators"]
        with reading(demo_dir) as db:
            photos = [json.loads(row[0]) for row in db.execute(
                "select photos from catalog_providers")]
        # The avatars the first run uploaded are still there for the bot to send.
        status, kind, body = get(f"{demo.url}/demo/files/{photos[0][0]}")
        assert (status, kind) == (200, "image/png") and body.startswith(b"\x89PNG")
        assert demo.stop(signal.SIGINT) == 0
    assert demo.output.rstrip().endswith("Stopping…\nYueban demo stopped.")
    assert "Traceback" not in demo.output
    assert counts(demo_dir) == before


def test_the_walkthrough_plays_the_whole_journey_and_the_demo_stops_on_sigterm(
    demo_dir: Path,
) -> None:
    with demo_command(demo_dir, "--walkthrough", "--pace", "0") as demo:
        demo.wait_for("open http://", START_TIMEOUT_S)
        demo.wait_for("The walkthrough is complete.", WALKTHROUGH_TIMEOUT_S)
        captions = [line["text"] for line in get_json(demo.url + "/demo/narration")]
        assert demo.stop(signal.SIGTERM) == 0
    assert demo.output.rstrip().endswith("Yueban demo stopped.")
    assert "Traceback" not in demo.output
    assert captions[0].startswith("Walkthrough:")
    assert any("applies with /apply" in c for c in captions)
    if relay_transport_available():
        assert any(c.startswith("Ann and Mei talk through the bot") for c in captions)
    assert any("Olivia approves the withdrawal" in c for c in captions)
    assert captions[-1].startswith("That was the whole journey")
    with reading(demo_dir) as db:
        paid = db.execute("select count(*) from wallet_withdrawals "
                          "where status = 'paid'").fetchone()[0]
        reviewed = db.execute("select rating, text from reviews order by id desc "
                              "limit 1").fetchone()
    assert counts(demo_dir)["catalog_providers"] == len(PROVIDERS) + 1  # Mei was approved
    assert paid == 1
    assert reviewed == (5, "Patient, funny and knows every chest. Thank you, Mei!")


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


def test_bad_options_and_a_busy_port_are_refused_clearly_and_change_nothing(
    tmp_path: Path, no_yueban_environment: None
) -> None:
    runner = CliRunner()
    wrong = runner.invoke(app, ["demo", "--lang", "fr", "--data-dir", str(tmp_path / "a")])
    assert wrong.exit_code == 2
    assert "--lang must be en or zh, not 'fr'" in wrong.output
    assert not (tmp_path / "a").exists()
    negative = runner.invoke(app, ["demo", "--pace", "-1", "--data-dir", str(tmp_path / "b")])
    assert negative.exit_code == 2
    assert not (tmp_path / "b").exists()

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = runner.invoke(app, ["demo", "--port", str(port), "--reset",
                                    "--data-dir", str(tmp_path / "c")])
    assert taken.exit_code == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in taken.output
    assert "choose another port with --port" in taken.output
    assert not (tmp_path / "c" / "demo.db").exists()
