"""`yueban admin orders|disputes …` through the real CLI, on SQLite and PostgreSQL, against
orders made with the real identity, catalog and wallet."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from app.bootstrap import bootstrap
from app.cli import app
from app.settings import Settings
from core.booking import commands as c
from core.shared.clock import FixedClock
from tests.integration.booking.test_with_real_areas import (
    NEXT_MONDAY_10_SHANGHAI,
    provider_and_customer,
)
from tests.integration.catalog.support import application, register

runner = CliRunner()


def yueban(database: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, list(args),
        env={"YUEBAN_DATABASE_URL": database, "YUEBAN_MODE": "demo", "COLUMNS": "200"},
    )
    return result.exit_code, result.stdout, result.stderr


async def _world(database: str) -> dict[str, int | str]:
    runtime = bootstrap(Settings(_env_file=None, mode="demo", database_url=database),  # type: ignore[call-arg]
                        clock=FixedClock())
    try:
        provider, customer, offer_id, category_id = await provider_and_customer(runtime)
        other = await register(runtime, "902", name="Bo")
        from core.catalog.commands import ApproveApplication, ListCategories

        lol = next(cat for cat in await runtime.bus.handle(ListCategories())
                   if cat.id == category_id)
        submitted = await runtime.bus.handle(application(other, lol, price=5000))
        await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
        booked = await runtime.bus.handle(c.BookOrder(
            actor_id=customer, offer_id=offer_id, units=1, start=NEXT_MONDAY_10_SHANGHAI))
        await runtime.bus.handle(c.PayOrder(actor_id=customer, order_id=booked.id,
                                            method="sandbox", payment_ref="cli-1"))
        disputed = await runtime.bus.handle(c.BookOrder(actor_id=customer, offer_id=offer_id,
                                                        units=2, start=None))
        await runtime.bus.handle(c.PayOrder(actor_id=customer, order_id=disputed.id,
                                            method="sandbox", payment_ref="cli-2"))
        await runtime.bus.handle(c.AcceptOrder(actor_id=provider, order_id=disputed.id))
        await runtime.bus.handle(c.FinishOrder(actor_id=provider, order_id=disputed.id))
        await runtime.bus.handle(c.OpenDispute(actor_id=customer, order_id=disputed.id,
                                               reason="stopped after ten minutes"))
        return {"booked": booked.number, "booked_id": booked.id, "disputed": disputed.number,
                "other": other, "category": category_id}
    finally:
        await runtime.close()


def test_operators_list_show_reassign_and_cancel_orders(database_url: str) -> None:
    world = asyncio.run(_world(database_url))
    code, out, err = yueban(database_url, "admin", "orders", "list", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert {o["number"] for o in listed} == {world["booked"], world["disputed"]}
    code, out, _ = yueban(database_url, "admin", "orders", "list", "--state", "pending_acceptance")
    assert code == 0 and str(world["booked"]) in out and str(world["disputed"]) not in out
    code, _, _ = yueban(database_url, "admin", "orders", "list", "--state", "nonsense")
    assert code == 2

    code, out, _ = yueban(database_url, "admin", "orders", "show", str(world["booked"]), "--json")
    shown = json.loads(out)
    assert shown["order"]["price"]["total"] == 6000
    assert [h["action"] for h in shown["history"]] == ["submit", "pay"]
    code, out, _ = yueban(database_url, "admin", "orders", "show", str(world["booked_id"]))
    assert code == 0 and "pending_acceptance" in out

    code, out, err = yueban(database_url, "admin", "orders", "reassign", str(world["booked"]),
                            str(world["other"]), "--reason", "first provider ill")
    assert code == 0, err
    assert json.loads(yueban(database_url, "admin", "orders", "show", str(world["booked"]),
                             "--json")[1])["order"]["provider_id"] == world["other"]

    code, _, err = yueban(database_url, "admin", "orders", "cancel", str(world["booked"]),
                          "--reason", "x", "--fee-bps", "20000")
    assert code == 1 and "10000" in err
    code, out, err = yueban(database_url, "admin", "orders", "cancel", str(world["booked"]),
                            "--reason", "duplicate booking")
    assert code == 0, err
    assert "60.00 CNY" in out
    code, _, err = yueban(database_url, "admin", "orders", "cancel", str(world["booked"]),
                          "--reason", "again")
    assert code == 1 and "cancelled" in err.lower()
    code, _, err = yueban(database_url, "admin", "orders", "show", "YB99999")
    assert code == 1 and "YB99999" in err


def test_operators_list_show_and_resolve_disputes(database_url: str) -> None:
    world = asyncio.run(_world(database_url))
    code, out, _ = yueban(database_url, "admin", "disputes", "list", "--json")
    [row] = json.loads(out)
    assert row["order"] == world["disputed"] and row["reason"] == "stopped after ten minutes"
    code, out, _ = yueban(database_url, "admin", "disputes", "show", str(world["disputed"]))
    assert code == 0 and "stopped after ten minutes" in out
    code, _, err = yueban(database_url, "admin", "disputes", "show", str(world["booked"]))
    assert code == 1
    code, _, err = yueban(database_url, "admin", "disputes", "resolve", str(world["disputed"]),
                          "--outcome", "partial", "--amount", "500.00")
    assert code == 1, "more than was held"
    code, out, err = yueban(database_url, "admin", "disputes", "resolve", str(world["disputed"]),
                            "--outcome", "partial", "--percent", "25", "--note", "ten minutes")
    assert code == 0, err
    assert "30.00 CNY" in out
    code, out, _ = yueban(database_url, "admin", "disputes", "list")
    assert code == 0 and "No disputes" in out
    code, out, _ = yueban(database_url, "admin", "disputes", "list", "--all", "--json")
    assert json.loads(out)[0]["outcome"] == "partial"


def test_operators_read_and_override_a_category_policy(database_url: str) -> None:
    world = asyncio.run(_world(database_url))
    category = str(world["category"])
    code, out, _ = yueban(database_url, "admin", "orders", "policy", category, "--json")
    assert code == 0 and json.loads(out)["accept_window"] == 10
    code, out, err = yueban(database_url, "admin", "orders", "policy", category, "--set",
                            '{"accept_window": 25, "max_reschedules": 1}', "--json")
    assert code == 0, err
    assert (json.loads(out)["accept_window"], json.loads(out)["max_reschedules"]) == (25, 1)
    code, _, err = yueban(database_url, "admin", "orders", "policy", category, "--set",
                          '{"max_reschedule": 1}')
    assert code == 1 and "max_reschedule" in err
    code, _, _ = yueban(database_url, "admin", "orders", "policy", category, "--set", "[1]")
    assert code == 2
