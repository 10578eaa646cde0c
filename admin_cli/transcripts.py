"""`yueban admin orders transcript N`: the relayed chat of one order, as an operator reads it
in a dispute: who wrote what and when, masked as it was relayed, with the kinds of contact
details that were hidden, the files sent and who received each message. A message that had
to wait for a WeChat recipient's window shows what became of it: still queued, delivered
after waiting, or expired (and why).

Mounted on the `orders` sub-app in `admin_cli/main.py`.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from admin_cli.runtime import console, print_json, run, runtime_of
from bots.i18n import gettext
from core.relay.commands import GetTranscript, Transcript, TranscriptEntry
from core.relay.pending import ListPendingRelays, PendingRelay, PendingStatus


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _shown(entry: TranscriptEntry, marker: str, locale: str) -> str:
    text = entry.rendered(marker) or ""
    if entry.location is not None:
        place = f"({entry.location.latitude:.5f}, {entry.location.longitude:.5f})"
        text = f"{text} {place}".strip()
    if entry.edit_of is not None:
        text = f"{text} {gettext('relay.edited', locale)}"
    return text


def _waits(pending: list[PendingRelay]) -> dict[int, list[PendingRelay]]:
    by_message: dict[int, list[PendingRelay]] = {}
    for item in pending:
        by_message.setdefault(item.relayed_message_id, []).append(item)
    return by_message


def _queue_state(items: list[PendingRelay]) -> str:
    """"queued → 5", "delivered → 5 after waiting", "expired → 5 (too_old)"; "—" if none."""
    states = []
    for item in items:
        state = "queued" if item.status is PendingStatus.SENDING else item.status.value
        if item.status is PendingStatus.DELIVERED:
            states.append(f"delivered → {item.recipient_id} after waiting")
        elif item.status is PendingStatus.EXPIRED:
            states.append(f"expired → {item.recipient_id} ({item.expiry_reason})")
        else:
            states.append(f"{state} → {item.recipient_id} since {_when(item.queued_at)}")
    return "; ".join(states) or "—"


def _queue_json(item: PendingRelay) -> dict[str, Any]:
    status = "queued" if item.status is PendingStatus.SENDING else item.status.value
    return {"recipient_id": item.recipient_id, "status": status, "queued_at": item.queued_at,
            "settled_at": item.settled_at, "expiry_reason": item.expiry_reason,
            "attempts": item.attempts}


def transcript_json(found: Transcript, marker: str,
                    pending: list[PendingRelay] | None = None) -> dict[str, Any]:
    waits = _waits(pending or [])
    return {
        "order_id": found.order_id,
        "order_number": found.order_number,
        "status": found.status,
        "service_kind": found.service_kind,
        "customer_id": found.customer_id,
        "provider_ids": list(found.provider_ids),
        "operator_ids": list(found.operator_ids),
        "opened_at": found.opened_at,
        "closed_at": found.closed_at,
        "messages": [
            {
                "id": e.id, "at": e.at, "sender_id": e.sender_id, "role": e.sender_role.value,
                "kind": e.kind.value, "text": e.rendered(marker), "hidden": list(e.leak_kinds),
                "files": list(e.files), "media_group_id": e.media_group_id,
                "location": None if e.location is None else
                {"latitude": e.location.latitude, "longitude": e.location.longitude},
                "reply_to_id": e.reply_to_id, "edit_of": e.edit_of,
                "delivered_to": list(e.delivered_to),
                "queue": [_queue_json(item) for item in waits.get(e.id, [])],
            }
            for e in found.entries
        ],
        "queued": sum(1 for item in pending or [] if item.status in _WAITING),
    }


_WAITING = (PendingStatus.QUEUED, PendingStatus.SENDING)


def transcript_table(found: Transcript, marker: str, locale: str,
                     pending: list[PendingRelay] | None = None) -> Table:
    providers = ", ".join(str(p) for p in found.provider_ids) or "—"
    operators = ", ".join(str(o) for o in found.operator_ids) or "—"
    waits = _waits(pending or [])
    queued = sum(1 for item in pending or [] if item.status in _WAITING)
    table = Table(
        title=f"order {found.order_number} ({found.order_id}) chat — {found.status}; "
              f"customer {found.customer_id}, provider {providers}, operators {operators}"
              + (f"; {queued} queued for WeChat" if queued else ""),
    )
    columns = ["#", "at", "from", "kind", "text", "hidden", "files", "to"]
    if waits:
        columns.append("waited")
    for column in columns:
        table.add_column(column)
    for e in found.entries:
        row = [
            str(e.id), _when(e.at), f"{e.sender_role.value} {e.sender_id}", e.kind.value,
            # User text is shown as it is: never read as rich markup.
            Text(_shown(e, marker, locale)), ", ".join(e.leak_kinds) or "—",
            Text(", ".join(e.files) or "—"), ", ".join(str(u) for u in e.delivered_to) or "—",
        ]
        if waits:
            row.append(Text(_queue_state(waits.get(e.id, []))))
        table.add_row(*row)
    return table


def transcript(
    ctx: typer.Context,
    order: str = typer.Argument(..., help="Order id or number (YB…)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """The order's relayed chat: every message, masked as relayed, oldest first."""
    ref = order.strip()
    query = GetTranscript(order_id=int(ref)) if ref.isdigit() else GetTranscript(order_number=ref)
    found: Transcript = run(ctx, query)
    pending: list[PendingRelay] = (
        run(ctx, ListPendingRelays(order_id=found.order_id)) if found.entries else [])
    locale = runtime_of(ctx).locale
    marker = gettext("relay.hidden", locale)
    if as_json:
        print_json(transcript_json(found, marker, pending))
        return
    if not found.entries:
        typer.echo(gettext("cli.relay.empty", locale, number=found.order_number))
        return
    console.print(transcript_table(found, marker, locale, pending))
