"""Deposits, quotes, holds, trades, balances and history."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, validate

from schemas.common import PageSchema, cursor_field, limit_field
from schemas.fields import AssetCode, Money, Text, UTCDateTime, plain
from service.domain.holds import HoldStatus, Method
from service.domain.timestamps import format_utc
from service.services.views import DepositView

_REF = validate.Length(min=1, max=255)


class DepositCreateSchema(Schema):
    account_id = fields.UUID(required=True)
    method = fields.Enum(Method, by_value=True, required=True)
    asset = AssetCode(required=True)
    amount = Money(required=True)
    external_ref = Text(required=True, validate=_REF)
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
    method = fields.Enum(Method, by_value=True, required=True)
    asset = AssetCode(required=True)
    amount = Money(required=True)
    at = UTCDateTime(load_default=None)


class QuoteSchema(Schema):
    method = Text()
    asset = Text()
    amount = Money(dump_only=True)
    hold_business_days = fields.Integer()
    available_to_trade_at = UTCDateTime()
    available_to_withdraw_at = UTCDateTime()


class LotSchema(Schema):
    asset = Text()
    amount = Money(dump_only=True)
    status = Text()


class HoldSchema(Schema):
    id = fields.UUID()
    deposit_id = fields.UUID()
    method = Text()
    asset = Text()
    amount = Money(dump_only=True)
    status = Text()
    placed_at = UTCDateTime()
    release_at = UTCDateTime()
    released_at = UTCDateTime(allow_none=True)
    lots = fields.List(fields.Nested(LotSchema))


class DepositSchema(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    method = Text()
    asset = Text()
    amount = Money(dump_only=True)
    status = Text()
    settled_at = UTCDateTime()
    external_ref = Text()
    hold = fields.Nested(HoldSchema, allow_none=True)


class DepositBatchResultSchema(Schema):
    deposits = fields.List(fields.Nested(DepositSchema))


def dump_deposit(view: DepositView) -> dict[str, Any]:
    """``DepositSchema().dump(view)``, written out by hand.

    A settlement file dumps a thousand deposits twice (its response and its
    events), and marshmallow's per-field machinery was the largest share of
    the batch route's time. The contract stays the schema's: same keys in the
    same order, same texts (tests/unit/test_deposit_dump.py compares the two
    on generated deposits). A field added to the schema must be added here.
    """
    hold = view.hold
    return {
        "id": str(view.id),
        "account_id": str(view.account_id),
        "method": view.method,
        "asset": view.asset,
        "amount": str(view.amount),
        "status": view.status,
        "settled_at": format_utc(view.settled_at),
        "external_ref": view.external_ref,
        "hold": None
        if hold is None
        else {
            "id": str(hold.id),
            "deposit_id": str(hold.deposit_id),
            "method": hold.method,
            "asset": hold.asset,
            "amount": str(hold.amount),
            "status": hold.status,
            "placed_at": format_utc(hold.placed_at),
            "release_at": format_utc(hold.release_at),
            "released_at": None if hold.released_at is None else format_utc(hold.released_at),
            "lots": [
                {"asset": lot.asset, "amount": str(lot.amount), "status": lot.status}
                for lot in hold.lots
            ],
        },
    }


def dump_deposit_batch(result: dict[str, list[DepositView]]) -> dict[str, Any]:
    """``DepositBatchResultSchema().dump(result)`` (see :func:`dump_deposit`)."""
    return {"deposits": [dump_deposit(v) for v in result["deposits"]]}


class HoldListArgs(Schema):
    status = fields.Enum(HoldStatus, by_value=True, load_default=None)
    limit = limit_field()
    cursor = cursor_field()


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
    external_ref = Text(required=True, validate=_REF)


class HeldPartSchema(Schema):
    sold = Money(dump_only=True)
    bought = Money(dump_only=True)


class TradeSchema(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    sell_asset = Text()
    sell_amount = Money(dump_only=True)
    buy_asset = Text()
    buy_amount = Money(dump_only=True)
    fee_asset = Text()
    fee_amount = Money(dump_only=True)
    held_part = fields.Nested(HeldPartSchema)
    external_ref = Text()
    created_at = UTCDateTime()


class BalanceSchema(Schema):
    asset = Text()
    total = Money(dump_only=True)
    available_to_trade = Money(dump_only=True)
    available_to_withdraw = Money(dump_only=True)
    temporary_holds = Money(dump_only=True)
    pending_withdrawals = Money(dump_only=True)
    next_release_at = UTCDateTime(allow_none=True)


class BalancesSchema(Schema):
    account_id = fields.UUID()
    as_of = UTCDateTime()
    balances = fields.List(fields.Nested(BalanceSchema))


class HoldRefSchema(Schema):
    id = fields.UUID()
    release_at = UTCDateTime()
    status = Text(metadata={"enum": [s.value for s in HoldStatus]})


class ReleasedLotSchema(Schema):
    asset = Text()
    amount = Money(dump_only=True)


class TransactionSchema(Schema):
    """One line of history. Every line has the first six fields; the others
    belong to the line's ``type``: a deposit's ``method``, ``external_ref``,
    ``settled_at`` and ``hold``; a trade's ``buy_*``, ``fee_amount``,
    ``held_part`` and ``external_ref``; a withdrawal's ``kind``,
    ``destination``, ``txid``, ``reason`` and ``updated_at``; a chargeback's
    ``deposit_id``, ``recovered``, ``receivable`` and ``reason``; a hold
    release's ``hold_id``, ``deposit_id`` and ``lots`` (every asset it freed;
    ``asset``/``amount`` are the lot in the deposit's asset, or the first)."""

    id = fields.UUID()
    type = Text(metadata={"enum": ["deposit", "trade", "withdrawal", "hold_release", "chargeback"]})
    status = Text()
    created_at = UTCDateTime()
    asset = Text()
    amount = Money(dump_only=True, allow_none=True)
    # deposit
    method = Text(dump_only=True, metadata={"enum": [m.value for m in Method]})
    external_ref = Text(dump_only=True)
    settled_at = UTCDateTime(dump_only=True)
    hold = fields.Nested(HoldRefSchema, dump_only=True, allow_none=True)
    # trade
    buy_asset = Text(dump_only=True)
    buy_amount = Money(dump_only=True)
    fee_amount = Money(dump_only=True, positive=False)
    held_part = fields.Nested(HeldPartSchema, dump_only=True)
    # withdrawal
    kind = Text(dump_only=True)
    destination = Text(dump_only=True)
    txid = Text(dump_only=True, allow_none=True)
    reason = Text(dump_only=True, allow_none=True)
    updated_at = UTCDateTime(dump_only=True)
    # chargeback, hold release
    deposit_id = fields.UUID(dump_only=True)
    recovered = Money(dump_only=True)
    receivable = Money(dump_only=True)
    # hold release
    hold_id = fields.UUID(dump_only=True)
    lots = fields.List(fields.Nested(ReleasedLotSchema), dump_only=True)

    @post_dump(pass_original=True)
    def _merge_details(self, data: dict[str, Any], original: Any, **_: Any) -> dict[str, Any]:
        data.update(plain(original.details))
        return data


class TransactionPageSchema(PageSchema):
    items = fields.List(fields.Nested(TransactionSchema))
