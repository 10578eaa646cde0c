"""`yueban admin reviews`: what customers wrote about a provider, and the ratings behind ranking."""

from __future__ import annotations

import typer
from rich.table import Table

from admin_cli.runtime import console, print_json, run, runtime_of
from bots.i18n import gettext
from core.reviews.commands import (
    GetCustomerRating,
    GetProviderRating,
    ListProviderReviews,
    ReviewPage,
)
from core.reviews.rating import RatingSummary

app = typer.Typer(help="Reviews: list a provider's reviews, show ratings.", no_args_is_help=True)


def _stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


@app.command("list")
def list_reviews(
    ctx: typer.Context,
    provider_id: int = typer.Argument(..., help="The provider's user id."),
    limit: int = typer.Option(20, help="At most this many (1..100)."),
    offset: int = typer.Option(0, help="Skip this many first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Customers' reviews of a provider, newest first (anonymous ones name nobody)."""
    page: ReviewPage = run(
        ctx, ListProviderReviews(provider_id=provider_id, limit=limit, offset=offset)
    )
    if as_json:
        print_json(page)
        return
    locale = runtime_of(ctx).locale
    if not page.reviews:
        typer.echo(gettext("cli.reviews.none", locale, provider_id=provider_id))
        return
    table = Table(title=f"reviews of provider {provider_id} ({page.total})")
    for column in ("id", "order", "rating", "by", "text", "reply", "written"):
        table.add_column(column)
    for review in page.reviews:
        table.add_row(
            str(review.id),
            str(review.order_id),
            _stars(review.rating),
            review.reviewer_name or gettext("review.anonymous", locale),
            review.text or "—",
            review.reply_text or "—",
            review.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@app.command("rating")
def rating(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., help="The provider's (or, with --customer, customer's) id."),
    customer: bool = typer.Option(False, "--customer", help="How providers rated this customer."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Count, average, Bayesian average and per-dimension averages."""
    command = (
        GetCustomerRating(customer_id=user_id) if customer else GetProviderRating(provider_id=user_id)
    )
    summary: RatingSummary = run(ctx, command)
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"rating of user {user_id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("reviews", str(summary.count))
    table.add_row("average", f"{summary.average:.2f}" if summary.average is not None else "—")
    table.add_row("bayesian", f"{summary.bayesian:.3f}")
    for name, value in summary.dimensions.items():
        table.add_row(name, f"{value:.2f}" if value is not None else "—")
    table.add_row("stars", "  ".join(f"{s}★ {n}" for s, n in summary.distribution.items()))
    console.print(table)
