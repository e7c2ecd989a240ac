"""Bearer API keys and per-route roles, plus the other request headers the
contract requires (``Idempotency-Key``, the client country)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request

from schemas.fields import COUNTRY_PATTERN
from service.api import openapi
from service.api.problems import Unauthorized
from service.api.runtime import runtime
from service.domain.errors import BadRequest, Forbidden
from service.domain.roles import ApiKeyRecord, Role, may

F = TypeVar("F", bound=Callable[..., Any])

_IDEMPOTENCY_KEY = re.compile(openapi.IDEMPOTENCY_KEY_PATTERN)

_COUNTRY = re.compile(COUNTRY_PATTERN)

#: Documented in OpenAPI as the security scheme of every /v1 route.
BEARER_SCHEME = {"type": "http", "scheme": "bearer"}


def requires(*roles: Role) -> Callable[[F], F]:
    """Authenticate the bearer key and allow only ``roles`` (and admin); the
    OpenAPI document lists them on the operation."""
    allowed = frozenset(roles) | {Role.ADMIN}

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = authenticate()
            if not may(key.role, allowed):
                raise Forbidden(
                    f"the {key.role.value} role may not use this route", code="forbidden"
                )
            return view(*args, **kwargs)

        return openapi.roles(allowed)(cast(F, wrapper))

    return decorate


def authenticate() -> ApiKeyRecord:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an API key is required: Authorization: Bearer <key>")
    key = runtime().keys.authenticate(token.strip())
    if key is None:
        raise Unauthorized("unknown API key")
    g.api_key = key
    return key


def current_key() -> ApiKeyRecord:
    key = g.get("api_key")
    assert isinstance(key, ApiKeyRecord), "route is missing @requires"
    return key


def idempotency_key() -> str:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        raise BadRequest(
            "this request moves money and needs an Idempotency-Key header",
            code="idempotency_key_required",
        )
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise BadRequest(
            "Idempotency-Key must be 1 to 255 printable ASCII characters, "
            "with no space at either end",
            code="invalid_idempotency_key",
        )
    return value


def client_country() -> str:
    """The client's country, as set by the gateway. Missing or malformed fails closed."""
    header = runtime().settings.country_header
    value = request.headers.get(header, "")
    if not _COUNTRY.fullmatch(value):
        raise BadRequest(
            f"the {header} header (ISO 3166-1 alpha-2 country) is required",
            code="country_required",
        )
    return value.upper()
