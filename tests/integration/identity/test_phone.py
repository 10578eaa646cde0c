"""A phone number is proven through the user's own Telegram contact and encrypted at rest."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from app.bootstrap import Runtime
from core.identity.commands import GetUser, ListUsers, VerifyPhone
from core.shared.errors import DomainError
from storage.tables.identity import users
from tests.integration.identity.helpers import register

PHONE = "+86 138 1234 5678"


async def test_the_stored_number_is_ciphertext_that_only_the_key_opens(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    await runtime.bus.handle(
        VerifyPhone(user_id=ann.id, phone=PHONE, contact_external_id="1001", actor_id=ann.id)
    )
    async with runtime.uow_factory() as uow:
        row = (await uow.connection.execute(sa.select(users).where(users.c.id == ann.id))).one()
    assert row.phone_encrypted and "13812345678" not in row.phone_encrypted
    assert row.phone_masked == "138****5678"
    key = runtime.settings.effective_encryption_key().encode()
    assert Fernet(key).decrypt(row.phone_encrypted.encode()).decode() == "+8613812345678"


async def test_the_owner_sees_the_number_everyone_else_sees_it_masked(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    bob = await register(runtime, "1002")
    await runtime.bus.handle(VerifyPhone(user_id=ann.id, phone=PHONE, contact_external_id="1001"))
    own = await runtime.bus.handle(GetUser(user_id=ann.id, actor_id=ann.id))
    seen_by_bob = await runtime.bus.handle(GetUser(user_id=ann.id, actor_id=bob.id))
    seen_by_console = await runtime.bus.handle(GetUser(user_id=ann.id))
    listed = await runtime.bus.handle(ListUsers())
    assert own.phone == "+8613812345678"
    assert seen_by_bob.phone is None and seen_by_bob.phone_masked == "138****5678"
    assert seen_by_bob.accounts == ()  # nor the chat accounts behind the person
    assert seen_by_console.phone is None
    assert all(u.phone is None for u in listed.users)


async def test_someone_elses_contact_proves_nothing(runtime: Runtime) -> None:
    ann = await register(runtime, "1001")
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(
            VerifyPhone(user_id=ann.id, phone=PHONE, contact_external_id="777")
        )
    assert error.value.key == "error.user.phone_not_own_contact"
    view = await runtime.bus.handle(GetUser(user_id=ann.id, actor_id=ann.id))
    assert view.phone is None and view.phone_masked is None


@pytest.mark.parametrize(
    ("phone", "source", "key"),
    [
        ("not a number", "telegram_contact", "error.user.phone_invalid"),
        (PHONE, "typed_in_chat", "error.user.phone_source_unsupported"),
    ],
)
async def test_bad_numbers_and_unproven_sources_are_refused(
    runtime: Runtime, phone: str, source: str, key: str
) -> None:
    ann = await register(runtime, "1001")
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(
            VerifyPhone(user_id=ann.id, phone=phone, source=source, contact_external_id="1001")
        )
    assert error.value.key == key
