"""Accounts."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import Country, UTCDateTime
from service.domain.accounts import AccountStatus, Tier


class AccountCreateSchema(Schema):
    external_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    country = Country(required=True)
    tier = fields.String(
        load_default=Tier.BASIC.value, validate=validate.OneOf([t.value for t in Tier])
    )


class AccountSchema(Schema):
    id = fields.UUID()
    external_id = fields.String()
    country = fields.String()
    tier = fields.String()
    status = fields.String()
    created_at = UTCDateTime()


class AccountPatchSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in AccountStatus]))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))
