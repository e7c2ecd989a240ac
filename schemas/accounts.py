"""Accounts."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import Country, Text, UTCDateTime
from service.domain.accounts import AccountStatus, Tier


class AccountCreateSchema(Schema):
    external_id = Text(required=True, validate=validate.Length(min=1, max=255))
    country = Country(required=True)
    tier = fields.Enum(Tier, by_value=True, load_default=Tier.BASIC)


class AccountSchema(Schema):
    id = fields.UUID()
    external_id = Text()
    country = Text()
    tier = Text()
    status = Text()
    created_at = UTCDateTime()


class AccountPatchSchema(Schema):
    status = fields.Enum(AccountStatus, by_value=True, required=True)
    reason = Text(required=True, validate=validate.Length(min=1, max=1000))
