"""Withdrawals, final withdrawals and chargebacks."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.common import PageSchema, cursor_field, limit_field
from schemas.fields import AssetCode, Money, Text, UTCDateTime
from service.domain.withdrawals import WithdrawalStatus

_DESTINATION = validate.Length(min=1, max=500)
_REASON = validate.Length(min=1, max=1000)


class WithdrawalCreateSchema(Schema):
    account_id = fields.UUID(required=True)
    asset = AssetCode(required=True)
    amount = Money(required=True)
    destination = Text(required=True, validate=_DESTINATION)


class FinalWithdrawalSchema(Schema):
    asset = AssetCode(required=True)
    destination = Text(required=True, validate=_DESTINATION)
    #: Why support closes the account this way (kept in the audit log).
    reason = Text(load_default="", validate=validate.Length(max=1000))


class ReviewSchema(Schema):
    """Approve or reject: an optional reason, kept in the audit log."""

    reason = Text(load_default=None, validate=_REASON)


class CompleteSchema(Schema):
    txid = Text(required=True, validate=validate.Length(min=1, max=255))


class FailSchema(Schema):
    reason = Text(required=True, validate=_REASON)


class WithdrawalSchema(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    kind = Text(metadata={"description": "standard or final"})
    asset = Text()
    amount = Money(dump_only=True)
    destination = Text()
    status = Text(metadata={"enum": [s.value for s in WithdrawalStatus]})
    txid = Text(allow_none=True)
    reason = Text(allow_none=True)
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
    reason = Text(required=True, validate=_REASON)


class ChargebackSchema(Schema):
    deposit_id = fields.UUID()
    status = Text()
    recovered = Money(dump_only=True)
    receivable = Money(dump_only=True)
    id = fields.UUID()
    account_id = fields.UUID()
    asset = Text()
    amount = Money(dump_only=True)
    hold_id = fields.UUID(allow_none=True)
    hold_status = Text(allow_none=True)
    reason = Text()
    created_at = UTCDateTime()
