"""`yueban admin ledger`: reconcile the ledger, look at balances and statements, settle.

`verify` recomputes every account from the transfers, checks each currency sums to zero and
the stored totals match, prints what it checked and exits 1 on any discrepancy (so it can
run from cron or CI). Amounts are shown in major units with their currency; `--json` gives
minor units as well.
"""

from __future__ import annotations

import typer
from rich.table import Table

from admin_cli.runtime import cli_key, console, err_console, print_json, run, runtime_of
from bots.i18n import gettext
from core.shared.money import Money
from core.wallet.commands import (
    GetStatement,
    ListBalances,
    ProcessRefunds,
    SettleMatured,
    VerifyLedger,
)
from core.wallet.verify import LedgerReport
from core.wallet.views import AccountBalance, RefundReport, SettlementReport, Statement

app = typer.Typer(help="The ledger: verify, balances, statement, settle.", no_args_is_help=True)


def _minor(value: int, currency: str) -> str:
    return Money(value, currency).format()


@app.command("verify")
def verify(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Recompute every account from the transfers; exit 1 on any discrepancy."""
    report: LedgerReport = run(ctx, VerifyLedger())
    locale = runtime_of(ctx).locale
    if as_json:
        print_json({**print_ready(report), "ok": report.ok})
    else:
        console.print(gettext("cli.ledger.checked", locale, accounts=report.accounts_checked,
                              transfers=report.transfers_checked,
                              currencies=len(report.currencies), holds=report.holds_open))
        table = Table(title="per currency")
        for column in ("currency", "accounts", "transfers", "debits posted", "credits posted",
                       "debits pending", "credits pending", "sums to zero"):
            table.add_column(column, justify="left" if column == "currency" else "right")
        for totals in report.currencies:
            cur = totals.currency
            table.add_row(cur, str(totals.accounts), str(totals.transfers),
                          _minor(totals.debits_posted, cur), _minor(totals.credits_posted, cur),
                          _minor(totals.debits_pending, cur), _minor(totals.credits_pending, cur),
                          "yes" if totals.balanced else "NO")
        console.print(table)
        if report.ok:
            console.print(f"[green]{gettext('cli.ledger.ok', locale)}[/green]")
        else:
            for discrepancy in report.discrepancies:
                err_console.print(f"[red]{discrepancy}[/red]")
            err_console.print(gettext("cli.ledger.discrepancies", locale,
                                      count=len(report.discrepancies)))
    if not report.ok:
        raise typer.Exit(code=1)


def print_ready(report: LedgerReport) -> dict[str, object]:
    return {
        "accounts_checked": report.accounts_checked,
        "transfers_checked": report.transfers_checked,
        "holds_open": report.holds_open,
        "currencies": [
            {"currency": t.currency, "accounts": t.accounts, "transfers": t.transfers,
             "debits_posted": t.debits_posted, "credits_posted": t.credits_posted,
             "debits_pending": t.debits_pending, "credits_pending": t.credits_pending,
             "balanced": t.balanced}
            for t in report.currencies
        ],
        "discrepancies": [
            {"code": d.code, "subject": d.subject, "detail": d.detail} for d in report.discrepancies
        ],
    }


@app.command("balances")
def balances(
    ctx: typer.Context,
    kind: str | None = typer.Option(None, help="customer_wallet, provider_pending, "
                                    "provider_available, order_escrow, platform_fees, "
                                    "venue_share, gateway_clearing, payouts_clearing, marketing"),
    currency: str | None = typer.Option(None, help="CNY, USD or XTR"),
    include_zero: bool = typer.Option(False, "--all", help="Also accounts that never moved."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every account's balance (credits minus debits) and its holds in and out."""
    rows: list[AccountBalance] = run(ctx, ListBalances(
        kind=kind, currency=currency.upper() if currency else None, include_zero=include_zero))
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"balances ({len(rows)})")
    for column in ("account", "kind", "owner", "balance", "held in", "held out"):
        table.add_column(column, justify="right" if column in ("balance", "held in", "held out") else "left")
    for row in rows:
        owner = row.qualifier or (str(row.owner_id) if row.owner_id else "platform")
        table.add_row(str(row.account_id), row.kind, owner, row.balance.format(),
                      row.pending_in.format(), row.pending_out.format())
    console.print(table)


@app.command("statement")
def statement(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., metavar="USER", help="The user's id."),
    currency: str | None = typer.Option(None, help="Only this currency."),
    limit: int = typer.Option(50, min=1, max=500, help="Most history lines."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One user's wallet and earnings: balances, holds, and history with order references."""
    result: Statement = run(ctx, GetStatement(
        user_id=user_id, currency=currency.upper() if currency else None, limit=limit))
    if as_json:
        print_json(result)
        return
    if not result.balances:
        console.print(gettext("cli.ledger.no_money", runtime_of(ctx).locale, user_id=user_id))
        return
    table = Table(title=f"user {user_id}")
    for column in ("currency", "wallet", "held", "available", "earnings settling",
                   "withdrawable", "withdrawing"):
        table.add_column(column, justify="left" if column == "currency" else "right")
    for b in result.balances:
        table.add_row(b.currency, b.wallet.format(), b.wallet_held.format(),
                      b.wallet_available.format(), b.earnings_pending.format(),
                      b.earnings_available.format(), b.withdrawing.format())
    console.print(table)
    history = Table(title=f"history ({len(result.lines)})")
    for column in ("when", "account", "amount", "kind", "reason", "order"):
        history.add_column(column, justify="right" if column == "amount" else "left")
    for line in result.lines:
        history.add_row(line.at.strftime("%Y-%m-%d %H:%M UTC"), line.account, line.amount.format(),
                        line.kind, line.reason, str(line.order_id) if line.order_id else "—")
    console.print(history)


@app.command("settle")
def settle(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Make earnings older than the settlement period withdrawable now (the sweeper does this)."""
    report: SettlementReport = run(ctx, SettleMatured(idempotency_key=cli_key()))
    if as_json:
        print_json(report)
        return
    amounts = ", ".join(m.format() for m in report.amounts) or "0"
    console.print(gettext("cli.ledger.settled", runtime_of(ctx).locale,
                          earnings=report.earnings_settled, providers=report.providers,
                          amounts=amounts))


@app.command("retry-refunds")
def retry_refunds(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Ask the gateways again about refunds they could not be reached for."""
    report: RefundReport = run(ctx, ProcessRefunds(idempotency_key=cli_key()))
    if as_json:
        print_json(report)
        return
    console.print(gettext("cli.ledger.refunds", runtime_of(ctx).locale, processed=report.processed,
                          succeeded=report.succeeded, failed=report.failed))
