"""Deposits, quotes, trades, balances, holds and history."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.common import PageArgs
from schemas.money import (
    BalancesSchema,
    DepositBatchResultSchema,
    DepositBatchSchema,
    DepositCreateSchema,
    DepositSchema,
    HoldListArgs,
    HoldPageSchema,
    QuoteRequestSchema,
    QuoteSchema,
    TradeCreateSchema,
    TradeSchema,
    TransactionPageSchema,
)
from service.api.auth import requires
from service.api.geofence import guard
from service.api.responses import RawJSON, moves_money, respond_once
from service.api.runtime import runtime
from service.domain.roles import READERS, Role
from service.services import balances, deposits, holds, trades
from service.services.views import BalancesView, Page, QuoteView

blp = Blueprint("money", __name__, description="Deposits, trades, balances and holds")


def _as_is(body: Any) -> Any:
    """The deposit routes' results are already their JSON text (``json.dumps``
    of ``DepositSchema().dump``, :func:`schemas.money.new_deposit_json`, made
    with the data of the ``deposit.settled`` events)."""
    return body


def deposit_command(body: dict[str, Any]) -> deposits.DepositCommand:
    return deposits.DepositCommand(
        account_id=body["account_id"],
        method=body["method"],
        asset=body["asset"],
        amount=body["amount"],
        external_ref=body["external_ref"],
        settled_at=body["settled_at"],
    )


@blp.route("/deposits")
class Deposits(MethodView):
    @requires(Role.PAYMENTS)
    @moves_money
    @blp.arguments(DepositCreateSchema)
    @blp.response(201, DepositSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Record a settled deposit (payments). Card and PayPal deposits are held.

        Requires `Idempotency-Key`. `(method, external_ref)` is unique.
        """
        guard(body["account_id"])
        rt = runtime()
        cmd = deposit_command(body)
        return respond_once(
            201,
            _as_is,
            lambda tx: RawJSON(
                deposits.record_deposits_json(
                    tx, [cmd], settings=rt.settings, now=rt.now(), batch=False
                )[0]
            ),
        )


@blp.route("/deposits/batch")
class DepositBatch(MethodView):
    @requires(Role.PAYMENTS)
    @moves_money
    @blp.arguments(DepositBatchSchema)
    @blp.response(201, DepositBatchResultSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Record a settlement file: 1 to 1,000 deposits, all or nothing.

        Each deposit is validated and held exactly as by `POST /v1/deposits`. Any
        invalid item → 422 with `errors` keyed by the item's index; a duplicate
        `(method, external_ref)`, within the batch or with an earlier deposit, →
        409 `duplicate_deposit` with the item's `index`. Nothing is written unless
        everything is. Idempotent as a whole under one `Idempotency-Key`.
        """
        guard(*(item["account_id"] for item in body["deposits"]))
        rt = runtime()
        cmds = [deposit_command(item) for item in body["deposits"]]
        return respond_once(
            201,
            _as_is,
            lambda tx: RawJSON(
                '{"deposits": ['
                + ", ".join(
                    deposits.record_deposits_json(tx, cmds, settings=rt.settings, now=rt.now())
                )
                + "]}"
            ),
        )


@blp.route("/deposits/quote")
class DepositQuote(MethodView):
    @requires(Role.TRADING, Role.PAYMENTS)
    @blp.arguments(QuoteRequestSchema)
    @blp.response(200, QuoteSchema)
    def post(self, body: dict[str, Any]) -> QuoteView:
        """Preview: available to trade instantly, to withdraw after the hold. Changes nothing."""
        rt = runtime()
        with rt.db.read() as conn:
            return deposits.quote(
                conn,
                account_id=body["account_id"],
                method=body["method"],
                asset=body["asset"],
                amount=body["amount"],
                at=body["at"] or rt.now(),
                settings=rt.settings,
            )


@blp.route("/trades")
class Trades(MethodView):
    @requires(Role.TRADING)
    @moves_money
    @blp.arguments(TradeCreateSchema)
    @blp.response(201, TradeSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Settle a fill: spends held funds first; the held part of the proceeds stays held."""
        guard(body["account_id"])
        rt = runtime()
        cmd = trades.TradeCommand(**body)
        return respond_once(201, TradeSchema, lambda tx: trades.settle_trade(tx, cmd, now=rt.now()))


@blp.route("/accounts/<uuid:account_id>/balances")
class Balances(MethodView):
    @requires(*READERS)
    @blp.response(200, BalancesSchema)
    def get(self, account_id: uuid.UUID) -> BalancesView:
        """Balances per asset: available to trade, to withdraw, Temporary Holds."""
        rt = runtime()
        return balances.account_balances(rt.db, account_id, rt.now())


@blp.route("/accounts/<uuid:account_id>/holds")
class Holds(MethodView):
    @requires(*READERS)
    @blp.arguments(HoldListArgs, location="query")
    @blp.response(200, HoldPageSchema)
    def get(self, args: dict[str, Any], account_id: uuid.UUID) -> Page[Any]:
        """The account's holds, newest first, with their lots."""
        rt = runtime()
        balances.release_then(rt.db, account_id, rt.now())
        with rt.db.read() as conn:
            return holds.list_holds(
                conn, account_id, status=args["status"], limit=args["limit"], cursor=args["cursor"]
            )


@blp.route("/accounts/<uuid:account_id>/transactions")
class Transactions(MethodView):
    @requires(*READERS)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, TransactionPageSchema)
    def get(self, args: dict[str, Any], account_id: uuid.UUID) -> Page[Any]:
        """History, newest first. Deposits show as settled, with their hold."""
        with runtime().db.read() as conn:
            return balances.account_transactions(
                conn, account_id, limit=args["limit"], cursor=args["cursor"]
            )
