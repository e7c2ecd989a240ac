"""Chargebacks (payments): a card or PayPal deposit reversed by the network."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.withdrawals import ChargebackCreateSchema, ChargebackSchema
from service.api.auth import current_key, requires
from service.api.geofence import guard
from service.api.responses import moves_money, respond_once
from service.api.runtime import runtime
from service.domain.roles import Role
from service.services import chargebacks

blp = Blueprint("chargebacks", __name__, description="Chargebacks of deposits")


@blp.route("/deposits/<uuid:deposit_id>/chargeback")
class Chargeback(MethodView):
    @requires(Role.PAYMENTS)
    @moves_money
    @blp.arguments(ChargebackCreateSchema)
    @blp.response(201, ChargebackSchema)
    def post(self, body: dict[str, Any], deposit_id: uuid.UUID) -> Response:
        """Reverse a deposit (payments): taken from its hold's lot, then Available;
        what is missing is a receivable. The account becomes `restricted`.
        Twice: 409 `already_reversed`. Accepted whatever the account's status.
        """
        rt = runtime()
        with rt.db.read() as conn:
            account_id = chargebacks.account_of_deposit(conn, deposit_id)
        guard(account_id)
        actor = current_key().name
        return respond_once(
            201,
            ChargebackSchema,
            lambda tx: chargebacks.charge_back(
                tx, deposit_id, reason=body["reason"], actor=actor, now=rt.now()
            ),
        )
