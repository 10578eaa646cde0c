"""What both chat adapters write around a relayed message, in the reader's language."""

from __future__ import annotations

from bots.i18n import gettext
from core.relay.commands import EditPlan, RelayPlan
from core.relay.model import MessageKind


def header_label(order_number: str, role: str, locale: str) -> str:
    """Which order a relayed message belongs to and who sent it ("YB12345 · provider")."""
    return gettext("relay.header", locale, order_number=order_number,
                   role=gettext(f"relay.role.{role}", locale))


def masked_text(plan: RelayPlan | EditPlan, locale: str) -> str:
    """The message's text or caption with what was masked marked as hidden."""
    if plan.kind is MessageKind.CONTACT:
        return gettext("relay.contact_hidden", locale)
    return plan.rendered(gettext("relay.hidden", locale)) or ""


def placeholder_text(kind: MessageKind, locale: str) -> str:
    """What stands in for a kind of message the recipient's platform cannot carry."""
    return gettext("relay.placeholder", locale, kind=gettext(f"relay.kind.{kind.value}", locale))
