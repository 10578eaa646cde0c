"""The `yueban` command: run, demo, db, admin."""

from __future__ import annotations

import logging
from pathlib import Path
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
    import asyncio

    from app.http import check_workers
    from app.telegram import check_telegram_settings, run_telegram
    from app.wechat import check_wechat_settings

    settings = Settings()
    try:
        settings.check_secrets()
        if settings.telegram_enabled:
            check_telegram_settings(settings)
        if settings.wechat_enabled:
            check_wechat_settings(settings)
        check_workers(settings)
    except ConfigurationError as error:
        typer.echo(f"cannot start: {error}", err=True)
        raise typer.Exit(2) from error
    if not settings.telegram_enabled and not settings.wechat_enabled:
        typer.echo(
            "cannot start: no chat channel is configured; set YUEBAN_TELEGRAM_TOKEN "
            "(a token from @BotFather) to run the Telegram bot, or YUEBAN_WECHAT_APP_ID "
            "(with its secret and token) to run the WeChat official account.",
            err=True,
        )
        raise typer.Exit(3)
    logging.getLogger().setLevel(settings.log_level.upper())
    mode = "webhook" if settings.telegram_webhook_url else "long polling"
    channels = f"Telegram bot ({mode})"
    if settings.wechat_enabled:
        aes = "encrypted mode" if settings.wechat_aes_key else "plaintext mode"
        wechat = f"WeChat official account ({aes}, /wechat)"
        channels = f"{channels} and {wechat}" if settings.telegram_enabled else wechat
    where = f"{settings.http_host}:{settings.http_port}"
    if settings.http_workers > 1:
        from app.http import run_workers

        typer.echo(f"yueban run: {channels} on {where}, {settings.http_workers} workers")
        raise typer.Exit(run_workers(settings, echo=lambda line: typer.echo(line, err=True)))
    typer.echo(f"yueban run: {channels} on {where}")
    if settings.wechat_enabled:
        from app.http import run_channels

        asyncio.run(run_channels(settings))
        return
    asyncio.run(run_telegram(settings))


@app.command("demo")
def demo(
    walkthrough: bool = typer.Option(
        False, "--walkthrough", help="Play the whole journey in the page by itself."
    ),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Port of the page (default: YUEBAN_HTTP_PORT)."
    ),
    reset: bool = typer.Option(False, "--reset", help="Delete the demo's data and seed afresh."),
    pace: float = typer.Option(
        1.0, "--pace", min=0.0, max=10.0, help="Seconds between walkthrough steps."
    ),
    lang: str = typer.Option("en", "--lang", help="Language of the page's people: en or zh."),
    data_dir: Path = typer.Option(
        Path(".yueban-demo"), "--data-dir", file_okay=False,
        help="Folder for the demo's database and files.",
    ),
) -> None:
    """Start the whole platform locally, with a seeded world, in a browser chat."""
    import asyncio

    from app.demo.server import DemoError, DemoOptions, run_demo

    if lang not in ("en", "zh"):
        typer.echo(f"--lang must be en or zh, not {lang!r}", err=True)
        raise typer.Exit(2)
    logging.getLogger().setLevel(logging.WARNING)
    options = DemoOptions(port=port, data_dir=data_dir, reset=reset, walkthrough=walkthrough,
                          pace=pace, language=lang)
    try:
        code = asyncio.run(run_demo(options, echo=lambda line: typer.echo(line)))
    except DemoError as error:
        typer.echo(f"cannot start the demo: {error}", err=True)
        raise typer.Exit(2) from error
    raise typer.Exit(code)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":
    main()
