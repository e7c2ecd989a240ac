"""Withdrawals, final withdrawals and chargebacks."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.common import PageSchema, cursor_field, limit_field
from schemas.fields import AssetCode, Money, UTCDateTime
from service.domain.withdrawals import WithdrawalStatus

_DESTINATION = validate.Length(min=1, max=500)
_REASON = validate.Length(min=1, max=1000)


class WithdrawalCreateSchema(Schema):
    account_id = fields.UUID(required=True)
    asset = AssetCode(required=True)
    amount = Money(required=True)
    destination = fields.String(required=True, validate=_DESTINATION)


class FinalWithdrawalSchema(Schema):
    asset = AssetCode(required=True)
    destination = fields.String(required=True, validate=_DESTINATION)
    #: Why support closes the account this way (kept in the audit log).
    reason = fields.String(load_default="", validate=validate.Length(max=1000))


class ReviewSchema(Schema):
    """Approve or reject: an optional reason, kept in the audit log."""

    reason = fields.String(load_default=None, validate=_REASON)


class CompleteSchema(Schema):
    txid = fields.String(required=True, validate=validate.Length(min=1, max=255))


class FailSchema(Schema):
    reason = fields.String(required=True, validate=_REASON)


class WithdrawalSchema(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    kind = fields.String(metadata={"description": "standard or final"})
    asset = fields.String()
    amount = Money(dump_only=True)
    destination = fields.String()
    status = fields.String(metadata={"enum": [s.value for s in WithdrawalStatus]})
    txid = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = UTCDateTime()
    updated_at = UTCDateTime()


class WithdrawalListArgs(Schema):
    account_id = fields.UUID(load_default=None)
    status = fields.Enum(WithdrawalStatus, by_value=True, load_default=None)
    limit = limit_field()
    cursor = cursor_field()


class WithdrawalPageSchema(PageSchema):
    items = fields.List(fields.Nested(WithdrawalSchema))


class ChargebackCreateSchema(Schema):
    reason = fields.String(required=True, validate=_REASON)


class ChargebackSchema(Schema):
    deposit_id = fields.UUID()
    status = fields.String()
    recovered = Money(dump_only=True)
    receivable = Money(dump_only=True)
    id = fields.UUID()
    account_id = fields.UUID()
    asset = fields.String()
    amount = Money(dump_only=True)
    hold_id = fields.UUID(allow_none=True)
    hold_status = fields.String(allow_none=True)
    reason = fields.String()
    created_at = UTCDateTime()
