"""Provider applications: what a would-be provider proposes and the operator's decision.

An application carries the whole proposal (profile, offers, availability plan, documents)
and moves `pending → approved | rejected` exactly once. Rejected applicants fix what the
reason says and apply again with a new application; one pending application per user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.catalog.availability import AvailabilityPlan
from core.catalog.events import ApplicationApproved, ApplicationRejected, ApplicationSubmitted
from core.catalog.model import MAX_FILE_REF_LENGTH, OfferDraft, ProfileDraft
from core.shared.aggregate import Aggregate
from core.shared.errors import DomainError

MAX_OFFERS = 20
MAX_DOCUMENTS = 10
MAX_REASON_LENGTH = 500


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class DocumentKind(StrEnum):
    ID_PHOTO = "id_photo"
    CERTIFICATE = "certificate"


@dataclass(frozen=True)
class Document:
    """A file the applicant sent (a channel file id or storage key), never the bytes."""

    kind: DocumentKind
    file_ref: str

    def __post_init__(self) -> None:
        if not self.file_ref.strip() or len(self.file_ref) > MAX_FILE_REF_LENGTH:
            raise DomainError("error.catalog.invalid_file_ref", field=self.kind.value)


def check_reason(reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise DomainError("error.catalog.reason_required")
    if len(text) > MAX_REASON_LENGTH:
        raise DomainError("error.catalog.text_too_long", field="reason", maximum=MAX_REASON_LENGTH)
    return text or None


@dataclass(kw_only=True)
class Application(Aggregate):
    id: int | None
    user_id: int
    profile: ProfileDraft
    offers: tuple[OfferDraft, ...]
    availability: AvailabilityPlan
    documents: tuple[Document, ...]
    submitted_at: datetime
    status: ApplicationStatus = ApplicationStatus.PENDING
    decided_at: datetime | None = None
    decided_by: int | None = None
    reason: str | None = None

    @property
    def category_ids(self) -> tuple[int, ...]:
        return tuple(o.category_id for o in self.offers)

    def submitted(self) -> None:
        """Record the submission once storage gave the application its id."""
        assert self.id is not None, "record the submission after the application is stored"
        self.record(
            ApplicationSubmitted(
                application_id=self.id,
                user_id=self.user_id,
                display_name=self.profile.display_name,
                category_ids=self.category_ids,
                at=self.submitted_at,
            )
        )

    def _decide(self, status: ApplicationStatus, by: int | None, at: datetime, reason: str | None) -> None:
        if self.status is not ApplicationStatus.PENDING:
            raise DomainError(
                "error.application.already_decided", application_id=self.id, status=self.status.value
            )
        self.status, self.decided_by, self.decided_at, self.reason = status, by, at, reason

    def approve(self, *, by: int | None, at: datetime, reason: str | None) -> None:
        self._decide(ApplicationStatus.APPROVED, by, at, check_reason(reason, required=False))
        assert self.id is not None
        self.record(
            ApplicationApproved(
                application_id=self.id, user_id=self.user_id, operator_id=by, reason=self.reason, at=at
            )
        )

    def reject(self, *, by: int | None, at: datetime, reason: str) -> None:
        text = check_reason(reason, required=True)
        assert text is not None
        self._decide(ApplicationStatus.REJECTED, by, at, text)
        assert self.id is not None
        self.record(
            ApplicationRejected(
                application_id=self.id, user_id=self.user_id, operator_id=by, reason=text, at=at
            )
        )
