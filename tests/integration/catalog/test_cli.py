"""`yueban admin catalog|categories|providers …` through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.bootstrap import bootstrap
from app.cli import app
from app.settings import Settings
from tests.integration.catalog.support import application, register, seeded

runner = CliRunner()


def yueban(database: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, list(args), env={"YUEBAN_DATABASE_URL": database, "YUEBAN_MODE": "demo", "COLUMNS": "200"}
    )
    return result.exit_code, result.stdout, result.stderr


def test_upgrade_seed_and_list_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    assert yueban(database, "db", "upgrade")[0] == 0
    code, out, _ = yueban(database, "admin", "catalog", "seed")
    assert code == 0 and "19 categories added" in out
    code, out, _ = yueban(database, "admin", "categories", "list", "--json")
    assert code == 0
    categories = json.loads(out)
    assert {c["slug"] for c in categories if c["parent_id"] is None} == {
        "games", "errands", "home-services", "massage", "billiards"
    }
    assert {c["kind"] for c in categories} == {"online_session", "on_site", "errand", "venue_lesson"}


def test_seed_list_add_and_edit_categories(database_url: str) -> None:
    assert yueban(database_url, "db", "upgrade")[0] == 0
    assert yueban(database_url, "admin", "catalog", "seed")[0] == 0
    code, out, _ = yueban(database_url, "admin", "catalog", "seed")
    assert code == 0 and "0 categories added, 19 already there" in out

    code, out, _ = yueban(database_url, "admin", "categories", "list")
    assert code == 0 and "honor-of-kings" in out and "王者荣耀" in out

    code, out, _ = yueban(
        database_url, "admin", "categories", "add", "naraka", "--zh", "永劫无间", "--en", "Naraka",
        "--kind", "online_session", "--pricing", "hour", "--parent", "games", "--commission", "2200",
    )
    assert code == 0, out
    listed = {c["slug"]: c for c in json.loads(yueban(database_url, "admin", "categories", "list", "--json")[1])}
    assert listed["naraka"]["parent_id"] == listed["games"]["id"]
    assert listed["naraka"]["commission_bps"] == 2200

    code, _, err = yueban(database_url, "admin", "categories", "edit", "naraka", "--commission", "20000")
    assert code == 1 and "10000" in err
    code, _, err = yueban(database_url, "admin", "categories", "edit", "no-such-thing", "--en", "x")
    assert code == 1 and "no-such-thing" in err
    assert yueban(database_url, "admin", "categories", "edit", "naraka", "--inactive", "--en", "Naraka B")[0] == 0
    active = json.loads(yueban(database_url, "admin", "categories", "list", "--active-only", "--json")[1])
    assert "naraka" not in {c["slug"] for c in active}


def test_an_operator_reviews_applications_from_the_shell(database_url: str) -> None:
    async def prepare() -> tuple[int, int, int]:
        runtime = bootstrap(Settings(_env_file=None, mode="demo", database_url=database_url))  # type: ignore[call-arg]
        try:
            catalog = await seeded(runtime)
            rain = await register(runtime, "2001", name="Rain")
            snow = await register(runtime, "2002", name="Snow")
            first = await runtime.bus.handle(application(rain, catalog["honor-of-kings"], name="小雨"))
            second = await runtime.bus.handle(application(snow, catalog["pubg-mobile"], name="小雪"))
            return rain, first.id, second.id
        finally:
            await runtime.close()

    rain, first, second = asyncio.run(prepare())

    code, out, _ = yueban(database_url, "admin", "providers", "pending")
    assert code == 0 and "小雨" in out and "小雪" in out and "honor-of-kings" in out
    pending = json.loads(yueban(database_url, "admin", "providers", "pending", "--json")[1])
    assert [a["id"] for a in pending] == [first, second]
    assert pending[0]["offers"][0]["unit_price"]["amount"] == 5000
    code, out, _ = yueban(database_url, "admin", "providers", "show", str(first), "--application")
    assert code == 0 and "id_photo" in out and "mon 09:00-18:00" in out

    code, out, _ = yueban(database_url, "admin", "providers", "approve", str(first), "--tier", "2")
    assert code == 0 and f"provider {rain}" in out
    code, _, err = yueban(database_url, "admin", "providers", "approve", str(first))
    assert code == 1 and "already decided" in err

    code, _, err = yueban(database_url, "admin", "providers", "reject", str(second))
    assert code == 1 and "reason" in err
    code, _, err = yueban(database_url, "admin", "--lang", "zh", "providers", "reject", str(second))
    assert code == 1 and "请填写原因" in err
    assert yueban(database_url, "admin", "providers", "reject", str(second), "--reason", "blurry ID")[0] == 0
    code, out, _ = yueban(database_url, "admin", "providers", "pending")
    assert code == 0 and "No applications" in out

    shown = json.loads(yueban(database_url, "admin", "providers", "show", str(rain), "--json")[1])
    assert shown["profile"]["tier"] == 2 and shown["profile"]["status"] == "approved"
    assert shown["schedule"]["rules"] == ["mon 09:00-18:00", "fri 20:00-02:00"]
    code, out, _ = yueban(database_url, "admin", "providers", "show", str(rain))
    assert code == 0 and "小雨" in out and "50.00 CNY" in out

    code, _, err = yueban(database_url, "admin", "providers", "suspend", str(rain))
    assert code == 1 and "reason" in err
    assert yueban(database_url, "admin", "providers", "suspend", str(rain), "--reason", "no-shows")[0] == 0
    shown = json.loads(yueban(database_url, "admin", "providers", "show", str(rain), "--json")[1])
    assert (shown["profile"]["status"], shown["profile"]["suspended_reason"]) == ("suspended", "no-shows")
    assert yueban(database_url, "admin", "providers", "reinstate", str(rain))[0] == 0
    code, _, err = yueban(database_url, "admin", "providers", "reinstate", str(rain))
    assert code == 1 and "not suspended" in err
    code, _, err = yueban(database_url, "admin", "providers", "show", "99999")
    assert code == 1 and "99999" in err


def test_halls_are_added_and_listed(database_url: str) -> None:
    async def manager() -> int:
        runtime = bootstrap(Settings(_env_file=None, mode="demo", database_url=database_url))  # type: ignore[call-arg]
        try:
            return await register(runtime, "3001", name="Boss")
        finally:
            await runtime.close()

    boss = asyncio.run(manager())
    code, out, _ = yueban(database_url, "admin", "catalog", "venues")
    assert code == 0 and "No venues" in out
    code, _, err = yueban(database_url, "admin", "catalog", "venue-add", "星牌台球", "--manager", str(boss), "--share", "20000")
    assert code == 1 and "10000" in err
    assert yueban(database_url, "admin", "catalog", "venue-add", "星牌台球", "--manager", str(boss), "--share", "1500")[0] == 0
    venues = json.loads(yueban(database_url, "admin", "catalog", "venues", "--json")[1])
    assert [(v["name"], v["manager_user_id"], v["share_bps"]) for v in venues] == [("星牌台球", boss, 1500)]


@pytest.mark.parametrize("listing", [("categories", "list"), ("providers", "pending"), ("catalog", "venues")])
def test_every_listing_speaks_json(database_url: str, listing: tuple[str, str]) -> None:
    code, out, _ = yueban(database_url, "admin", *listing, "--json")
    assert code == 0 and json.loads(out) == []
