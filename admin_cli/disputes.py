"""`yueban admin disputes`: list open (or all) disputes, show one with its order history, and
resolve it: release to the provider, refund in full, or refund part (a percentage or an
amount). The money moves in the same transaction as the decision."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from admin_cli.orders import detail_table, find, history_json, money, order_json, when
from admin_cli.runtime import cli_key, console, print_json, run, runtime_of
from bots.i18n import gettext
from core.booking.commands import ListOrders, ResolveDispute
from core.booking.model import Order
from core.booking.states import OrderState
from core.shared.money import Money

app = typer.Typer(help="Disputes: list, show, resolve.", no_args_is_help=True)


def dispute_row(order: Order) -> dict[str, Any]:
    data = order_json(order)
    return {"order": data["number"], "order_id": order.id, "state": data["state"],
            "held_total": data["price"]["total"], "currency": data["price"]["currency"],
            **(data["dispute"] or {})}


@app.command("list")
def list_disputes(
    ctx: typer.Context,
    show_all: bool = typer.Option(False, "--all", help="Resolved disputes too."),
    limit: int = typer.Option(50, help="At most this many (1..500), newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Open disputes (oldest answer deadline first is not guaranteed; newest orders first)."""
    state = None if show_all else OrderState.DISPUTED
    orders: list[Order] = run(ctx, ListOrders(disputed=True, state=state, limit=limit))
    if as_json:
        print_json([dispute_row(o) for o in orders])
        return
    if not orders:
        typer.echo(gettext("cli.disputes.none", runtime_of(ctx).locale))
        return
    table = Table(title=f"disputes ({len(orders)})")
    for column in ("order", "opened by", "reason", "answered", "respond by", "outcome", "total"):
        table.add_column(column)
    for order in orders:
        d = order.dispute
        assert d is not None
        table.add_row(order.number, f"{d.opener.value} {d.opened_by}", d.reason,
                      d.response or "—", when(d.respond_by) if d.response is None else "—",
                      d.outcome.value if d.outcome else "open", money(order.price.total))
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    order: str = typer.Argument(..., help="Order id or number (YB…)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """A dispute with its order and the order's full history."""
    details = find(ctx, order)
    if details.order.dispute is None:
        typer.echo(gettext("cli.disputes.no_dispute", runtime_of(ctx).locale,
                           number=details.order.number), err=True)
        raise typer.Exit(1)
    if as_json:
        print_json({"dispute": dispute_row(details.order),
                    "order": order_json(details.order),
                    "history": history_json(details.history)})
        return
    console.print(detail_table(details.order, details.history))


@app.command("resolve")
def resolve(
    ctx: typer.Context,
    order: str = typer.Argument(..., help="Order id or number (YB…)."),
    outcome: str = typer.Option(..., "--outcome", help="release, refund or partial."),
    percent: float | None = typer.Option(None, "--percent",
                                         help="Partial: the share refunded, e.g. 25 or 12.5."),
    amount: str | None = typer.Option(None, "--amount",
                                      help="Partial: the amount refunded, e.g. 30.00."),
    note: str | None = typer.Option(None, "--note", help="Why (both sides are told)."),
) -> None:
    """Decide a dispute: the money moves as decided, at once."""
    found = find(ctx, order).order
    refund_bps = None
    refund_amount = None
    if percent is not None:
        bps = round(percent * 100)
        if abs(bps - percent * 100) > 1e-6:
            raise typer.BadParameter("at most two decimals", param_hint="--percent")
        refund_bps = int(bps)
    if amount is not None:
        refund_amount = run_parse(ctx, amount, found.price.currency)
    done: Order = run(ctx, ResolveDispute(order_id=found.id, outcome=outcome,
                                          refund_bps=refund_bps, refund_amount=refund_amount,
                                          note=note, idempotency_key=cli_key()))
    assert done.dispute is not None
    typer.echo(gettext("cli.disputes.resolved", runtime_of(ctx).locale, number=done.number,
                       outcome=outcome, refund=money(done.dispute.refund)))


def run_parse(ctx: typer.Context, text: str, currency: str) -> Money:
    from bots.i18n import render_error
    from core.shared.errors import DomainError

    try:
        return Money.parse(text, currency)
    except DomainError as error:
        typer.echo(render_error(error, runtime_of(ctx).locale), err=True)
        raise typer.Exit(1) from error
