"""Deposits, quotes, holds, trades, balances and history."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, validate

from schemas.common import PageSchema
from schemas.fields import AssetCode, Money, UTCDateTime, plain
from service.domain.holds import HoldStatus, Method

_METHODS = validate.OneOf([m.value for m in Method])
_REF = validate.Length(min=1, max=255)


class DepositCreateSchema(Schema):
    account_id = fields.UUID(required=True)
    method = fields.String(required=True, validate=_METHODS)
    asset = AssetCode(required=True)
    amount = Money(required=True)
    external_ref = fields.String(required=True, validate=_REF)
    settled_at = UTCDateTime(load_default=None)


class DepositBatchSchema(Schema):
    """A settlement file: 1 to 1,000 deposits, recorded all or nothing."""

    deposits = fields.List(
        fields.Nested(DepositCreateSchema), required=True, validate=validate.Length(min=1, max=1000)
    )

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs: Any) -> None:
        """Key item errors by the item's index (``{"3": {"amount": [...]}}``), as API.md says."""
        messages = error.messages
        if isinstance(messages, dict) and isinstance(messages.get("deposits"), dict):
            items = messages["deposits"]
            if all(isinstance(k, int) for k in items):
                raise ValidationError({str(k): v for k, v in items.items()}) from error
        raise error


class QuoteRequestSchema(Schema):
    account_id = fields.UUID(required=True)
    method = fields.String(required=True, validate=_METHODS)
    asset = AssetCode(required=True)
    amount = Money(required=True)
    at = UTCDateTime(load_default=None)


class QuoteSchema(Schema):
    method = fields.String()
    asset = fields.String()
    amount = Money()
    hold_business_days = fields.Integer()
    available_to_trade_at = UTCDateTime()
    available_to_withdraw_at = UTCDateTime()


class LotSchema(Schema):
    asset = fields.String()
    amount = Money()
    status = fields.String()


class HoldSchema(Schema):
    id = fields.UUID()
    deposit_id = fields.UUID()
    method = fields.String()
    asset = fields.String()
    amount = Money()
    status = fields.String()
    placed_at = UTCDateTime()
    release_at = UTCDateTime()
    released_at = UTCDateTime(allow_none=True)
    lots = fields.List(fields.Nested(LotSchema))


class DepositSchema(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    method = fields.String()
    asset = fields.String()
    amount = Money()
    status = fields.String()
    settled_at = UTCDateTime()
    external_ref = fields.String()
    hold = fields.Nested(HoldSchema, allow_none=True)


class DepositBatchResultSchema(Schema):
    deposits = fields.List(fields.Nested(DepositSchema))


class HoldListArgs(Schema):
    status = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in HoldStatus])
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None)


class HoldPageSchema(PageSchema):
    items = fields.List(fields.Nested(HoldSchema))


class TradeCreateSchema(Schema):
    account_id = fields.UUID(required=True)
    sell_asset = AssetCode(required=True)
    sell_amount = Money(required=True)
    buy_asset = AssetCode(required=True)
    buy_amount = Money(required=True)
    fee_asset = AssetCode(load_default=None)
    fee_amount = Money(load_default=None, positive=False)
    external_ref = fields.String(required=True, validate=_REF)


class HeldPartSchema(Schema):
    sold = Money()
    bought = Money()


class TradeSchema(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    sell_asset = fields.String()
    sell_amount = Money()
    buy_asset = fields.String()
    buy_amount = Money()
    fee_asset = fields.String()
    fee_amount = Money()
    held_part = fields.Nested(HeldPartSchema)
    external_ref = fields.String()
    created_at = UTCDateTime()


class BalanceSchema(Schema):
    asset = fields.String()
    total = Money()
    available_to_trade = Money()
    available_to_withdraw = Money()
    temporary_holds = Money()
    pending_withdrawals = Money()
    next_release_at = UTCDateTime(allow_none=True)


class BalancesSchema(Schema):
    account_id = fields.UUID()
    as_of = UTCDateTime()
    balances = fields.List(fields.Nested(BalanceSchema))


class TransactionSchema(Schema):
    id = fields.UUID()
    type = fields.String()
    status = fields.String()
    created_at = UTCDateTime()
    asset = fields.String()
    amount = Money(allow_none=True)
    details = fields.Raw(load_only=True)

    @post_dump(pass_original=True)
    def _merge_details(self, data: dict[str, Any], original: Any, **_: Any) -> dict[str, Any]:
        data.update(plain(original.details))
        return data


class TransactionPageSchema(PageSchema):
    items = fields.List(fields.Nested(TransactionSchema))
