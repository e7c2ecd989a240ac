"""What the OpenAPI document tells a client beyond flask-smorest's defaults.

flask-smorest documents bodies, query strings and success responses from the
marshmallow schemas. This module adds what the routes' decorators know and the
schemas do not:

* the roles allowed on each operation (``x-roles``, the description, and the
  bearer security requirement), from :func:`service.api.auth.requires`;
* the request headers an operation reads (``Idempotency-Key``, the client
  country header), from :func:`service.api.responses.moves_money` and
  :func:`headers`;
* the errors as they are actually sent: RFC 9457 ``application/problem+json``
  with the :class:`~schemas.common.ProblemSchema` body, per status the
  operation can answer;
* the shape of path parameters that are plain strings to Flask (dates,
  deposit methods, asset codes).

Each decorator leaves a marker in the operation's doc; :class:`LedgerDocs`, an
apispec plugin, turns the markers into parameters and responses when the
document is built, so a route states each fact once.
"""

from __future__ import annotations

import http
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from apispec import APISpec, BasePlugin
from flask_smorest import Blueprint

from schemas.common import ProblemSchema
from schemas.fields import ASSET_PATTERN, COUNTRY_PATTERN, DATE_PATTERN
from service.domain.holds import Method
from service.domain.roles import Role

F = TypeVar("F", bound=Callable[..., Any])

PROBLEM_JSON = "application/problem+json"

#: Marker keys a decorator leaves in an operation's doc (removed by the plugin).
ROLES_KEY = "x-roles"
HEADERS_KEY = "x-ledger-headers"

#: Header names as markers (the country header's real name is a setting).
IDEMPOTENCY = "idempotency"
COUNTRY = "country"

#: Printable ASCII, 1 to 255 characters, no space at either end (HTTP strips
#: those, so a key with them could not be replayed as sent).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"

_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "day": {"type": "string", "format": "date", "pattern": DATE_PATTERN},
    "method": {"type": "string", "enum": [m.value for m in Method]},
    "asset": {"type": "string", "pattern": ASSET_PATTERN},
}

_WRITES = {"post", "put", "patch", "delete"}


def _mark(key: str, value: Any) -> Callable[[F], F]:
    return cast(Callable[[F], F], Blueprint.doc(**{key: value}))


def roles(allowed: Iterable[Role]) -> Callable[[F], F]:
    """Document the roles an operation allows (admin is always among them)."""
    return _mark(ROLES_KEY, sorted(role.value for role in allowed))


def headers(*names: str) -> Callable[[F], F]:
    """Document the request headers an operation requires (:data:`IDEMPOTENCY`,
    :data:`COUNTRY`)."""
    return _mark(HEADERS_KEY, list(names))


def register_components(spec: APISpec, *, country_header: str) -> None:
    """The header parameters, referenced by the operations that need them."""
    spec.components.parameter(
        "IdempotencyKey",
        "header",
        {
            "name": "Idempotency-Key",
            "required": True,
            "description": "Makes a money movement safe to retry: the same key with the same "
            "body replays the first answer (`Idempotent-Replayed: true`); with another body "
            "→ 409 `idempotency_key_reused`; missing → 400 `idempotency_key_required`. "
            "Kept per API key for at least 30 days.",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": IDEMPOTENCY_KEY_PATTERN,
            },
        },
    )
    spec.components.parameter(
        "ClientCountry",
        "header",
        {
            "name": country_header,
            "required": True,
            "description": "The client's country (ISO 3166-1 alpha-2), set by the gateway. "
            "Missing → 400 `country_required`; a blocked country → 403 "
            "`jurisdiction_blocked`.",
            "schema": {"type": "string", "pattern": COUNTRY_PATTERN},
        },
    )


def problem_response(status: http.HTTPStatus) -> dict[str, Any]:
    """A component response: the problem body flask-smorest documents, sent as
    ``application/problem+json`` (its default is ``application/json``)."""
    return {
        "description": status.phrase,
        "content": {PROBLEM_JSON: {"schema": ProblemSchema}},
    }


class LedgerDocs(BasePlugin):
    """Turns the routes' markers into parameters, security and problem responses."""

    def path_helper(
        self,
        path: str | None = None,
        operations: dict[str, Any] | None = None,
        parameters: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        for parameter in parameters or []:
            if parameter.get("in") == "path" and parameter.get("name") in _PATH_PARAMETERS:
                parameter["schema"] = dict(_PATH_PARAMETERS[parameter["name"]])

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            self._operation(path or "", method, operation)

    def _operation(self, path: str, method: str, operation: dict[str, Any]) -> None:
        responses = operation.setdefault("responses", {})
        statuses: set[int] = {503}
        allowed = operation.get(ROLES_KEY)
        if allowed:
            operation["security"] = [{"bearer": []}]
            listed = ", ".join(f"`{role}`" for role in allowed)
            text = operation.get("description", "")
            operation["description"] = f"{text}\n\nRoles: {listed}.".lstrip()
            statuses |= {401, 403}
        for name in operation.pop(HEADERS_KEY, []):
            ref = "IdempotencyKey" if name == IDEMPOTENCY else "ClientCountry"
            operation.setdefault("parameters", []).append(ref)
            statuses.add(400)
        if "{" in path:
            statuses.add(404)
        if "requestBody" in operation:
            statuses |= {400, 413, 422}
        if method in _WRITES:
            statuses.add(409)
        if operation.get("parameters") or "requestBody" in operation:
            statuses.add(422)
        documented = {str(code) for code in responses}
        for status in sorted(statuses):
            if str(status) not in documented:
                responses[str(status)] = http.HTTPStatus(status).name
