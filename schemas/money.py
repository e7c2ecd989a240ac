"""Deposits, quotes, holds, trades, balances and history."""

from __future__ import annotations

import json
import json.encoder
import re
import uuid
from collections.abc import Callable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_dump, validate
from marshmallow.types import UnknownOption

from schemas.common import PageSchema, cursor_field, limit_field
from schemas.fields import CONTROL_CHARACTERS, AssetCode, Money, Text, UTCDateTime, plain
from service.domain.holds import HoldStatus, Method
from service.domain.money import AmountError, parse_decimal

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

    def load(
        self,
        data: Any,
        *,
        many: bool | None = None,
        partial: Any = None,
        unknown: UnknownOption | None = None,
    ) -> Any:
        """The schema's load, by :func:`load_deposit_batch` when it can (a
        valid settlement file), else by marshmallow (every error is the schema's)."""
        if many is None and partial is None and unknown in (None, RAISE):
            loaded = load_deposit_batch(data)
            if loaded is not None:
                return loaded
        return super().load(data, many=many, partial=partial, unknown=unknown)

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs: Any) -> None:
        """Key item errors by the item's index (``{"3": {"amount": [...]}}``), as API.md says."""
        messages = error.messages
        if isinstance(messages, dict) and isinstance(messages.get("deposits"), dict):
            items = messages["deposits"]
            if all(isinstance(k, int) for k in items):
                raise ValidationError({str(k): v for k, v in items.items()}) from error
        raise error


_DEPOSIT_KEYS = frozenset(DepositCreateSchema._declared_fields)
_METHODS = {m.value: m for m in Method}
_ASSET = re.compile(r"[A-Za-z0-9]{1,16}")
_SETTLED_AT = DepositCreateSchema._declared_fields["settled_at"]


def load_deposit_batch(data: Any) -> dict[str, Any] | None:
    """``DepositBatchSchema().load(data)`` for a valid settlement file, written
    out by hand; ``None`` at the first thing it does not accept, and the caller
    then loads with the schema, so errors (codes, messages, fields) stay the
    schema's. Marshmallow's per-field machinery cost a settlement file about
    25 ms of its request. The same values as the schema's, in the same key
    order (tests/unit/test_deposit_load.py compares the two on generated
    bodies, valid and not). A field added to :class:`DepositCreateSchema`
    makes every item fall back until it is added here.
    """
    if type(data) is not dict or len(data) != 1:
        return None
    items = data.get("deposits")
    if type(items) is not list or not 1 <= len(items) <= 1000:
        return None
    methods, asset_re, control, keys = _METHODS, _ASSET, CONTROL_CHARACTERS, _DEPOSIT_KEYS
    settled_cache: dict[str, Any] = {}
    loaded = []
    try:
        for item in items:
            if type(item) is not dict or not keys.issuperset(item):
                return None
            account_id, method, asset = item["account_id"], item["method"], item["asset"]
            amount, ref = item["amount"], item["external_ref"]
            if (
                type(account_id) is not str
                or type(method) is not str
                or type(asset) is not str
                or type(amount) is not str
                or type(ref) is not str
                or asset_re.fullmatch(asset) is None
                or not 1 <= len(ref) <= 255
                or control.search(ref) is not None
            ):
                return None
            value = parse_decimal(amount)
            if value <= 0:
                return None
            settled_at = item.get("settled_at")
            if settled_at is not None:
                if type(settled_at) is not str:
                    return None
                found = settled_cache.get(settled_at)
                if found is None:
                    found = settled_cache[settled_at] = _SETTLED_AT.deserialize(settled_at)
                settled_at = found
            loaded.append(
                {
                    "account_id": uuid.UUID(account_id),
                    "method": methods[method],
                    "asset": asset.upper(),
                    "amount": value,
                    "external_ref": ref,
                    "settled_at": settled_at,
                }
            )
    except (KeyError, ValueError, AmountError, ValidationError):
        return None
    return {"deposits": loaded}


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


