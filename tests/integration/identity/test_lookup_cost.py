"""Finding a chat user is one statement: the account's lookup and the user's load together,
with the same user (roles, accounts, one copy per transaction) and None for a stranger."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime
from core.identity.commands import IssueLinkCode, RedeemLinkCode, RegisterFromChannel
from core.identity.model import Role
from tests.integration.identity.helpers import operator, register
from tests.integration.statements import statements_on


def contact(external_id: str, platform: str = "telegram") -> RegisterFromChannel:
    return RegisterFromChannel(platform=platform, external_id=external_id, chat_id=external_id,
                               display_name="Someone", language_code="en")


# SQLite adds its BEGIN IMMEDIATE to each.
KNOWN_CONTACT = {"postgresql": 1, "sqlite": 2}
# Look up, then insert the user, their role, their account, the audit row and the event.
FIRST_CONTACT = {"postgresql": 6, "sqlite": 7}


async def test_a_returning_chat_user_is_found_in_one_statement(
    runtime: Runtime, engine: AsyncEngine
) -> None:
    olga = await operator(runtime, "9000")
    issued = await runtime.bus.handle(IssueLinkCode(user_id=olga.id))
    await runtime.bus.handle(RedeemLinkCode(code=issued.code, platform="wechat",
                                            external_id="oOLGA", chat_id="oOLGA"))

    with statements_on(engine) as statements:
        found = await runtime.bus.handle(contact("oOLGA", platform="wechat"))

    assert len(statements) == KNOWN_CONTACT[engine.dialect.name], statements
    assert found.id == olga.id
    assert found.roles == frozenset({Role.CUSTOMER, Role.OPERATOR})
    assert [(a.platform, a.external_id) for a in found.accounts] == [
        ("telegram", "9000"), ("wechat", "oOLGA")
    ]


async def test_a_first_contact_looks_up_once_and_registers(
    runtime: Runtime, engine: AsyncEngine
) -> None:
    await register(runtime, "1001")

    with statements_on(engine) as statements:
        new = await runtime.bus.handle(contact("1002"))

    assert len(statements) == FIRST_CONTACT[engine.dialect.name], statements
    assert new.id > 0 and [a.external_id for a in new.accounts] == ["1002"]
    again = await runtime.bus.handle(contact("1002"))
    assert again.id == new.id


async def test_an_account_nobody_holds_is_nobody(runtime: Runtime) -> None:
    await register(runtime, "1001")
    async with runtime.uow_factory() as uow:
        assert await uow.users.get_by_channel("telegram", "1002") is None
        assert await uow.users.get_by_channel("wechat", "1001") is None


async def test_a_user_read_earlier_in_the_transaction_is_the_copy_found_by_chat(
    runtime: Runtime,
) -> None:
    ann = await register(runtime, "1001")
    async with runtime.uow_factory() as uow:
        earlier = await uow.users.get(ann.id)
        earlier.set_locale("zh", now=runtime.clock.now())
        found = await uow.users.get_by_channel("telegram", "1001")
    assert found is earlier
    assert found.locale == "zh"


async def test_users_and_those_they_were_merged_into_are_read_together(
    runtime: Runtime, engine: AsyncEngine
) -> None:
    ann = await register(runtime, "1001")
    duplicate = await register(runtime, "oWX1", platform="wechat")
    bo = await register(runtime, "1002")
    issued = await runtime.bus.handle(IssueLinkCode(user_id=ann.id, actor_id=ann.id))
    await runtime.bus.handle(RedeemLinkCode(code=issued.code, platform="wechat", external_id="oWX1",
                                            chat_id="oWX1", actor_id=duplicate.id))

    async with runtime.uow_factory() as uow:
        with statements_on(engine) as statements:
            found = await uow.users.get_many([duplicate.id, bo.id, 987_654], follow_merges=True)
        plain = await uow.users.get_many([duplicate.id, 987_654])

    assert sum(s.lstrip().startswith("SELECT") for s in statements) == 1
    assert sorted(found) == sorted([duplicate.id, bo.id, ann.id])
    assert found[duplicate.id].merged_into == ann.id
    assert [a.platform for a in found[ann.id].accounts] == ["telegram", "wechat"]
    assert list(plain) == [duplicate.id]
