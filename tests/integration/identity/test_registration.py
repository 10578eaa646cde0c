"""First contact from a chat makes exactly one user, however many arrive at once."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from app.bootstrap import Runtime
from core.identity.commands import GetUser, RegisterFromChannel
from core.identity.events import UserRegistered
from core.shared.errors import DomainError
from storage.tables.identity import channel_accounts, users
from tests.integration.identity.helpers import register


async def count(runtime: Runtime, table: sa.Table) -> int:
    async with runtime.uow_factory() as uow:
        return int((await uow.connection.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def test_a_first_contact_registers_a_customer_in_the_chats_language(runtime: Runtime) -> None:
    user = await register(runtime, "1001", name="  Ann  Lee ", language_code="zh-hans")
    assert user.id > 0
    view = await runtime.bus.handle(GetUser(user_id=user.id))
    assert (view.display_name, view.locale, view.timezone) == ("Ann Lee", "zh", "Asia/Shanghai")
    assert view.roles == ("customer",) and view.status == "active"
    async with runtime.uow_factory() as uow:
        records = await uow.outbox.claim_batch(10)
        audit = await uow.audit.for_entity("user", str(user.id))
    assert [type(r.event) for r in records] == [UserRegistered]
    assert [a.action for a in audit] == ["register"]


async def test_the_next_contact_finds_the_same_user_and_follows_a_new_chat(runtime: Runtime) -> None:
    first = await register(runtime, "1001")
    again = await runtime.bus.handle(
        RegisterFromChannel(platform="telegram", external_id="1001", chat_id="5555", display_name="x")
    )
    assert again.id == first.id
    assert again.display_name == "Ann"  # a later contact does not rename anyone
    assert again.accounts[0].chat_id == "5555"
    assert await count(runtime, users) == 1


async def test_ten_simultaneous_first_contacts_make_one_user(runtime: Runtime) -> None:
    results = await asyncio.gather(
        *(
            runtime.bus.handle(
                RegisterFromChannel(
                    platform="wechat", external_id="oXYZ", chat_id="oXYZ", display_name="Bo",
                    idempotency_key=f"wx:{n}",
                )
            )
            for n in range(10)
        )
    )
    assert len({u.id for u in results}) == 1
    assert await count(runtime, users) == 1
    assert await count(runtime, channel_accounts) == 1


async def test_the_same_account_id_on_two_platforms_is_two_people(runtime: Runtime) -> None:
    a = await register(runtime, "42", platform="telegram")
    b = await register(runtime, "42", platform="wechat")
    assert a.id != b.id


@pytest.mark.parametrize(
    ("platform", "external_id", "key"),
    [("icq", "1", "error.user.unknown_platform"), ("telegram", " ", "error.user.invalid_account")],
)
async def test_bad_first_contacts_are_refused_and_write_nothing(
    runtime: Runtime, platform: str, external_id: str, key: str
) -> None:
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(
            RegisterFromChannel(platform=platform, external_id=external_id, chat_id="1")
        )
    assert error.value.key == key
    assert await count(runtime, users) == 0
