"""`yueban admin users …` and `yueban admin reviews …` on a migrated SQLite file."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.bootstrap import bootstrap
from app.cli import app
from app.settings import Settings
from core.booking.events import OrderCompleted
from core.identity.commands import RegisterFromChannel
from core.reviews.commands import SubmitReview

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, sqlite_template: Path) -> str:
    # A copy of the session's migrated SQLite file (the same as `yueban db upgrade` makes).
    shutil.copy(sqlite_template, tmp_path / "cli.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def seed() -> None:
        runtime = bootstrap(Settings(_env_file=None, mode="demo", database_url=url))  # type: ignore[call-arg]
        try:
            for external_id, name in (("1001", "Ann"), ("1002", "Bob")):
                await runtime.bus.handle(
                    RegisterFromChannel(platform="telegram", external_id=external_id,
                                        chat_id=external_id, display_name=name)
                )
            event = OrderCompleted(order_id=7, order_number="YB-7", customer_id=1, provider_id=2,
                                   category_id=1, completed_at=datetime.now(UTC))
            for handler in runtime.bus.event_handlers[OrderCompleted]:
                if handler.__name__ == "open_review_invitations":
                    async with runtime.uow_factory() as uow:
                        await handler(event, uow)
                        await uow.commit()
            await runtime.bus.handle(
                SubmitReview(order_id=7, reviewer_id=1, rating=4, text="solid", anonymous=True)
            )
        finally:
            await runtime.close()

    asyncio.run(seed())
    return url


def admin(database: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, ["admin", *args],
        env={"YUEBAN_DATABASE_URL": database, "YUEBAN_MODE": "demo", "COLUMNS": "200"},
    )
    return result.exit_code, result.stdout, result.stderr


def test_users_are_listed_as_a_table_and_as_json(database: str) -> None:
    code, out, _ = admin(database, "users", "list")
    assert code == 0 and "Ann" in out and "Bob" in out
    code, out, _ = admin(database, "users", "list", "--json")
    page = json.loads(out)
    assert page["total"] == 2
    assert [u["display_name"] for u in page["users"]] == ["Ann", "Bob"]
    assert page["users"][0]["accounts"][0]["platform"] == "telegram"


def test_a_ban_shows_in_the_user_and_the_banned_list_until_lifted(database: str) -> None:
    code, out, _ = admin(database, "users", "ban", "2", "--reason", "fake orders", "--days", "7")
    assert code == 0 and "banned until" in out
    shown = json.loads(admin(database, "users", "show", "2", "--json")[1])
    assert (shown["status"], shown["ban_reason"]) == ("banned", "fake orders")
    banned = json.loads(admin(database, "users", "list", "--status", "banned", "--json")[1])
    assert [u["id"] for u in banned["users"]] == [2]
    code, out, _ = admin(database, "users", "unban", "2", "--reason", "appeal")
    assert code == 0 and "active again" in out
    assert json.loads(admin(database, "users", "show", "2", "--json")[1])["status"] == "active"


def test_roles_are_granted_and_revoked(database: str) -> None:
    code, out, _ = admin(database, "users", "grant", "1", "operator")
    assert code == 0 and "operator" in out
    operators = json.loads(admin(database, "users", "list", "--role", "operator", "--json")[1])
    assert [u["id"] for u in operators["users"]] == [1]
    assert admin(database, "users", "revoke", "1", "operator")[0] == 0
    assert json.loads(admin(database, "users", "list", "--role", "operator", "--json")[1])["total"] == 0


def test_refusals_are_localized_and_exit_non_zero(database: str) -> None:
    code, _, err = admin(database, "users", "grant", "1", "wizard")
    assert code == 1 and "wizard" in err and "not a role" in err
    code, _, err = admin(database, "--lang", "zh", "users", "unban", "1")
    assert code == 1 and "未被封禁" in err
    code, _, err = admin(database, "users", "show", "99")
    assert code == 1 and "no user 99" in err


def test_a_bad_ban_end_is_a_usage_error(database: str) -> None:
    code, _, err = admin(database, "users", "ban", "2", "--reason", "x", "--until", "next week")
    assert code == 2 and "not a date" in err
    assert json.loads(admin(database, "users", "show", "2", "--json")[1])["status"] == "active"


def test_reviews_and_ratings_are_shown(database: str) -> None:
    code, out, _ = admin(database, "reviews", "list", "2")
    assert code == 0 and "solid" in out and "Anonymous" in out and "Ann" not in out
    rating = json.loads(admin(database, "reviews", "rating", "2", "--json")[1])
    assert (rating["count"], rating["average"]) == (1, 4.0)
    reviews = json.loads(admin(database, "reviews", "list", "2", "--json")[1])
    assert reviews["reviews"][0]["reviewer_name"] is None


def test_the_history_says_who_did_what_when_and_why(database: str) -> None:
    admin(database, "users", "ban", "2", "--reason", "fake orders")
    admin(database, "users", "unban", "2", "--reason", "appeal")
    entries = json.loads(admin(database, "users", "history", "2", "--json")[1])
    assert [(e["action"], e["actor_id"], e["reason"]) for e in entries] == [
        ("register", 2, None), ("ban", None, "fake orders"), ("unban", None, "appeal")
    ]
    code, out, _ = admin(database, "users", "show", "2")
    assert code == 0 and "fake orders" in out and "console" in out
