"""Reference rates and the audit log."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields

from schemas.common import PageSchema
from schemas.fields import UTCDateTime
from service.domain.errors import ValidationFailed
from service.domain.withdrawals import parse_rate


def _rate(value: str) -> None:
    try:
        parse_rate(value)
    except ValidationFailed as exc:
        raise ValidationError(exc.errors["usd"]) from exc


class RatePutSchema(Schema):
    usd = fields.String(
        required=True, validate=_rate, metadata={"example": "67000.00", "pattern": r"^\d+(\.\d+)?$"}
    )


class RateSchema(Schema):
    asset = fields.String()
    usd = fields.String()
    updated_at = UTCDateTime(allow_none=True)
    updated_by = fields.String(allow_none=True)


class RateListSchema(PageSchema):
    items = fields.List(fields.Nested(RateSchema))


class AuditSchema(Schema):
    id = fields.UUID()
    at = UTCDateTime()
    actor = fields.String()
    action = fields.String()
    reason = fields.String()
    details = fields.Dict(keys=fields.String(), values=fields.Raw())


class AuditPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditSchema))
