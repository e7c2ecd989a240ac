"""Errors the domain and services raise, each with a stable machine-readable code.

Entry points translate the *kind* of error into a transport status (REST: 400, 403,
404, 409, 422; command line: a message and a non-zero exit) and pass the ``code``
through unchanged, because clients branch on it. Extra keyword arguments become
extra members of the problem document (e.g. ``available_to_withdraw``).
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every expected, client-caused failure. Never a 500."""

    code = "ledger_error"
    title = "Request failed"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class BadRequest(LedgerError):
    code = "bad_request"
    title = "Bad request"


class ValidationFailed(LedgerError):
    """Input that is well-formed but breaks a rule; ``errors`` maps field to messages."""

    code = "validation_failed"
    title = "Validation failed"

    def __init__(self, errors: dict[str, Any], *, code: str | None = None) -> None:
        super().__init__(_first_message(errors), code=code)
        self.errors = errors

    @classmethod
    def field(cls, name: str, message: str, *, code: str | None = None) -> ValidationFailed:
        return cls({name: [message]}, code=code)


def _first_message(errors: Any, path: str = "") -> str:
    """``"field: message"`` for the first error, however deeply nested (batch items)."""
    if isinstance(errors, dict) and errors:
        key, value = next(iter(errors.items()))
        return _first_message(value, f"{path}.{key}" if path else str(key))
    if isinstance(errors, list) and errors:
        return f"{path}: {errors[0]}" if path else str(errors[0])
    return f"{path}: invalid" if path else "invalid input"


class Forbidden(LedgerError):
    code = "forbidden"
    title = "Forbidden"


class NotFound(LedgerError):
    code = "not_found"
    title = "Not found"


class Conflict(LedgerError):
    code = "conflict"
    title = "Conflict"


class Gone(LedgerError):
    """What was asked for existed once and was removed (e.g. purged events)."""

    code = "gone"
    title = "Gone"
