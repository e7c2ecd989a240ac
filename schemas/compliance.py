"""Reference rates and the audit log."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields

from schemas.common import PageSchema
from schemas.fields import Text, UTCDateTime, nonzero_digits
from service.domain.errors import ValidationFailed
from service.domain.withdrawals import parse_rate


def _rate(value: str) -> None:
    try:
        parse_rate(value)
    except ValidationFailed as exc:
        raise ValidationError(exc.errors["usd"]) from exc


#: A rate: at most 12 integer and 18 decimal digits, above zero.
RATE_PATTERN = f"^(({nonzero_digits(12)})(\\.[0-9]{{1,18}})?|0{{1,12}}\\.({nonzero_digits(18)}))$"


class RatePutSchema(Schema):
    usd = Text(
        required=True, validate=_rate, metadata={"example": "67000.00", "pattern": RATE_PATTERN}
    )


class RateSchema(Schema):
    asset = Text()
    usd = Text()
    updated_at = UTCDateTime(allow_none=True)
    updated_by = Text(allow_none=True)


class RateListSchema(PageSchema):
    items = fields.List(fields.Nested(RateSchema))


class AuditSchema(Schema):
    id = fields.UUID()
    at = UTCDateTime()
    actor = Text()
    action = Text()
    reason = Text()
    details = fields.Dict(keys=Text(), values=fields.Raw())


class AuditPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditSchema))
