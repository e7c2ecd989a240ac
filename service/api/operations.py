"""Operations: the release job, the business-day calendar, hold policies."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.fields import parse_iso_date
from schemas.operations import (
    AccountPolicySchema,
    BusinessDaysArgs,
    BusinessDaysSchema,
    HolidayArgs,
    HolidaySchema,
    OverrideResultSchema,
    OverrideSchema,
    PoliciesSchema,
    PolicySchema,
    ReleaseJobSchema,
    ReleaseResultSchema,
)
from service.api.auth import current_key, requires
from service.api.responses import json_response
from service.api.runtime import runtime
from service.domain.errors import ValidationFailed
from service.domain.holds import Method
from service.domain.roles import READERS, Role
from service.services import calendar_admin
from service.services.accounts import get_account
from service.services.calendar_admin import OverrideChange
from service.services.holds import release_due_holds

blp = Blueprint("operations", __name__, description="Release job, calendar, hold policies")


def _method(value: str) -> Method:
    try:
        return Method(value)
    except ValueError:
        raise ValidationFailed.field(
            "method", f"must be one of {', '.join(m.value for m in Method)}"
        ) from None


@blp.route("/jobs/release-holds")
class ReleaseJob(MethodView):
    @requires(Role.OPERATIONS)
    @blp.arguments(ReleaseJobSchema, required=False)
    @blp.response(200, ReleaseResultSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Release every hold due at `as_of` (default now). Idempotent; safe to repeat.

        The body is optional: none, or `{}`, releases what is due now (the job
        changes nothing a repeat would change again, so no Idempotency-Key is
        needed). An `as_of` later than now is refused with 422 `as_of_in_future`.
        """
        rt = runtime()
        now = rt.now()
        summary = release_due_holds(
            rt.db,
            as_of=body["as_of"] or now,
            now=now,
            batch_size=rt.settings.release_batch_size,
            allow_future=rt.settings.allow_future_as_of,
        )
        return json_response(summary.as_dict())


@blp.route("/calendar/business-days")
class BusinessDays(MethodView):
    @requires(*READERS)
    @blp.arguments(BusinessDaysArgs, location="query")
    @blp.response(200, BusinessDaysSchema)
    def get(self, args: dict[str, Any]) -> dict[str, list[date]]:
        """Business days between `from` and `to`, inclusive."""
        rt = runtime()
        with rt.db.read() as conn:
            return {
                "days": calendar_admin.business_days(conn, args["from_"], args["to"], rt.settings)
            }


@blp.route("/calendar/holidays")
class Holidays(MethodView):
    @requires(*READERS)
    @blp.arguments(HolidayArgs, location="query")
    @blp.response(200, HolidaySchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Closed days of the year: the calendar's holidays and override closures."""
        rt = runtime()
        with rt.db.read() as conn:
            return calendar_admin.holidays(conn, args["year"], rt.settings)


@blp.route("/calendar/overrides/<string:day>")
class Override(MethodView):
    @requires(Role.OPERATIONS)
    @blp.arguments(OverrideSchema)
    @blp.response(200, OverrideResultSchema)
    def put(self, body: dict[str, Any], day: str) -> OverrideChange:
        """Add or change an extra closure / open day; recomputes active holds' release times."""
        rt = runtime()
        with rt.db.write() as tx:
            return calendar_admin.set_override(
                tx,
                _day(day),
                body["business_day"],
                body["name"],
                settings=rt.settings,
                actor=current_key().name,
                now=rt.now(),
            )

    @requires(Role.OPERATIONS)
    @blp.response(200, OverrideResultSchema)
    def delete(self, day: str) -> OverrideChange:
        """Remove an override; recomputes active holds' release times."""
        rt = runtime()
        with rt.db.write() as tx:
            return calendar_admin.delete_override(
                tx, _day(day), settings=rt.settings, actor=current_key().name, now=rt.now()
            )


def _day(text: str) -> date:
    try:
        return parse_iso_date(text)
    except ValueError:
        raise ValidationFailed.field("date", "must be an ISO date, YYYY-MM-DD") from None


@blp.route("/hold-policies")
class Policies(MethodView):
    @requires(*READERS)
    @blp.response(200, PoliciesSchema)
    def get(self) -> dict[str, dict[str, int]]:
        """Hold length in business days per deposit method."""
        with runtime().db.read() as conn:
            return {"policies": calendar_admin.policies(conn)}


@blp.route("/hold-policies/<string:method>")
class Policy(MethodView):
    @requires(Role.OPERATIONS)
    @blp.arguments(PolicySchema)
    @blp.response(200, PoliciesSchema)
    def put(self, body: dict[str, Any], method: str) -> dict[str, dict[str, int]]:
        """Set a method's hold length (0–30 business days); applies to new deposits."""
        rt = runtime()
        with rt.db.write() as tx:
            return {
                "policies": calendar_admin.set_policy(
                    tx,
                    _method(method),
                    body["business_days"],
                    actor=current_key().name,
                    now=rt.now(),
                )
            }


@blp.route("/accounts/<uuid:account_id>/hold-policies/<string:method>")
class AccountPolicy(MethodView):
    @requires(Role.OPERATIONS)
    @blp.arguments(AccountPolicySchema)
    @blp.response(200, AccountPolicySchema)
    def put(self, body: dict[str, Any], account_id: uuid.UUID, method: str) -> dict[str, Any]:
        """Override a method's hold length for one account (`null` removes the override)."""
        rt = runtime()
        with rt.db.write() as tx:
            get_account(tx, account_id)
            calendar_admin.set_account_policy(
                tx,
                account_id,
                _method(method),
                body["business_days"],
                actor=current_key().name,
                now=rt.now(),
            )
        return body
