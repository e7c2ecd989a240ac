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

    def __init__(self, errors: dict[str, list[str]], *, code: str | None = None) -> None:
        first = next(iter(errors.items()), ("", ["invalid input"]))
        super().__init__(f"{first[0]}: {first[1][0]}" if first[0] else first[1][0], code=code)
        self.errors = errors

    @classmethod
    def field(cls, name: str, message: str, *, code: str | None = None) -> ValidationFailed:
        return cls({name: [message]}, code=code)


class Forbidden(LedgerError):
    code = "forbidden"
    title = "Forbidden"


class NotFound(LedgerError):
    code = "not_found"
    title = "Not found"


class Conflict(LedgerError):
    code = "conflict"
    title = "Conflict"
