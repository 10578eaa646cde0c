"""Domain errors: every refusal the core makes, as a message key plus parameters.

The core never renders text. Adapters (bots, admin CLI) turn `key` and `params` into
localized text through one error boundary each; the keys live in the translation catalogs
(`bots/i18n/locales`), and a test checks every key raised in the core has a zh and an en text.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the domain refused the request; nothing was changed."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r}, {self.params!r})"

    def __str__(self) -> str:
        if not self.params:
            return self.key
        details = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.key} ({details})"


class NotFound(DomainError):
    """The thing named does not exist (or the actor may not know it does)."""


class Forbidden(DomainError):
    """The actor may not do this."""


class ConcurrencyConflict(DomainError):
    """Somebody else changed the aggregate between our read and our write."""

    def __init__(self, what: str = "", **params: Any) -> None:
        super().__init__("error.concurrency_conflict", what=what, **params)


class AlreadyProcessed(DomainError):
    """The idempotency key of this command was seen before; its effect already happened."""

    def __init__(self, idempotency_key: str) -> None:
        super().__init__("error.already_processed", idempotency_key=idempotency_key)
