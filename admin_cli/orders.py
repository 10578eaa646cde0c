"""`yueban admin orders`: list, show, cancel and reassign orders; see and set category policies.

An order is named by its id or its human number (`YB0001A`). Every change goes through the
bus as the console operator and is audited with its reason; both sides are told in chat.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import typer
from rich.table import Table

from admin_cli.runtime import cli_key, console, print_json, run, runtime_of
from bots.i18n import gettext
from core.booking.commands import (
    GetCategoryPolicy,
    GetOrder,
    ListOrders,
    OperatorCancelOrder,
    ReassignOrder,
    SetCategoryPolicy,
)
from core.booking.model import Order
from core.booking.policy import BookingPolicy
from core.booking.states import OrderState
from core.shared.audit import AuditEntry

app = typer.Typer(help="Orders: list, show, cancel, reassign; booking policies per category.",
                  no_args_is_help=True)


def when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def money(value: Any) -> str:
    return value.format() if value is not None else "—"


def find(ctx: typer.Context, ref: str) -> Any:
    """The order (and its history) named by an id or a number."""
    ref = ref.strip()
    query = GetOrder(order_id=int(ref)) if ref.isdigit() else GetOrder(number=ref)
    return run(ctx, query)


def order_json(order: Order) -> dict[str, Any]:
    price = order.price
    data: dict[str, Any] = {
        "id": order.id, "number": order.number, "state": order.state.value,
        "dispatch": order.dispatch.value, "instant": order.instant,
        "customer_id": order.customer_id, "provider_id": order.provider_id,
        "offer_id": order.offer_id, "category_id": order.category_id, "kind": order.kind,
        "price": {"currency": price.currency, "unit_price": price.unit_price.amount,
                  "units": price.units, "subtotal": price.subtotal.amount,
                  "discount": price.discount.amount, "bonus": price.bonus.amount,
                  "deposit": price.deposit.amount, "total": price.total.amount},
        "scheduled_start": order.scheduled_start, "scheduled_end": order.scheduled_end,
        "address": order.address,
        "place": {"lat": order.place.lat, "lon": order.place.lon} if order.place else None,
        "notes": order.notes, "tags": list(order.tags), "tier_min": order.tier_min,
        "commission_bps": order.commission_bps, "venue_id": order.venue_id,
        "venue_share_bps": order.venue_share_bps,
        "cancelled_by": order.cancelled_by.value if order.cancelled_by else None,
        "close_reason": order.close_reason,
        "fee": order.fee.amount if order.fee is not None else None,
        "refund": order.refund.amount if order.refund is not None else None,
        "reschedule_count": order.reschedule_count, "wave": order.wave,
        "due_at": order.due_at,
    }
    for name in ("created_at", "paid_at", "accepted_at", "started_at", "delivered_at",
                 "completed_at", "closed_at", "settled_at", *Order.TIMERS):
        data[name] = getattr(order, name)
    dispute = order.dispute
    data["dispute"] = None if dispute is None else {
        "id": dispute.id, "opened_by": dispute.opened_by, "opener": dispute.opener.value,
        "reason": dispute.reason, "opened_at": dispute.opened_at,
        "respond_by": dispute.respond_by, "response": dispute.response,
        "responded_at": dispute.responded_at,
        "outcome": dispute.outcome.value if dispute.outcome else None,
        "refund": dispute.refund.amount if dispute.refund is not None else None,
        "resolved_at": dispute.resolved_at, "resolved_by": dispute.resolved_by,
        "by_default": dispute.by_default, "note": dispute.note,
    }
    return data


def history_json(history: list[AuditEntry]) -> list[dict[str, Any]]:
    return [{"action": h.action, "actor_id": h.actor_id, "at": h.at, "from": h.from_state,
             "to": h.to_state, "reason": h.reason, "data": h.data} for h in history]


def orders_table(title: str, orders: list[Order]) -> Table:
    table = Table(title=title)
    for column in ("number", "state", "customer", "provider", "total", "start", "due"):
        table.add_column(column, justify="right" if column in ("customer", "provider", "total") else "left")
    for order in orders:
        table.add_row(order.number, order.state.value, str(order.customer_id),
                      str(order.provider_id or "—"), money(order.price.total),
                      when(order.scheduled_start) if not order.instant else "now",
                      when(order.due_at))
    return table


def detail_table(order: Order, history: list[AuditEntry]) -> Table:
    table = Table(title=f"order {order.number} ({order.id})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    price = order.price
    rows = [
        ("state", order.state.value),
        ("dispatch", f"{order.dispatch.value}{' (instant)' if order.instant else ''}"),
        ("customer", str(order.customer_id)),
        ("provider", str(order.provider_id or "—")),
        ("price", f"{price.unit_price.format()} × {price.units} − {price.discount.format()}"
                  f" + {price.bonus.format()} = {price.total.format()}"),
        ("held at payment", price.deposit.format()),
        ("time", f"{when(order.scheduled_start)} → {when(order.scheduled_end)}"),
        ("address", order.address or "—"),
        ("commission", f"{order.commission_bps} bps" if order.commission_bps is not None else "—"),
        ("closed", f"{when(order.closed_at)} {order.close_reason or ''}".strip()),
        ("fee / refund", f"{money(order.fee)} / {money(order.refund)}"),
        ("next timer", when(order.due_at)),
    ]
    if order.dispute is not None:
        d = order.dispute
        rows.append(("dispute", f"#{d.id} by {d.opener.value}: {d.reason}"
                                f" — {d.outcome.value if d.outcome else 'open'}"))
    rows.append(("history", "\n".join(
        f"{when(h.at)} {h.action}: {h.from_state}→{h.to_state}"
        f" by {h.actor_id if h.actor_id is not None else 'system'}"
        f"{' — ' + h.reason if h.reason else ''}" for h in history)))
    for name, value in rows:
        table.add_row(name, value)
    return table


@app.command("list")
def list_orders(
    ctx: typer.Context,
    state: str | None = typer.Option(None, help="Only orders in this state."),
    customer: int | None = typer.Option(None, help="Only this customer's orders."),
    provider: int | None = typer.Option(None, help="Only this provider's orders."),
    limit: int = typer.Option(50, help="At most this many (1..500), newest first."),
    offset: int = typer.Option(0, help="Skip this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Orders, newest first."""
    wanted = None
    if state is not None:
        try:
            wanted = OrderState(state)
        except ValueError as error:
            raise typer.BadParameter(", ".join(s.value for s in OrderState),
                                     param_hint="--state") from error
    orders: list[Order] = run(ctx, ListOrders(state=wanted, customer_id=customer,
                                              provider_id=provider, limit=limit, offset=offset))
    if as_json:
        print_json([order_json(o) for o in orders])
        return
    if not orders:
        typer.echo(gettext("cli.orders.none", runtime_of(ctx).locale))
        return
    console.print(orders_table(f"orders ({len(orders)})", orders))


