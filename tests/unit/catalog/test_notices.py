"""Catalog events become notices people can read and act on, in zh and en."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bots.i18n import LOCALES, gettext, has_text
from core.catalog.events import (
    ApplicationApproved,
    ApplicationRejected,
    ApplicationSubmitted,
    ProviderPresenceChanged,
    ProviderReinstated,
    ProviderSuspended,
)
from core.catalog.notices import notices_of
from core.shared.messages import Event

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SUBMITTED = ApplicationSubmitted(application_id=7, user_id=42, display_name="小雨", category_ids=(2, 3), at=AT)


def test_operators_get_an_application_card_with_approve_and_reject() -> None:
    notices = notices_of(SUBMITTED, operator_ids=[1, 2])
    by_recipient = {n.recipient_user_id: n for n in notices}
    assert by_recipient[42].key == "catalog.notice.application_received"
    card = by_recipient[1]
    assert card.key == "catalog.notice.application_pending"
    assert [a.kind for a in card.actions] == ["application.approve", "application.reject", "application.show"]
    assert card.actions[0].args == {"application_id": 7}
    assert "小雨" in gettext(card.key, "zh", **card.params)
    assert by_recipient[1].dedup_key != by_recipient[2].dedup_key


def test_only_the_operators_cards_give_way_to_an_operators_group() -> None:
    notices = notices_of(SUBMITTED, operator_ids=[1, 2])
    assert {n.recipient_user_id for n in notices if n.for_operators} == {1, 2}
    assert [n.recipient_user_id for n in notices if not n.for_operators] == [42]


def test_the_same_event_gives_the_same_dedup_keys() -> None:
    assert [n.dedup_key for n in notices_of(SUBMITTED, operator_ids=[1])] == [
        n.dedup_key for n in notices_of(SUBMITTED, operator_ids=[1])
    ]


def test_a_rejection_tells_the_applicant_why_and_offers_to_apply_again() -> None:
    event = ApplicationRejected(application_id=7, user_id=42, operator_id=1, reason="ID photo is blurred", at=AT)
    [notice] = notices_of(event)
    assert notice.recipient_user_id == 42
    assert [a.kind for a in notice.actions] == ["application.reapply"]
    assert "ID photo is blurred" in gettext(notice.key, "en", **notice.params)


def test_an_automatic_offline_is_explained_but_a_manual_one_is_not() -> None:
    automatic = ProviderPresenceChanged(provider_id=9, from_presence="online", to_presence="offline", automatic=True, at=AT)
    manual = ProviderPresenceChanged(provider_id=9, from_presence="online", to_presence="offline", automatic=False, at=AT)
    assert [n.key for n in notices_of(automatic)] == ["catalog.notice.auto_offline"]
    assert notices_of(manual) == []


EVENTS: list[Event] = [
    SUBMITTED,
    ApplicationApproved(application_id=7, user_id=42, operator_id=1, reason=None, at=AT),
    ApplicationApproved(application_id=7, user_id=42, operator_id=1, reason="welcome", at=AT),
    ApplicationRejected(application_id=7, user_id=42, operator_id=1, reason="blurred", at=AT),
    ProviderSuspended(provider_id=42, operator_id=1, reason="no-shows", at=AT),
    ProviderReinstated(provider_id=42, operator_id=1, reason=None, at=AT),
    ProviderPresenceChanged(provider_id=42, from_presence="online", to_presence="offline", automatic=True, at=AT),
]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_notice_and_button_has_text(locale: str) -> None:
    for event in EVENTS:
        notices = notices_of(event, operator_ids=[1])
        assert notices, event
        for notice in notices:
            assert has_text(notice.key, locale), notice.key
            text = gettext(notice.key, locale, **notice.params)
            assert "{" not in text, text
            for action in notice.actions:
                assert action.label_key and has_text(action.label_key, locale), action
