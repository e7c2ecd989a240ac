"""Accounts: open, read."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.accounts import AccountCreateSchema, AccountSchema
from service.api.auth import client_country, requires
from service.api.runtime import runtime
from service.db.repositories import AccountRecord
from service.domain.accounts import Tier
from service.domain.roles import READERS, Role
from service.services import accounts

blp = Blueprint("accounts", __name__, description="Customer accounts")


@blp.route("/accounts")
class Accounts(MethodView):
    @requires(Role.TRADING)
    @blp.arguments(AccountCreateSchema)
    @blp.response(201, AccountSchema)
    def post(self, body: dict[str, Any]) -> AccountRecord:
        """Open an account (trading, admin). Geofenced by the client's country."""
        rt = runtime()
        country = client_country()
        with rt.db.write() as tx:
            return accounts.open_account(
                tx,
                accounts.OpenAccount(body["external_id"], body["country"], Tier(body["tier"])),
                client_country=country,
                blocked=rt.settings.blocked_countries,
                now=rt.now(),
            )


@blp.route("/accounts/<uuid:account_id>")
class Account(MethodView):
    @requires(*READERS)
    @blp.response(200, AccountSchema)
    def get(self, account_id: uuid.UUID) -> AccountRecord:
        """One account."""
        with runtime().db.read() as conn:
            return accounts.get_account(conn, account_id)
