"""Each flow's own part of a person's FSM data.

A person has one FSM context per chat, shared by every flow: a booking half done, an
application form, a question an operator was asked. Each flow keeps its values under its own
key and, when it ends, removes only that key, so finishing one flow never wipes another's
draft.
"""

from __future__ import annotations

from typing import Any

from aiogram.fsm.context import FSMContext


async def draft(state: FSMContext, key: str) -> dict[str, Any]:
    value = (await state.get_data()).get(key)
    return dict(value) if isinstance(value, dict) else {}


async def keep(state: FSMContext, key: str, **changes: Any) -> dict[str, Any]:
    """Merge `changes` into the flow's values and return them all."""
    value = {**await draft(state, key), **changes}
    await state.update_data({key: value})
    return value


async def start(state: FSMContext, key: str, value: dict[str, Any]) -> None:
    await state.update_data({key: dict(value)})


async def finish(state: FSMContext, key: str) -> None:
    """Leave the flow's step and drop its values; other flows' values stay."""
    await state.set_state(None)
    data = await state.get_data()
    if key in data:
        data.pop(key)
        await state.set_data(data)
