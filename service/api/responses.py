"""How a money-moving route answers: once, then by replay (API.md, Idempotency)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, g, request
from marshmallow import Schema
from sqlalchemy import Connection

from service.api import openapi
from service.api.auth import client_country, current_key, idempotency_key
from service.api.runtime import runtime
from service.services.transaction import IdempotencyKey, run_idempotent

F = TypeVar("F", bound=Callable[..., Any])


def moves_money(view: F) -> F:
    """Require the headers a money movement needs before its body is even parsed:
    ``Idempotency-Key`` (400 ``idempotency_key_required``) and the client country."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.idempotency_key = idempotency_key()
        g.client_country = client_country()
        return view(*args, **kwargs)

    return openapi.headers(openapi.IDEMPOTENCY, openapi.COUNTRY)(cast(F, wrapper))


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


_schemas: dict[type[Schema], Schema] = {}


def _instance(schema: type[Schema]) -> Schema:
    """One instance per schema class: building a marshmallow schema deep-copies
    its fields, which would otherwise cost every request a millisecond."""
    found = _schemas.get(schema)
    if found is None:
        found = _schemas[schema] = schema()
    return found


class RawJSON(str):
    """A result that is already its response body: the JSON text ``json.dumps``
    would write of the schema's dump (a hot route's, written out and tested)."""

    __slots__ = ()


def respond_once(
    status: int,
    schema: type[Schema] | Callable[[Any], Any],
    action: Callable[[Connection], Any],
) -> Response:
    """Run ``action`` in one transaction under the request's Idempotency-Key and
    answer with ``schema.dump`` of its result; replays carry ``Idempotent-Replayed``.

    ``schema`` may also be a function equal to a schema's dump (a hot route's
    hand-written one, tested against its schema), or giving its JSON text as
    :class:`RawJSON`."""
    dump = _instance(schema).dump if isinstance(schema, type) else schema
    rt = runtime()
    key = IdempotencyKey.for_request(
        current_key().id,
        g.idempotency_key,
        request.method,
        request.path,
        request.get_json(silent=True),
    )

    def run(tx: Connection) -> tuple[int, str]:
        result = dump(action(tx))
        return status, result if isinstance(result, RawJSON) else json.dumps(result)

    result = run_idempotent(rt.db, key, rt.now(), run)
    response = Response(result.body, status=result.status, mimetype="application/json")
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
