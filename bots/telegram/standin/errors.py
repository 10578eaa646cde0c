"""Bot API error replies of the local stand-in, shaped exactly like Telegram's.

Telegram answers every failure with HTTP status == ``error_code`` and a JSON body
``{"ok": false, "error_code": N, "description": "..."}`` (plus ``parameters`` for 429 and
chat migrations). aiogram maps the status to its exception classes, so the status, the
code and the description prefix must all agree.
"""

from __future__ import annotations

from typing import Any


class BotApiError(Exception):
    """A refused Bot API call; ``payload()`` is the body Telegram would send."""

    def __init__(
        self,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        # problems noticed before the refusal (e.g. unknown parameters), for the call log
        self.warnings: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> BotApiError:
    return BotApiError(403, f"Forbidden: {detail}")


def not_found() -> BotApiError:
    return BotApiError(404, "Not Found")


def unauthorized() -> BotApiError:
    return BotApiError(401, "Unauthorized")


def conflict(detail: str) -> BotApiError:
    return BotApiError(409, f"Conflict: {detail}")


def too_many_requests(retry_after: int) -> BotApiError:
    return BotApiError(
        429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
    )


def not_implemented(method: str) -> BotApiError:
    # Telegram never says 501; the stand-in does for methods that exist in the spec but
    # are not simulated, so a bot relying on one fails loudly instead of getting a fake True.
    return BotApiError(501, f"Not Implemented: {method} is not simulated by the local stand-in")


class SimulationError(ValueError):
    """A simulated user tried something a real Telegram client would not allow."""
