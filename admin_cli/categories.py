"""`yueban admin categories`: list the category tree, add a category, edit one.

Categories are named by slug or id on the command line; every change goes through the bus
as the console operator, so it is checked and audited like any other decision.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from admin_cli.runtime import cli_key, console, err_console, print_json, run, runtime_of
from bots.i18n import gettext
from core.catalog.commands import AddCategory, EditCategory, ListCategories
from core.catalog.model import Category

app = typer.Typer(help="Categories: list, add, edit.", no_args_is_help=True)


def category_json(category: Category) -> dict[str, Any]:
    return {
        "id": category.id,
        "slug": category.slug,
        "parent_id": category.parent_id,
        "kind": category.kind.value,
        "pricing_unit": category.pricing_unit.value,
        "min_units": category.min_units,
        "commission_bps": category.commission_bps,
        "name_zh": category.name_zh,
        "name_en": category.name_en,
        "active": category.active,
        "sort_order": category.sort_order,
    }


def resolve(ctx: typer.Context, ref: str) -> Category:
    """A category by slug or id, or a localized "not found" and exit code 1."""
    for category in run(ctx, ListCategories()):
        if category.slug == ref or str(category.id) == ref:
            return category
    err_console.print(f"[red]{gettext('error.category.not_found', runtime_of(ctx).locale, category=ref)}[/red]")
    raise typer.Exit(code=1)


def _table(categories: list[Category]) -> Table:
    by_id = {c.id: c for c in categories}
    table = Table(title=f"categories ({len(categories)})")
    for column in ("id", "slug", "parent", "kind", "pricing", "min", "commission", "zh", "en", "active"):
        table.add_column(column, justify="right" if column in ("id", "min", "commission") else "left")
    for category in categories:
        parent = by_id.get(category.parent_id) if category.parent_id else None
        table.add_row(
            str(category.id),
            ("  " if category.parent_id else "") + category.slug,
            parent.slug if parent else "—",
            category.kind.value,
            category.pricing_unit.value,
            str(category.min_units),
            f"{category.commission_bps / 100:.2f}%",
            category.name_zh,
            category.name_en,
            "yes" if category.active else "[red]no[/red]",
        )
    return table


@app.command("list")
def list_categories(
    ctx: typer.Context,
    active_only: bool = typer.Option(False, "--active-only", help="Hide inactive categories."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """The category tree, parents before their children."""
    categories: list[Category] = run(ctx, ListCategories(include_inactive=not active_only))
    if as_json:
        print_json([category_json(c) for c in categories])
        return
    if not categories:
        typer.echo(gettext("cli.categories.none", runtime_of(ctx).locale))
        return
    console.print(_table(categories))


@app.command("add")
def add(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help="Stable name: lower-case letters, digits, hyphens."),
    name_zh: str = typer.Option(..., "--zh", help="Chinese name."),
    name_en: str = typer.Option(..., "--en", help="English name."),
    kind: str = typer.Option(..., help="online_session, on_site, errand or venue_lesson."),
    pricing: str = typer.Option(..., help="hour, round, session or base_per_km."),
    parent: str | None = typer.Option(None, help="Parent category (slug or id)."),
    min_units: int = typer.Option(1, help="Fewest units one order may book."),
    commission: int = typer.Option(2000, help="Platform commission in basis points (0..10000)."),
    sort_order: int = typer.Option(0, help="Position among its siblings."),
) -> None:
    """Add a category."""
    parent_id = resolve(ctx, parent).id if parent is not None else None
    category: Category = run(
        ctx,
        AddCategory(
            slug=slug, name_zh=name_zh, name_en=name_en, kind=kind,  # type: ignore[arg-type]
            pricing_unit=pricing,  # type: ignore[arg-type]
            parent_id=parent_id, min_units=min_units, commission_bps=commission,
            sort_order=sort_order, idempotency_key=cli_key(),
        ),
    )
    typer.echo(gettext("cli.categories.added", runtime_of(ctx).locale, slug=category.slug, id=category.id))


@app.command("edit")
def edit(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="The category (slug or id)."),
    name_zh: str | None = typer.Option(None, "--zh", help="New Chinese name."),
    name_en: str | None = typer.Option(None, "--en", help="New English name."),
    pricing: str | None = typer.Option(None, help="hour, round, session or base_per_km."),
    min_units: int | None = typer.Option(None, help="Fewest units one order may book."),
    commission: int | None = typer.Option(None, help="Commission in basis points (0..10000)."),
    active: bool | None = typer.Option(None, "--active/--inactive", help="Open or close for new offers."),
    sort_order: int | None = typer.Option(None, help="Position among its siblings."),
) -> None:
    """Change a category's names, pricing, minimum, commission or whether it is open."""
    category = resolve(ctx, ref)
    edited: Category = run(
        ctx,
        EditCategory(
            category_id=category.id, name_zh=name_zh, name_en=name_en,
            pricing_unit=pricing,  # type: ignore[arg-type]
            min_units=min_units, commission_bps=commission, active=active, sort_order=sort_order,
            idempotency_key=cli_key(),
        ),
    )
    typer.echo(gettext("cli.categories.edited", runtime_of(ctx).locale, slug=edited.slug, id=edited.id))
