"""`yueban admin catalog`: load the default catalog, and manage billiard halls (venues)."""

from __future__ import annotations

import typer
from rich.table import Table

from admin_cli.runtime import cli_key, console, print_json, run, runtime_of
from bots.i18n import gettext
from core.catalog.commands import AddVenue, EditVenue, ListVenues, SeedCatalog
from core.catalog.handlers import SeedResult
from core.catalog.model import Venue

app = typer.Typer(help="Catalog: seed the default categories, manage venues.", no_args_is_help=True)


@app.command("seed")
def seed(ctx: typer.Context) -> None:
    """Add every default category that is missing (running it again changes nothing)."""
    result: SeedResult = run(ctx, SeedCatalog(idempotency_key=cli_key()))
    typer.echo(
        gettext(
            "cli.catalog.seeded", runtime_of(ctx).locale, created=len(result.created), existing=result.existing
        )
    )


@app.command("venues")
def venues(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List the halls, their managers and shares."""
    found: list[Venue] = run(ctx, ListVenues())
    if as_json:
        print_json(found)
        return
    if not found:
        typer.echo(gettext("cli.catalog.no_venues", runtime_of(ctx).locale))
        return
    table = Table(title=f"venues ({len(found)})")
    for column in ("id", "name", "manager", "share", "address", "active"):
        table.add_column(column, justify="right" if column in ("id", "manager", "share") else "left")
    for venue in found:
        table.add_row(
            str(venue.id), venue.name, str(venue.manager_user_id), f"{venue.share_bps / 100:.2f}%",
            venue.address or "—", "yes" if venue.active else "[red]no[/red]",
        )
    console.print(table)


@app.command("venue-add")
def venue_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The hall's name."),
    manager: int = typer.Option(..., help="User id of the hall's manager."),
    share: int = typer.Option(..., help="The hall's share of each lesson, in basis points."),
    address: str = typer.Option("", help="Street address."),
) -> None:
    """Add a hall; its manager gets the venue_manager role."""
    venue: Venue = run(
        ctx, AddVenue(name=name, manager_user_id=manager, share_bps=share, address=address, idempotency_key=cli_key())
    )
    typer.echo(gettext("cli.catalog.venue_added", runtime_of(ctx).locale, id=venue.id, name=venue.name))


@app.command("venue-edit")
def venue_edit(
    ctx: typer.Context,
    venue_id: int = typer.Argument(..., help="The hall's id."),
    name: str | None = typer.Option(None, help="New name."),
    manager: int | None = typer.Option(None, help="User id of the new manager."),
    share: int | None = typer.Option(None, help="New share, in basis points."),
    address: str | None = typer.Option(None, help="New address."),
    active: bool | None = typer.Option(None, "--active/--closed", help="Open or close the hall."),
) -> None:
    """Change a hall."""
    venue: Venue = run(
        ctx,
        EditVenue(
            venue_id=venue_id, name=name, manager_user_id=manager, share_bps=share, address=address,
            active=active, idempotency_key=cli_key(),
        ),
    )
    typer.echo(gettext("cli.catalog.venue_edited", runtime_of(ctx).locale, id=venue.id, name=venue.name))
