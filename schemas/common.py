"""Schemas shared by every route: problems, pagination."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

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

    type = fields.String(
        required=True, metadata={"description": "/problems/<code>", "example": "/problems/x"}
    )
    title = fields.String(required=True)
    status = fields.Integer(required=True, metadata={"minimum": 400, "maximum": 599})
    detail = fields.String(required=True)
    code = fields.String(required=True, metadata={"pattern": "^[a-z][a-z0-9_]*$"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "field (or batch item index) → messages"},
    )


def cursor_field() -> fields.String:
    """``?cursor=``: the ``next_cursor`` of the previous page (400
    ``invalid_cursor`` for anything this service did not issue)."""
    return fields.String(
        load_default=None,
        metadata={"pattern": CURSOR_PATTERN, "description": "`next_cursor` of the previous page"},
    )


def limit_field() -> fields.Integer:
    return fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class PageArgs(Schema):
    limit = limit_field()
    cursor = cursor_field()


class PageSchema(Schema):
    next_cursor = fields.String(
        allow_none=True,
        metadata={"pattern": CURSOR_PATTERN, "description": "null on the last page"},
    )
