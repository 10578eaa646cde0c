"""Small helpers for tests that need people: register through a channel, make an operator."""

from __future__ import annotations

from app.bootstrap import Runtime
from core.identity.commands import GrantRole, RegisterFromChannel
from core.identity.model import User


async def register(
    runtime: Runtime,
    external_id: str,
    *,
    platform: str = "telegram",
    name: str = "Ann",
    language_code: str | None = "en",
) -> User:
    user: User = await runtime.bus.handle(
        RegisterFromChannel(
            platform=platform,
            external_id=external_id,
            chat_id=external_id,
            display_name=name,
            language_code=language_code,
        )
    )
    return user


async def operator(runtime: Runtime, external_id: str = "9000") -> User:
    user = await register(runtime, external_id, name="Olga")
    await runtime.bus.handle(GrantRole(user_id=user.id, role="operator"))
    return user
