"""The `yueban` command: run, demo, db, admin."""

from __future__ import annotations

import logging
from typing import Any

import typer

from admin_cli.main import admin_app
from app.bootstrap import bootstrap
from app.settings import ConfigurationError, Settings
from core.shared.messages import Command
from storage import migrate

app = typer.Typer(help="Yueban: book people through chat.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")


class CliRuntime:
    """Runs one command through a freshly wired bus, then closes it."""

    def __init__(self, settings: Settings, locale: str) -> None:
        self.settings = settings
        self.locale = locale

    async def execute(self, command: Command) -> Any:
        runtime = bootstrap(self.settings)
        try:
            return await runtime.bus.handle(command)
        finally:
            await runtime.close()


@admin_app.callback()
def _admin(
    ctx: typer.Context,
    lang: str = typer.Option("en", "--lang", help="Language of messages: en or zh."),
) -> None:
    ctx.find_root().obj = CliRuntime(Settings(), lang)


app.add_typer(admin_app, name="admin")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = Settings()
    migrate.upgrade(settings.database_url, revision)
    typer.echo(f"database at {migrate.current(settings.database_url) or 'base'}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="e.g. -1, base, or an id")) -> None:
    """Revert migrations down to REVISION."""
    settings = Settings()
    migrate.downgrade(settings.database_url, revision)
    typer.echo(f"database at {migrate.current(settings.database_url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    typer.echo(migrate.current(Settings().database_url) or "base (empty database)")


@app.command("run")
def run() -> None:
    """Serve the bots (Telegram and/or WeChat) with the configured settings."""
    settings = Settings()
    try:
        settings.check_secrets()
    except ConfigurationError as error:
        typer.echo(f"cannot start: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(
        "yueban run: the chat adapters are not part of this build yet; "
        "storage, catalog and the admin CLI are ready (see `yueban admin --help`).",
        err=True,
    )
    raise typer.Exit(3)


@app.command("demo")
def demo() -> None:
    """Start the whole platform locally with a seeded demo world."""
    typer.echo(
        "yueban demo: the browser demo is not part of this build yet; "
        "try `yueban db upgrade && yueban admin catalog seed`.",
        err=True,
    )
    raise typer.Exit(3)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":
    main()