def new_deposit_json(
    deposit_id: str,
    account_id: str,
    method: str,
    asset: str,
    amount: str,
    settled_at: str,
    external_ref: str,
    hold_id: str | None,
    placed_at: str,
    release_at: str | None,
) -> tuple[str, str]:
    """``DepositSchema().dump`` of a deposit just recorded (settled; if held, its
    hold active with one lot, the deposit's amount), as JSON text twice: as
    ``json.dumps`` writes it (the response) and compact and not ASCII-escaped
    (a ``deposit.settled`` event's data). Written from the texts: ids, times,
    amounts and the method need no escaping; the asset and the reference are
    escaped as ``json`` escapes them. A settlement file's dicts and their
    encoding cost about 25 ms a request. tests/unit/test_deposit_dump.py
    compares both texts with ``json.dumps`` of the schema's dump."""
    i, m, n, t = deposit_id, method, amount, settled_at
    a, r = _ascii(asset), _ascii(external_ref)
    ae, re_ = _escape(asset), _escape(external_ref)
    if hold_id is None:
        hold = event_hold = "null"
    else:
        h, p, w = hold_id, placed_at, release_at
        hold = (
            f'{{"id": "{h}", "deposit_id": "{i}", "method": "{m}", "asset": {a}, '
            f'"amount": "{n}", "status": "active", "placed_at": "{p}", "release_at": "{w}", '
            f'"released_at": null, "lots": [{{"asset": {a}, "amount": "{n}", '
            f'"status": "active"}}]}}'
        )
        event_hold = (
            f'{{"id":"{h}","deposit_id":"{i}","method":"{m}","asset":{ae},'
            f'"amount":"{n}","status":"active","placed_at":"{p}","release_at":"{w}",'
            f'"released_at":null,"lots":[{{"asset":{ae},"amount":"{n}","status":"active"}}]}}'
        )
    return (
        f'{{"id": "{i}", "account_id": "{account_id}", "method": "{m}", "asset": {a}, '
        f'"amount": "{n}", "status": "settled", "settled_at": "{t}", "external_ref": {r}, '
        f'"hold": {hold}}}',
        f'{{"id":"{i}","account_id":"{account_id}","method":"{m}","asset":{ae},'
        f'"amount":"{n}","status":"settled","settled_at":"{t}","external_ref":{re_},'
        f'"hold":{event_hold}}}',
    )


_ascii: Callable[[str], str] = json.encoder.encode_basestring_ascii
_escape: Callable[[str], str] = json.encoder.encode_basestring


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


class ReleasedHoldSchema(Schema):
    hold_id = fields.UUID()
    deposit_id = fields.UUID()


class TransactionSchema(Schema):
    """One line of history. Every line has the first six fields; the others
    belong to the line's ``type``: a deposit's ``method``, ``external_ref``,
    ``settled_at`` and ``hold``; a trade's ``buy_*``, ``fee_amount``,
    ``held_part`` and ``external_ref``; a withdrawal's ``kind``,
    ``destination``, ``txid``, ``reason`` and ``updated_at``; a chargeback's
    ``deposit_id``, ``recovered``, ``receivable`` and ``reason``; a hold
    release's ``hold_id``, ``deposit_id``, ``holds`` and ``lots`` (one release
    entry frees every hold of the account released in one batch: ``holds``
    lists each with its deposit, ``hold_id``/``deposit_id`` name the first;
    ``lots`` is every asset it freed, summed; ``asset``/``amount`` are the
    lot in the first hold's deposit asset, or the first)."""

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
    holds = fields.List(fields.Nested(ReleasedHoldSchema), dump_only=True)
    lots = fields.List(fields.Nested(ReleasedLotSchema), dump_only=True)

    @post_dump(pass_original=True)
    def _merge_details(self, data: dict[str, Any], original: Any, **_: Any) -> dict[str, Any]:
        data.update(plain(original.details))
        return data


class TransactionPageSchema(PageSchema):
    items = fields.List(fields.Nested(TransactionSchema))
