"""Providers in Telegram: the application form (`apply`) and the daily workspace (`workspace`).

`router()` is the feature's entry in the router tree: the form first (its handlers only
match while a form is open, or on `/apply`), then the workspace.
"""

from __future__ import annotations

from aiogram import Router

from bots.telegram.handlers.provider import apply, workspace

# The commands providers see in Telegram's menu (texts: tg.command.<name>).
COMMANDS = ("apply", "workspace")


def router() -> Router:
    provider = Router(name="provider")
    provider.include_router(apply.router())
    provider.include_router(workspace.router())
    return provider
