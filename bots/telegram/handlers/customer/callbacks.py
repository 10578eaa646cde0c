"""The customer flows' inline buttons as `CallbackData` factories (each packs within 64 bytes).

Prefixes all start with `c` so they cannot collide with other flows' buttons. Buttons carry
ids and small numbers only; anything longer (an address, notes) waits in the FSM draft.
The notice action `review.rate` (an order id and a star count) is encoded here as an
`OrderCallback`, so a rating invitation's stars work like the stars under an order card.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from typing import Any

from aiogram.filters.callback_data import MAX_CALLBACK_LENGTH, CallbackData
from pydantic_core import PydanticUndefined

from bots.telegram.callbacks import action_callback
from core.shared.errors import DomainError


class BrowseCallback(CallbackData, prefix="cb"):
    """A category: `page` 0 lists its sub-categories, 1.. pages through its providers."""

    category_id: int  # 0: the top of the catalog
    page: int = 0


class FilterCallback(CallbackData, prefix="cf"):
    """A filter of the provider list: `name` is menu, price, rating, online, tags, near, clear."""

    category_id: int
    name: str
    value: str = ""


class ProviderCallback(CallbackData, prefix="cp"):
    """A provider's card and what it offers: card, fav, unfav, book."""

    provider_id: int
    action: str


class OfferCallback(CallbackData, prefix="co"):
    """One offer of a provider; `units` 0 asks how many units."""

    provider_id: int
    offer_id: int
    units: int = 0


class CalendarCallback(CallbackData, prefix="cc"):
    """The slot picker: `mode` b (book an offer), r (reschedule an order), o (open request).

    `ref` is the offer, order or category; `owner` the provider whose calendar it is (0 for
    an open request). `action`: m (show the month of `day`), d (show `day`), s (take the
    start at `minute`, in minutes since the epoch, UTC), n (now, no slot). `day` is a local
    date as YYYYMMDD, so even the largest ids fit in 64 bytes.
    """

    mode: str
    ref: int
    owner: int
    units: int
    action: str
    day: int = 0
    minute: int = 0

    def local_day(self) -> date:
        """The date the button names; a forged one is refused like any bad input."""
        try:
            return date(self.day // 10000, self.day // 100 % 100, self.day % 100)
        except ValueError as error:
            raise DomainError("error.availability.invalid_range") from error


def day_number(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


class DraftCallback(CallbackData, prefix="ck"):
    """Steps of a booking or request draft: skip (notes), confirm, abort."""

    action: str


class PayCallback(CallbackData, prefix="cy"):
    """Pay for something: `purpose` o (an order), x (extend it by `amount` units),
    r (raise an open order's price by `amount`), t (tip `amount`), w (top up the wallet
    with `amount` in `currency`). `method`: wallet, sandbox, stars, card."""

    purpose: str
    ref: int
    amount: int
    method: str
    currency: str = ""


class OrderCallback(CallbackData, prefix="cd"):
    """An order card and its actions (show, cancel, cancel_yes, reschedule, confirm, dispute,
    review, rate, review_skip, tip, tip_amount, extend, raise, again)."""

    order_id: int
    action: str
    value: int = 0


class OrdersCallback(CallbackData, prefix="cl"):
    """A page of "my orders"."""

    page: int


class RequestCallback(CallbackData, prefix="cr"):
    """Steps of an open request: cat (a category), units."""

    step: str
    value: int = 0


@action_callback("review.rate")
def _rate(args: Mapping[str, Any]) -> CallbackData:
    return OrderCallback(order_id=int(args["order_id"]), action="rate", value=int(args["rating"]))


@functools.cache
def _fields(factory: type[CallbackData]) -> tuple[tuple[str, type, Any], ...]:
    return tuple(
        (name, field.annotation, field.default)  # type: ignore[misc]
        for name, field in factory.model_fields.items()
    )


def packed(factory: type[CallbackData], /, **values: int | str) -> str:
    """`factory(**values).pack()` for int and str fields without building and validating a
    model, which costs more than the rest of a button: a month of the calendar packs dozens.
    The same text, and the same refusals (a separator in a value, more than 64 bytes)."""
    parts = [factory.__prefix__]
    for name, annotation, default in _fields(factory):
        value = values.pop(name, default)
        if value is PydanticUndefined:
            raise TypeError(f"{factory.__name__} needs {name}")
        if annotation not in (int, str) or type(value) is not annotation:
            raise TypeError(f"{factory.__name__}.{name} is {annotation}, not {value!r}")
        text = str(value)
        if factory.__separator__ in text:
            raise ValueError(f"separator in {factory.__name__}.{name}={text!r}")
        parts.append(text)
    if values:
        raise TypeError(f"{factory.__name__} has no {', '.join(sorted(values))}")
    data = factory.__separator__.join(parts)
    if len(data.encode()) > MAX_CALLBACK_LENGTH:
        raise ValueError(f"callback data too long: {data!r}")
    return data
