"""Calendar, hold policies and jobs."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import IsoDate, Text, UTCDateTime
from service.domain.holds import MAX_HOLD_DAYS


class BusinessDaysArgs(Schema):
    from_ = IsoDate(required=True, data_key="from")
    to = IsoDate(required=True)


class BusinessDaysSchema(Schema):
    days = fields.List(fields.Date())


class HolidayArgs(Schema):
    year = fields.Integer(required=True, validate=validate.Range(min=1, max=9999))


class HolidaySchema(Schema):
    date = fields.Date()
    name = Text()
    source = Text()


class OverrideSchema(Schema):
    business_day = fields.Boolean(required=True, truthy={True}, falsy={False})
    name = Text(required=True, validate=validate.Length(min=1, max=200))


class OverrideResultSchema(Schema):
    date = fields.Date(attribute="day")
    business_day = fields.Boolean(allow_none=True)
    name = Text()
    holds_recomputed = fields.Integer()


class PolicySchema(Schema):
    business_days = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=MAX_HOLD_DAYS)
    )


class AccountPolicySchema(Schema):
    business_days = fields.Integer(
        required=True,
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=MAX_HOLD_DAYS),
    )


class PoliciesSchema(Schema):
    policies = fields.Dict(keys=Text(), values=fields.Integer())


class ReleaseJobSchema(Schema):
    as_of = UTCDateTime(load_default=None)


class ReleaseResultSchema(Schema):
    released = fields.Integer()
    as_of = Text()
    totals = fields.Dict(keys=Text(), values=Text())
    batches = fields.Integer()
    duration_seconds = fields.Float()
    dry_run = fields.Boolean()
