"""Accounts: open, read, change status (compliance), audit log."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.accounts import AccountCreateSchema, AccountPatchSchema, AccountSchema
from schemas.common import PageArgs
from schemas.compliance import AuditPageSchema
from service.api import openapi
from service.api.auth import client_country, current_key, requires
from service.api.runtime import runtime
from service.domain.accounts import AccountRecord
from service.domain.roles import CHANGE_ACCOUNT_STATUS, READ_AUDIT, READERS, Role
from service.services import account_status, accounts, audit
from service.services.views import Page

blp = Blueprint("accounts", __name__, description="Customer accounts")


@blp.route("/accounts")
class Accounts(MethodView):
    @requires(Role.TRADING)
    @openapi.headers(openapi.COUNTRY)
    @blp.arguments(AccountCreateSchema)
    @blp.response(201, AccountSchema)
    def post(self, body: dict[str, Any]) -> AccountRecord:
        """Open an account (trading, admin). Geofenced by the client's country."""
        rt = runtime()
        country = client_country()
        with rt.db.write() as tx:
            return accounts.open_account(
                tx,
                accounts.OpenAccount(body["external_id"], body["country"], body["tier"]),
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

    @requires(*CHANGE_ACCOUNT_STATUS)
    @blp.arguments(AccountPatchSchema)
    @blp.response(200, AccountSchema)
    def patch(self, body: dict[str, Any], account_id: uuid.UUID) -> AccountRecord:
        """Change the account's status (compliance), audited with the reason.

        Allowed: active<->read_only, active|read_only->restricted, restricted->active.
        `archived` only through a final withdrawal. Other moves: 409
        `invalid_status_transition`.
        """
        rt = runtime()
        with rt.db.write() as tx:
            return account_status.change_status(
                tx,
                account_id,
                body["status"],
                reason=body["reason"],
                actor=current_key().name,
                now=rt.now(),
            )


@blp.route("/accounts/<uuid:account_id>/audit")
class AccountAudit(MethodView):
    @requires(*READ_AUDIT)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, args: dict[str, Any], account_id: uuid.UUID) -> Page[audit.AuditView]:
        """The account's audit log, newest first (compliance, admin): status changes,
        jurisdiction flags, review decisions, chargebacks, final withdrawals."""
        with runtime().db.read() as conn:
            return audit.list_audit(conn, account_id, limit=args["limit"], cursor=args["cursor"])
