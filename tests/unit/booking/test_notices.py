"""Booking events become notices for the right people, with texts and buttons in zh and en."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from bots.i18n import LOCALES, gettext, has_text
from core.booking import events as ev
from core.booking.notices import BUILDERS, notices_for
from core.shared.messages import Event
from core.shared.money import Money

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SAMPLE: dict[str, Any] = {
    "order_id": 42, "order_number": "YB0001A", "customer_id": 1, "provider_id": 2,
    "category_id": 3, "dispatch": "direct", "instant": False, "wave": 1, "units": 2,
    "provider_ids": (5, 6), "other_provider_ids": (5, 6), "alternatives": (7,),
    "reason": "why", "response": "because", "by": "customer", "absent": "provider",
    "outcome": "partial", "proposed_by": 1, "answered_by": 2, "opened_by": 1,
    "agreed": True, "started": False, "has_proof": False, "by_default": False,
    "minutes_before": 60, "dispute_id": 1, "extra_units": 1, "strikes": 3,
    "previous_provider_id": 8, "checkin": None,
}


def sample(event_type: type[Event]) -> Event:
    hints = typing.get_type_hints(event_type)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(event_type):
        if field.name == "event_id":
            continue
        if field.name in SAMPLE:
            values[field.name] = SAMPLE[field.name]
        elif Money in (typing.get_args(hints[field.name]) or (hints[field.name],)):
            values[field.name] = Money(1234, "CNY")
        else:
            values[field.name] = AT
    return event_type(**values)


@pytest.mark.parametrize("event_type", list(BUILDERS), ids=lambda t: t.__name__)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_notice_has_a_text_and_its_buttons_have_labels(event_type: type[Event], locale: str) -> None:
    notices = notices_for(sample(event_type))
    assert notices, f"{event_type.__name__} tells nobody"
    for notice in notices:
        assert has_text(notice.key, locale), notice.key
        text = gettext(notice.key, locale, **{k: str(v) for k, v in notice.params.items()})
        assert "{" not in text, text
        for action in notice.actions:
            assert has_text(f"action.{action.kind}", locale), action.kind
            assert len(action.args) == 1 and all(isinstance(v, int) for v in action.args.values())
    assert len({n.dedup_key for n in notices}) == len(notices)


def test_every_booking_event_with_people_to_tell_has_a_builder() -> None:
    silent = {ev.OrderEvent, ev.ProviderAutoSuspended}  # the catalog tells the provider
    events = {t for t in vars(ev).values()
              if isinstance(t, type) and issubclass(t, Event) and t is not Event}
    assert events - set(BUILDERS) == silent


def test_a_direct_order_request_goes_to_the_provider_with_accept_and_reject() -> None:
    paid = sample(ev.OrderPaid)
    [to_provider, to_customer] = notices_for(paid)
    assert to_provider.recipient_user_id == 2
    assert [a.kind for a in to_provider.actions] == ["order.accept", "order.reject"]
    assert to_customer.recipient_user_id == 1


def test_every_other_offered_provider_hears_the_order_was_taken() -> None:
    notices = notices_for(sample(ev.OpenOrderTaken))
    assert [(n.recipient_user_id, n.key) for n in notices] == [(5, "notice.order.taken"),
                                                              (6, "notice.order.taken")]


def test_a_reschedule_proposal_goes_to_the_other_side() -> None:
    [notice] = notices_for(sample(ev.RescheduleProposed))
    assert notice.recipient_user_id == 2
    assert {a.kind for a in notice.actions} == {"order.reschedule_agree", "order.reschedule_decline"}


def test_the_same_event_always_gives_the_same_dedup_keys() -> None:
    event = sample(ev.OrderDelivered)
    assert [n.dedup_key for n in notices_for(event)] == [n.dedup_key for n in notices_for(event)]
