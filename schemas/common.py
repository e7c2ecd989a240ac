"""Schemas shared by every route: problems, pagination."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from schemas.fields import Text
from service.services.pagination import CURSOR_PATTERN


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error is sent (``application/problem+json``).

    ``code`` is the stable machine-readable error; ``errors`` (validation
    failures) maps each field, or a batch item's index, to its messages. Some
    problems add members of their own (``available_to_withdraw``,
    ``temporary_holds``, ``next_release_at``, ``limit``, ``used``, ``asset``,
    ``country``, ``index``...), so other members are allowed.
    """

    class Meta:
        unknown = INCLUDE

    type = Text(
        required=True, metadata={"description": "/problems/<code>", "example": "/problems/x"}
    )
    title = Text(required=True)
    status = fields.Integer(required=True, metadata={"minimum": 400, "maximum": 599})
    detail = Text(required=True)
    code = Text(required=True, metadata={"pattern": "^[a-z][a-z0-9_]*$"})
    errors = fields.Dict(
        keys=Text(),
        values=fields.Raw(),
        metadata={"description": "field (or batch item index) → messages"},
    )


def cursor_field() -> fields.String:
    """``?cursor=``: the ``next_cursor`` of the previous page (400
    ``invalid_cursor`` for anything this service did not issue)."""
    return Text(
        load_default=None,
        metadata={"pattern": CURSOR_PATTERN, "description": "`next_cursor` of the previous page"},
    )


def limit_field() -> fields.Integer:
    return fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class PageArgs(Schema):
    limit = limit_field()
    cursor = cursor_field()


class PageSchema(Schema):
    next_cursor = Text(
        allow_none=True,
        metadata={"pattern": CURSOR_PATTERN, "description": "null on the last page"},
    )