@app.command("show")
def show(
    ctx: typer.Context,
    order: str = typer.Argument(..., help="Order id or number (YB…)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """One order: price, times, money outcome, dispute and its full audited history."""
    details = find(ctx, order)
    if as_json:
        print_json({"order": order_json(details.order), "history": history_json(details.history)})
        return
    console.print(detail_table(details.order, details.history))


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    order: str = typer.Argument(..., help="Order id or number (YB…)."),
    reason: str = typer.Option(..., "--reason", help="Why (both sides are told)."),
    fee_bps: int = typer.Option(0, "--fee-bps", help="Share of the held money kept as a fee "
                                                   "(0..10000 basis points); the rest is refunded."),
) -> None:
    """Cancel an order as the platform (refunds the customer, less any fee)."""
    found = find(ctx, order).order
    done: Order = run(ctx, OperatorCancelOrder(order_id=found.id, reason=reason, fee_bps=fee_bps,
                                               idempotency_key=cli_key()))
    typer.echo(gettext("cli.orders.cancelled", runtime_of(ctx).locale, number=done.number,
                       refund=money(done.refund), fee=money(done.fee)))


@app.command("reassign")
def reassign(
    ctx: typer.Context,
    order: str = typer.Argument(..., help="Order id or number (YB…)."),
    provider: int = typer.Argument(..., help="The new provider's (user) id."),
    reason: str = typer.Option("", "--reason", help="Why (audited)."),
) -> None:
    """Hand an order to another provider, who must accept it before the deadline."""
    found = find(ctx, order).order
    done: Order = run(ctx, ReassignOrder(order_id=found.id, provider_id=provider, reason=reason,
                                         idempotency_key=cli_key()))
    typer.echo(gettext("cli.orders.reassigned", runtime_of(ctx).locale, number=done.number,
                       provider=provider, deadline=when(done.accept_deadline)))


def policy_json(policy: BookingPolicy) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in dataclasses.fields(policy):
        value = getattr(policy, field.name)
        if isinstance(value, timedelta):
            value = int(value.total_seconds() // 60)
        elif field.name == "fee_tiers":
            value = [[int(t.min_notice.total_seconds() // 3600), t.fee_bps] for t in value]
        elif hasattr(value, "value"):
            value = value.value
        data[field.name] = value
    return data


@app.command("policy")
def policy(
    ctx: typer.Context,
    category: int = typer.Argument(..., help="Category id."),
    overrides: str | None = typer.Option(
        None, "--set", help='JSON object of fields to override, e.g. \'{"accept_window": 30, '
                            '"fee_tiers": [[24, 0], [2, 3000], [0, 10000]]}\' (durations in '
                            'minutes, tiers as [hours, bps]); {} restores the defaults.'),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """A category's booking policy (durations in minutes); --set overrides fields."""
    if overrides is not None:
        try:
            parsed = json.loads(overrides)
        except json.JSONDecodeError as error:
            raise typer.BadParameter(str(error), param_hint="--set") from error
        if not isinstance(parsed, dict):
            raise typer.BadParameter("a JSON object", param_hint="--set")
        result: BookingPolicy = run(ctx, SetCategoryPolicy(category_id=category, overrides=parsed,
                                                           idempotency_key=cli_key()))
    else:
        result = run(ctx, GetCategoryPolicy(category_id=category))
    data = policy_json(result)
    if as_json:
        print_json(data)
        return
    table = Table(title=f"booking policy of category {category}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in data.items():
        table.add_row(name, json.dumps(value))
    console.print(table)
