"""`yueban admin providers`: review applications and decide, look at a provider, suspend, reinstate.

`approve` and `reject` take an application id (see `pending`); `show`, `suspend` and
`reinstate` take a provider id, which is the provider's user id. Every decision goes through
the bus as the console operator and is audited with its reason; the applicant or provider
is told through their chat.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from admin_cli.runtime import cli_key, console, print_json, run, runtime_of
from bots.i18n import gettext
from core.catalog.commands import (
    ApproveApplication,
    GetApplication,
    GetProvider,
    ListApplications,
    ListCategories,
    ReinstateProvider,
    RejectApplication,
    SuspendProvider,
)
from core.catalog.handlers import ProviderDetails
from core.catalog.model import Category, Offer, OfferDraft, ProviderProfile
from core.catalog.onboarding import Application, ApplicationStatus

app = typer.Typer(
    help="Providers: pending applications, show, approve, reject, suspend, reinstate.",
    no_args_is_help=True,
)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _slugs(ctx: typer.Context) -> dict[int, str]:
    categories: list[Category] = run(ctx, ListCategories())
    return {c.id: c.slug for c in categories}


def _offer_text(offer: Offer | OfferDraft, slugs: dict[int, str]) -> str:
    text = f"{slugs.get(offer.category_id, offer.category_id)}: {offer.unit_price.format()} × ≥{offer.min_units}"
    if offer.per_km_price is not None:
        text += f" + {offer.per_km_price.format()}/km"
    return text


def _profile_json(profile: ProviderProfile) -> dict[str, Any]:
    return {
        "user_id": profile.user_id,
        "display_name": profile.display_name,
        "bio": profile.bio,
        "photos": list(profile.photos),
        "voice_intro": profile.voice_intro,
        "status": profile.status.value,
        "presence": profile.presence.value,
        "tier": profile.tier,
        "tags": sorted(profile.tags),
        "location": {"lat": profile.location.lat, "lon": profile.location.lon} if profile.location else None,
        "service_radius_km": profile.service_radius_km,
        "venue_id": profile.venue_id,
        "timezone": profile.timezone,
        "rating_count": profile.rating_count,
        "rating_average": profile.rating_average,
        "rating_bayesian": profile.rating_bayesian,
        "completion_rate": profile.completion_rate,
        "response_time_s": profile.response_time_s,
        "last_active_at": profile.last_active_at,
        "approved_at": profile.approved_at,
        "suspended_reason": profile.suspended_reason,
    }


def _application_json(application: Application) -> dict[str, Any]:
    plan = application.availability
    profile = application.profile
    return {
        "id": application.id,
        "user_id": application.user_id,
        "status": application.status.value,
        "submitted_at": application.submitted_at,
        "decided_at": application.decided_at,
        "decided_by": application.decided_by,
        "reason": application.reason,
        "profile": {
            "display_name": profile.display_name,
            "bio": profile.bio,
            "photos": list(profile.photos),
            "voice_intro": profile.voice_intro,
            "tags": sorted(profile.tags),
            "location": {"lat": profile.location.lat, "lon": profile.location.lon} if profile.location else None,
            "service_radius_km": profile.service_radius_km,
            "venue_id": profile.venue_id,
            "timezone": profile.timezone,
        },
        "offers": list(application.offers),
        "availability": {
            "rules": [r.label() for r in plan.rules],
            "blocked_dates": sorted(plan.blocked_dates),
            "buffer_minutes": plan.buffer_minutes,
            "min_notice_minutes": plan.min_notice_minutes,
            "horizon_days": plan.horizon_days,
        },
        "documents": [{"kind": d.kind.value, "file_ref": d.file_ref} for d in application.documents],
    }


def _key_values(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in rows:
        table.add_row(name, value)
    return table


@app.command("pending")
def pending(
    ctx: typer.Context,
    status: str = typer.Option("pending", help="pending, approved, rejected or all."),
    limit: int = typer.Option(50, help="At most this many (1..200)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Applications waiting for a decision, oldest first."""
    choices = {s.value: s for s in ApplicationStatus}
    if status != "all" and status not in choices:
        raise typer.BadParameter(f"one of {', '.join(choices)} or all", param_hint="--status")
    wanted = None if status == "all" else choices[status]
    applications: list[Application] = run(ctx, ListApplications(status=wanted, limit=limit))
    if as_json:
        print_json([_application_json(a) for a in applications])
        return
    if not applications:
        typer.echo(gettext("cli.providers.none_pending", runtime_of(ctx).locale))
        return
    slugs = _slugs(ctx)
    table = Table(title=f"applications: {status} ({len(applications)})")
    for column in ("id", "user", "name", "offers", "documents", "submitted", "status"):
        table.add_column(column, justify="right" if column in ("id", "user") else "left")
    for application in applications:
        table.add_row(
            str(application.id),
            str(application.user_id),
            application.profile.display_name,
            "\n".join(_offer_text(o, slugs) for o in application.offers),
            ", ".join(d.kind.value for d in application.documents),
            _when(application.submitted_at),
            application.status.value,
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    provider_id: int = typer.Argument(..., help="The provider's (user) id, or an application id with --application."),
    application: bool = typer.Option(False, "--application", help="Show the application with this id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """A provider's profile, offers and hours (or one application)."""
    if application:
        found: Application = run(ctx, GetApplication(application_id=provider_id))
        if as_json:
            print_json(_application_json(found))
            return
        slugs = _slugs(ctx)
        data = _application_json(found)
        rows = [
            ("user", str(found.user_id)),
            ("status", found.status.value),
            ("name", found.profile.display_name),
            ("bio", found.profile.bio or "—"),
            ("tags", ", ".join(data["profile"]["tags"]) or "—"),
            ("time zone", found.profile.timezone),
            ("offers", "\n".join(_offer_text(o, slugs) for o in found.offers)),
            ("hours", ", ".join(data["availability"]["rules"]) or "—"),
            ("documents", "\n".join(f"{d['kind']}: {d['file_ref']}" for d in data["documents"])),
            ("submitted", _when(found.submitted_at)),
            ("decided", f"{_when(found.decided_at)} {found.reason or ''}".strip()),
        ]
        console.print(_key_values(f"application {found.id}", rows))
        return
    details: ProviderDetails = run(ctx, GetProvider(provider_id=provider_id))
    if as_json:
        print_json(
            {
                "profile": _profile_json(details.profile),
                "offers": list(details.offers),
                "schedule": {
                    "timezone": details.schedule.timezone,
                    "rules": [r.label() for r in details.schedule.rules],
                    "blocked_dates": sorted(details.schedule.blocked_dates),
                    "buffer_minutes": details.schedule.buffer_minutes,
                    "min_notice_minutes": details.schedule.min_notice_minutes,
                    "horizon_days": details.schedule.horizon_days,
                },
            }
        )
        return
    profile = details.profile
    slugs = _slugs(ctx)
    rows = [
        ("name", profile.display_name),
        ("status", profile.status.value + (f" ({profile.suspended_reason})" if profile.suspended_reason else "")),
        ("presence", profile.presence.value),
        ("tier", str(profile.tier)),
        ("rating", f"{profile.rating_average:.2f} ({profile.rating_count}), bayesian {profile.rating_bayesian:.2f}"),
        ("completion", f"{profile.completion_rate:.0%}"),
        ("response", f"{profile.response_time_s} s"),
        ("tags", ", ".join(sorted(profile.tags)) or "—"),
        (
            "service area",
            f"{profile.location.lat:.4f}, {profile.location.lon:.4f} ± {profile.service_radius_km} km"
            if profile.location else "—",
        ),
        ("venue", str(profile.venue_id) if profile.venue_id else "—"),
        ("time zone", profile.timezone),
        ("offers", "\n".join(_offer_text(o, slugs) for o in details.offers) or "—"),
        ("hours", ", ".join(r.label() for r in details.schedule.rules) or "—"),
        ("approved", _when(profile.approved_at)),
        ("last active", _when(profile.last_active_at)),
    ]
    console.print(_key_values(f"provider {profile.user_id}", rows))


@app.command("approve")
def approve(
    ctx: typer.Context,
    application_id: int = typer.Argument(..., help="The application's id (see `pending`)."),
    reason: str | None = typer.Option(None, "--reason", help="A note for the applicant."),
    tier: int | None = typer.Option(None, help="Tier 1..5 (new providers start at 1)."),
) -> None:
    """Approve an application: the applicant becomes a provider and appears in search."""
    profile: ProviderProfile = run(
        ctx, ApproveApplication(application_id=application_id, reason=reason, tier=tier, idempotency_key=cli_key())
    )
    typer.echo(
        gettext("cli.providers.approved", runtime_of(ctx).locale, application_id=application_id, provider_id=profile.user_id)
    )


@app.command("reject")
def reject(
    ctx: typer.Context,
    application_id: int = typer.Argument(..., help="The application's id (see `pending`)."),
    reason: str = typer.Option("", "--reason", help="What to fix (required; the applicant is told)."),
) -> None:
    """Reject an application with a reason; the applicant may fix it and apply again."""
    run(ctx, RejectApplication(application_id=application_id, reason=reason, idempotency_key=cli_key()))
    typer.echo(gettext("cli.providers.rejected", runtime_of(ctx).locale, application_id=application_id))


@app.command("suspend")
def suspend(
    ctx: typer.Context,
    provider_id: int = typer.Argument(..., help="The provider's (user) id."),
    reason: str = typer.Option("", "--reason", help="Why (required; the provider is told)."),
) -> None:
    """Suspend a provider: they leave search and take no new orders."""
    run(ctx, SuspendProvider(provider_id=provider_id, reason=reason, idempotency_key=cli_key()))
    typer.echo(gettext("cli.providers.suspended", runtime_of(ctx).locale, provider_id=provider_id))


@app.command("reinstate")
def reinstate(
    ctx: typer.Context,
    provider_id: int = typer.Argument(..., help="The provider's (user) id."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the audit log)."),
) -> None:
    """Lift a provider's suspension."""
    run(ctx, ReinstateProvider(provider_id=provider_id, reason=reason, idempotency_key=cli_key()))
    typer.echo(gettext("cli.providers.reinstated", runtime_of(ctx).locale, provider_id=provider_id))
