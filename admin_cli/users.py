"""`yueban admin users`: find people, look at one, ban and unban, grant and revoke roles.

Every change goes through the bus as the console operator (no actor id), so it is audited
and produces the same events a decision from the admin chat would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from rich.table import Table

from admin_cli.runtime import cli_key, console, print_json, run, runtime_of
from bots.i18n import gettext
from core.identity.commands import (
    BanUser,
    GetUser,
    GetUserHistory,
    GrantRole,
    ListUsers,
    RevokeRole,
    UnbanUser,
    UserPage,
    UserView,
)
from core.shared.audit import AuditEntry

app = typer.Typer(help="Users: list, show, history, ban, unban, grant and revoke roles.", no_args_is_help=True)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _status(user: UserView) -> str:
    if user.status == "banned":
        return f"[red]banned[/red] until {_when(user.banned_until)}" if user.banned_until else "[red]banned[/red]"
    return user.status


def _users_table(users: tuple[UserView, ...], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "name", "roles", "status", "strikes", "locale", "phone", "channels", "since"):
        table.add_column(column, justify="right" if column in ("id", "strikes") else "left")
    for user in users:
        table.add_row(
            str(user.id),
            user.display_name,
            ", ".join(user.roles),
            _status(user),
            str(user.strikes),
            user.locale,
            user.phone_masked or "—",
            ", ".join(a.platform for a in user.accounts) or "—",
            user.created_at.strftime("%Y-%m-%d"),
        )
    return table


def _show(user: UserView) -> None:
    table = Table(title=f"user {user.id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("name", user.display_name),
        ("roles", ", ".join(user.roles)),
        ("status", _status(user)),
        ("ban reason", user.ban_reason or "—"),
        ("strikes", str(user.strikes)),
        ("locale", user.locale),
        ("time zone", user.timezone),
        ("phone", user.phone_masked or "—"),
        ("registered", _when(user.created_at)),
    ]
    if user.merged_into is not None:
        rows.append(("merged into", str(user.merged_into)))
    for account in user.accounts:
        rows.append((account.platform, f"{account.external_id} (chat {account.chat_id})"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _parse_until(until: str | None, days: int | None, hours: int | None) -> datetime | None:
    given = [v for v in (until, days, hours) if v is not None]
    if len(given) > 1:
        raise typer.BadParameter("give one of --until, --days or --hours")
    if days is not None or hours is not None:
        amount = timedelta(days=days or 0, hours=hours or 0)
        if amount <= timedelta(0):
            raise typer.BadParameter("the ban must last a positive time")
        return datetime.now(UTC) + amount
    if until is None:
        return None
    try:
        parsed = datetime.fromisoformat(until)
    except ValueError as exc:
        raise typer.BadParameter(f"{until!r} is not a date/time like 2026-02-01T12:00") from exc
    # A time without a zone on the operator's console is read as UTC, which the help says.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@app.command("list")
def list_users(
    ctx: typer.Context,
    role: str | None = typer.Option(None, help="customer, provider, operator or venue_manager."),
    status: str | None = typer.Option(None, help="active, banned or retired (merged)."),
    limit: int = typer.Option(50, help="At most this many (1..200)."),
    offset: int = typer.Option(0, help="Skip this many first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List users, oldest first."""
    page: UserPage = run(
        ctx, ListUsers(role=role, status=status, limit=limit, offset=offset)
    )
    if as_json:
        print_json(page)
        return
    locale = runtime_of(ctx).locale
    if not page.users:
        typer.echo(gettext("cli.users.none", locale))
        return
    shown = f"{page.offset + 1}–{page.offset + len(page.users)} / {page.total}"
    console.print(_users_table(page.users, f"users {shown}"))


@app.command("show")
def show(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., help="The user's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Show one user with their chat accounts (the phone stays masked)."""
    user: UserView = run(ctx, GetUser(user_id=user_id))
    if as_json:
        print_json(user)
        return
    _show(user)
    console.print(_history_table(run(ctx, GetUserHistory(user_id=user_id)), user_id))


def _history_table(entries: list[AuditEntry], user_id: int) -> Table:
    table = Table(title=f"history of user {user_id}")
    for column in ("when", "action", "by", "change", "reason"):
        table.add_column(column)
    for entry in entries:
        change = f"{entry.from_state or ''} → {entry.to_state}" if entry.to_state else ""
        details = ", ".join(f"{k}={v}" for k, v in entry.data.items() if v is not None)
        table.add_row(
            _when(entry.at),
            entry.action + (f" ({details})" if details else ""),
            "console" if entry.actor_id is None else str(entry.actor_id),
            change,
            entry.reason or "",
        )
    return table


@app.command("history")
def history(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., help="The user's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Every audited decision about a user: who, when, from what to what, and why."""
    entries: list[AuditEntry] = run(ctx, GetUserHistory(user_id=user_id))
    if as_json:
        print_json(entries)
    else:
        console.print(_history_table(entries, user_id))


@app.command("ban")
def ban(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., help="The user's id."),
    reason: str = typer.Option(..., "--reason", help="Why (the user is told)."),
    until: str | None = typer.Option(
        None, help="End of the ban, ISO 8601 (no zone = UTC). Permanent when omitted."
    ),
    days: int | None = typer.Option(None, help="Ban for this many days from now."),
    hours: int | None = typer.Option(None, help="Ban for this many hours from now."),
) -> None:
    """Ban a user: they can no longer order, accept or review."""
    ends = _parse_until(until, days, hours)
    user: UserView = run(
        ctx, BanUser(user_id=user_id, reason=reason, until=ends, idempotency_key=cli_key())
    )
    locale = runtime_of(ctx).locale
    if user.banned_until:
        typer.echo(gettext("cli.users.banned_until", locale, user_id=user.id,
                           until=_when(user.banned_until)))
    else:
        typer.echo(gettext("cli.users.banned", locale, user_id=user.id))


@app.command("unban")
def unban(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., help="The user's id."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the audit log)."),
) -> None:
    """Lift a user's ban."""
    user: UserView = run(ctx, UnbanUser(user_id=user_id, reason=reason, idempotency_key=cli_key()))
    typer.echo(gettext("cli.users.unbanned", runtime_of(ctx).locale, user_id=user.id))


@app.command("grant")
def grant(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., help="The user's id."),
    role: str = typer.Argument(..., help="customer, provider, operator or venue_manager."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the audit log)."),
) -> None:
    """Give a user a role."""
    user: UserView = run(
        ctx, GrantRole(user_id=user_id, role=role, reason=reason, idempotency_key=cli_key())
    )
    typer.echo(gettext("cli.users.granted", runtime_of(ctx).locale, user_id=user.id, role=role,
                       roles=", ".join(user.roles)))


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., help="The user's id."),
    role: str = typer.Argument(..., help="customer, provider, operator or venue_manager."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the audit log)."),
) -> None:
    """Take a role away from a user."""
    user: UserView = run(
        ctx, RevokeRole(user_id=user_id, role=role, reason=reason, idempotency_key=cli_key())
    )
    typer.echo(gettext("cli.users.revoked", runtime_of(ctx).locale, user_id=user.id, role=role,
                       roles=", ".join(user.roles) or "—"))
