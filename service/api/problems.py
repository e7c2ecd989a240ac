"""RFC 9457 problem details for every error the REST API returns.

Every failure leaves as ``application/problem+json`` with a stable ``code``.
Expected failures (:class:`~service.domain.errors.LedgerError`) map by kind to a
status; HTTP errors raised by Flask or by request parsing keep theirs; anything
else is a bug: it is logged with its traceback and the client gets a bare 500
that leaks nothing.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from flask import Flask, Response
from psycopg import errors as pg_errors
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from service.domain.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    LedgerError,
    NotFound,
    ValidationFailed,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS_OF: list[tuple[type[LedgerError], int]] = [
    (BadRequest, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Gone, 410),
    (ValidationFailed, 422),
]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
}


class Unauthorized(LedgerError):
    code = "unauthorized"
    title = "Unauthorized"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    response = Response(json.dumps(body, default=str), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_ledger_error(error: LedgerError) -> Response:
    if isinstance(error, Unauthorized):
        return problem(
            401,
            error.code,
            error.title,
            error.detail,
            headers={"WWW-Authenticate": "Bearer"},
            **error.extra,
        )
    status = next((s for cls, s in _STATUS_OF if isinstance(error, cls)), 400)
    extra = dict(error.extra)
    if isinstance(error, ValidationFailed):
        extra["errors"] = error.errors
    return problem(status, error.code, error.title, error.detail, **extra)


def _flatten(messages: Any) -> dict[str, list[str]]:
    """webargs nests errors by location (``{"json": {...}}``); clients want fields."""
    flat: dict[str, Any] = {}
    if isinstance(messages, dict):
        for location, errors in messages.items():
            if isinstance(errors, dict):
                flat.update(errors)
            else:
                flat[str(location)] = errors
    return flat


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return unexpected(getattr(error, "original_exception", None) or error)
    data = getattr(error, "data", None) or {}
    errors = _flatten(data.get("messages") or data.get("errors") or {})
    code = _HTTP_CODES.get(status, "http_error")
    detail = error.description or error.name
    headers = {}
    if status == 405 and isinstance(error, HTTPException):
        allowed = getattr(error, "valid_methods", None)
        if allowed:
            headers["Allow"] = ", ".join(sorted(allowed))
    if status == 400 and errors.get("json") == ["Invalid JSON body."]:
        return problem(
            400, "malformed_json", "Malformed JSON", "the request body is not valid JSON"
        )
    if status == 422:
        first = next(iter(errors.items()), None)
        detail = (
            f"{first[0]}: {first[1][0] if isinstance(first[1], list) else first[1]}"
            if first
            else "the request is invalid"
        )
        return problem(422, code, "Validation failed", detail, errors=errors)
    return problem(
        status, code, error.name, detail, headers=headers, **({"errors": errors} if errors else {})
    )


def unexpected(error: BaseException) -> Response:
    log.error("unhandled error", exc_info=error)
    return problem(
        500,
        "internal_error",
        "Internal server error",
        "an unexpected error occurred; it has been logged",
    )


def from_database_error(error: Exception) -> Response:
    """The database errors that are not bugs.

    * A connection lost mid-request (the server restarted) is 503: the pool
      reconnects for the retry, and a retry under the same Idempotency-Key
      replays the response if the request had committed after all.
    * A number too large for its column (a sum of maximal amounts that would
      overflow a 64-bit balance) is the client's input: 422.
    """
    if _is_unavailable(error):
        log.warning("database unavailable: %s", error)
        return problem(
            503,
            "database_unavailable",
            "Service unavailable",
            "the database is unavailable or the connection was lost; retry (with the same "
            "Idempotency-Key)",
            headers={"Retry-After": "1"},
        )
    if _is_overflow(error):
        return problem(
            422,
            "amount_out_of_range",
            "Validation failed",
            "the amounts involved exceed what the ledger can hold",
            errors={"amount": ["too large for the balances it would change"]},
        )
    return unexpected(error)


#: SQLSTATE classes and codes that mean "the database is not there right now":
#: connection exceptions (08), and the server shutting down, crashed or still
#: starting up (57P01-57P03).
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")


def _is_unavailable(error: Exception) -> bool:
    """The database could not be reached or went away: a retry may succeed.

    Covers a connection lost mid-request, one refused at connect time (no
    SQLSTATE at all: the server never answered), the server shutting down or
    starting up, the pool exhausted, and SQLite's file lock held too long.
    """
    if getattr(error, "connection_invalidated", False) or isinstance(
        error, PoolTimeout | InterfaceError
    ):
        return True
    if not isinstance(error, OperationalError):
        return False
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None)
    if orig is not None and type(orig).__module__.startswith("psycopg"):
        return state is None or state.startswith(_UNAVAILABLE_STATES)
    return getattr(orig, "sqlite_errorname", "") in (
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_CANTOPEN",
    )


def _is_overflow(error: Exception) -> bool:
    """PostgreSQL: SQLSTATE 22003 ``numeric_value_out_of_range`` (``bigint out of
    range``). SQLite has no SQLSTATE: an integer ``sum()`` beyond 64 bits and the
    postings trigger's own guard (migration 0001) both fail with an error that
    starts "integer overflow"."""
    orig = getattr(error, "orig", error)
    if isinstance(orig, pg_errors.NumericValueOutOfRange):
        return True
    return isinstance(orig, sqlite3.Error) and str(orig).startswith("integer overflow")


def install(app: Flask) -> None:
    app.register_error_handler(DataError, from_database_error)
    app.register_error_handler(OperationalError, from_database_error)
    app.register_error_handler(IntegrityError, from_database_error)
    app.register_error_handler(InterfaceError, from_database_error)
    app.register_error_handler(PoolTimeout, from_database_error)
    app.register_error_handler(LedgerError, from_ledger_error)
    app.register_error_handler(Exception, unexpected)
