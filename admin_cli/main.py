"""`yueban admin`: one typer sub-app per area, mounted here."""

from __future__ import annotations

import typer

from admin_cli import (
    catalog,
    categories,
    disputes,
    ledger,
    orders,
    providers,
    reviews,
    transcripts,
    users,
    withdrawals,
)

admin_app = typer.Typer(help="Operate the platform: users, providers, catalog, orders, money.",
                        no_args_is_help=True)

# Each area mounts its sub-app here (one line per area), e.g.:
# from admin_cli import users; admin_app.add_typer(users.app, name="users")
admin_app.add_typer(users.app, name="users")
admin_app.add_typer(reviews.app, name="reviews")
admin_app.add_typer(providers.app, name="providers")
admin_app.add_typer(categories.app, name="categories")
admin_app.add_typer(catalog.app, name="catalog")
admin_app.add_typer(orders.app, name="orders")
orders.app.command("transcript")(transcripts.transcript)
admin_app.add_typer(disputes.app, name="disputes")
admin_app.add_typer(ledger.app, name="ledger")
admin_app.add_typer(withdrawals.app, name="withdrawals")
