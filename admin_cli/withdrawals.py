"""`yueban admin withdrawals`: list providers' withdrawal requests, approve (pay out) or reject.

Approving pays out through the withdrawal's payout method (a manual payout needs
`--reference`, the bank transfer it was paid with) and posts the held amount; rejecting
releases it. Each withdrawal is decided exactly once; the provider is told in their chat.
"""

from __future__ import annotations

import typer
from rich.table import Table

from admin_cli.runtime import cli_key, console, print_json, run, runtime_of
from bots.i18n import gettext
from core.wallet.commands import ApproveWithdrawal, ListWithdrawals, RejectWithdrawal
from core.wallet.model import Withdrawal

app = typer.Typer(help="Withdrawals: list, approve, reject.", no_args_is_help=True)


def _when(withdrawal: Withdrawal) -> str:
    return withdrawal.requested_at.strftime("%Y-%m-%d %H:%M UTC")


def _json(withdrawal: Withdrawal) -> dict[str, object]:
    return {
        "id": withdrawal.id, "provider_id": withdrawal.provider_id,
        "amount": withdrawal.amount.amount, "fee": withdrawal.fee.amount,
        "payout": withdrawal.payout.amount, "currency": withdrawal.amount.currency,
        "display": withdrawal.amount.format(), "method": withdrawal.method,
        "status": withdrawal.status.value, "requested_at": withdrawal.requested_at.isoformat(),
        "decided_at": withdrawal.decided_at.isoformat() if withdrawal.decided_at else None,
        "decided_by": withdrawal.decided_by, "reason": withdrawal.reason,
        "payout_ref": withdrawal.payout_ref,
    }


@app.command("list")
def list_(
    ctx: typer.Context,
    status: str | None = typer.Option("requested", help="requested, paid, rejected or all"),
    provider: int | None = typer.Option(None, help="Only this provider's."),
    limit: int = typer.Option(50, min=1, max=500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Withdrawal requests, newest first (waiting ones by default)."""
    rows: list[Withdrawal] = run(ctx, ListWithdrawals(
        status=None if status in (None, "all") else status, provider_id=provider, limit=limit))
    if as_json:
        print_json([_json(w) for w in rows])
        return
    if not rows:
        console.print(gettext("cli.withdrawals.none", runtime_of(ctx).locale))
        return
    table = Table(title=f"withdrawals: {status} ({len(rows)})")
    for column in ("id", "provider", "amount", "fee", "payout", "method", "status", "requested",
                   "reference / reason"):
        table.add_column(column, justify="right" if column in ("amount", "fee", "payout") else "left")
    for w in rows:
        table.add_row(str(w.id), str(w.provider_id), w.amount.format(), w.fee.format(),
                      w.payout.format(), w.method, w.status.value, _when(w),
                      w.payout_ref or w.reason or "")
    console.print(table)


@app.command("approve")
def approve(
    ctx: typer.Context,
    withdrawal_id: int = typer.Argument(..., metavar="ID"),
    reference: str | None = typer.Option(None, help="The payout's reference (manual payouts)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pay a withdrawal out and post the held amount."""
    withdrawal: Withdrawal = run(ctx, ApproveWithdrawal(
        withdrawal_id=withdrawal_id, reference=reference, idempotency_key=cli_key()))
    if as_json:
        print_json(_json(withdrawal))
        return
    console.print(gettext("cli.withdrawals.approved", runtime_of(ctx).locale, id=withdrawal.id,
                          payout=withdrawal.payout.format(), reference=withdrawal.payout_ref or ""))


@app.command("reject")
def reject(
    ctx: typer.Context,
    withdrawal_id: int = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., help="Why; the provider is told."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Reject a withdrawal; the held amount becomes withdrawable again."""
    withdrawal: Withdrawal = run(ctx, RejectWithdrawal(
        withdrawal_id=withdrawal_id, reason=reason, idempotency_key=cli_key()))
    if as_json:
        print_json(_json(withdrawal))
        return
    console.print(gettext("cli.withdrawals.rejected", runtime_of(ctx).locale, id=withdrawal.id,
                          amount=withdrawal.amount.format()))
