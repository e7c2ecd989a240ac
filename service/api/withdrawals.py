"""Withdrawals: request (trading), review (compliance), payout results
(payments), final withdrawals (compliance), reads.

Every POST here moves money or decides that it will move, so each needs an
``Idempotency-Key`` and passes the geofence for the withdrawal's account.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.withdrawals import (
    CompleteSchema,
    FailSchema,
    FinalWithdrawalSchema,
    ReviewSchema,
    WithdrawalCreateSchema,
    WithdrawalListArgs,
    WithdrawalPageSchema,
    WithdrawalSchema,
)
from service.api.auth import current_key, requires
from service.api.geofence import guard
from service.api.responses import moves_money, respond_once
from service.api.runtime import runtime
from service.domain.roles import READERS, REVIEW_WITHDRAWALS, Role
from service.domain.withdrawals import Transition
from service.services import withdrawals
from service.services.accounts import get_account
from service.services.views import Page

blp = Blueprint("withdrawals", __name__, description="Withdrawals and final withdrawals")


@blp.route("/withdrawals")
class Withdrawals(MethodView):
    @requires(Role.TRADING)
    @moves_money
    @blp.arguments(WithdrawalCreateSchema)
    @blp.response(201, WithdrawalSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Request a withdrawal from Available (trading). `pending`, or `review` above
        the review threshold. Never more than `available_to_withdraw`; daily limits by tier.
        """
        guard(body["account_id"])
        rt = runtime()
        cmd = withdrawals.WithdrawalCommand(**body)
        return respond_once(
            201,
            WithdrawalSchema,
            lambda tx: withdrawals.request_withdrawal(tx, cmd, settings=rt.settings, now=rt.now()),
        )

    @requires(*READERS)
    @blp.arguments(WithdrawalListArgs, location="query")
    @blp.response(200, WithdrawalPageSchema)
    def get(self, args: dict[str, Any]) -> Page[Any]:
        """Withdrawals newest first, by account and/or status (e.g. `status=review`)."""
        status = args["status"]
        with runtime().db.read() as conn:
            return withdrawals.list_withdrawals(
                conn,
                account_id=args["account_id"],
                status=status,
                limit=args["limit"],
                cursor=args["cursor"],
            )


@blp.route("/withdrawals/<uuid:withdrawal_id>")
class Withdrawal(MethodView):
    @requires(*READERS)
    @blp.response(200, WithdrawalSchema)
    def get(self, withdrawal_id: uuid.UUID) -> withdrawals.WithdrawalView:
        """One withdrawal."""
        with runtime().db.read() as conn:
            return withdrawals.get_withdrawal(conn, withdrawal_id)


def _transition(
    withdrawal_id: uuid.UUID,
    action: Transition,
    *,
    txid: str | None = None,
    reason: str | None = None,
) -> Response:
    rt = runtime()
    with rt.db.read() as conn:
        account_id = withdrawals.account_of(conn, withdrawal_id)
    guard(account_id)
    actor = current_key().name
    return respond_once(
        200,
        WithdrawalSchema,
        lambda tx: withdrawals.transition(
            tx, withdrawal_id, action, actor=actor, now=rt.now(), txid=txid, reason=reason
        ),
    )


@blp.route("/withdrawals/<uuid:withdrawal_id>/approve")
class Approve(MethodView):
    @requires(*REVIEW_WITHDRAWALS)
    @moves_money
    @blp.arguments(ReviewSchema)
    @blp.response(200, WithdrawalSchema)
    def post(self, body: dict[str, Any], withdrawal_id: uuid.UUID) -> Response:
        """Approve a withdrawal in `review` (compliance): it becomes `pending`."""
        return _transition(withdrawal_id, Transition.APPROVE, reason=body["reason"])


@blp.route("/withdrawals/<uuid:withdrawal_id>/reject")
class Reject(MethodView):
    @requires(*REVIEW_WITHDRAWALS)
    @moves_money
    @blp.arguments(ReviewSchema)
    @blp.response(200, WithdrawalSchema)
    def post(self, body: dict[str, Any], withdrawal_id: uuid.UUID) -> Response:
        """Reject a withdrawal in `review` (compliance): the funds return to Available."""
        return _transition(withdrawal_id, Transition.REJECT, reason=body["reason"])


@blp.route("/withdrawals/<uuid:withdrawal_id>/complete")
class Complete(MethodView):
    @requires(Role.PAYMENTS)
    @moves_money
    @blp.arguments(CompleteSchema)
    @blp.response(200, WithdrawalSchema)
    def post(self, body: dict[str, Any], withdrawal_id: uuid.UUID) -> Response:
        """Record the payout of a `pending` withdrawal (payments), with its `txid`."""
        return _transition(withdrawal_id, Transition.COMPLETE, txid=body["txid"])


@blp.route("/withdrawals/<uuid:withdrawal_id>/fail")
class Fail(MethodView):
    @requires(Role.PAYMENTS)
    @moves_money
    @blp.arguments(FailSchema)
    @blp.response(200, WithdrawalSchema)
    def post(self, body: dict[str, Any], withdrawal_id: uuid.UUID) -> Response:
        """Record a failed payout of a `pending` withdrawal (payments): funds return
        to Available."""
        return _transition(withdrawal_id, Transition.FAIL, reason=body["reason"])


@blp.route("/accounts/<uuid:account_id>/final-withdrawal")
class FinalWithdrawal(MethodView):
    @requires(Role.COMPLIANCE)
    @moves_money
    @blp.arguments(FinalWithdrawalSchema)
    @blp.response(201, WithdrawalSchema)
    def post(self, body: dict[str, Any], account_id: uuid.UUID) -> Response:
        """Withdraw the whole balance of an asset from a `restricted` account,
        Temporary Holds included (compliance). Starts in `review`; once it completes
        and nothing is left on the account, the account is `archived`.
        """
        rt = runtime()
        with rt.db.read() as conn:
            get_account(conn, account_id)
        guard(account_id)
        actor = current_key().name
        return respond_once(
            201,
            WithdrawalSchema,
            lambda tx: withdrawals.final_withdrawal(
                tx,
                account_id,
                body["asset"],
                body["destination"],
                reason=body["reason"],
                actor=actor,
                now=rt.now(),
            ),
        )
