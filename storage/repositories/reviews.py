"""Reviews on SQL: invitations opened by completed orders, reviews, and rating aggregates."""

from __future__ import annotations

from storage.repositories.base import SqlRepository


class SqlReviewInvitationRepository(SqlRepository):
    pass


class SqlReviewRepository(SqlRepository):
    pass
