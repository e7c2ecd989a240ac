"""The console's pages: thin views over the same services the REST API calls.

A view reads its input, lets the REST schema and the service decide (same
rules, same errors, same audit), and renders the result. Each write runs in one
transaction owned here, as a REST route owns its own.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from marshmallow import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response

from schemas.accounts import AccountPatchSchema
from schemas.events import ReplaySchema
from schemas.withdrawals import ReviewSchema
from service.api import problems
from service.api.auth import client_country
from service.api.runtime import runtime
from service.console.forms import ReplayForm, ReviewForm, SignInForm, SignOutForm, StatusForm
from service.console.session import current_staff, sign_in, sign_out, signed_in, staff
from service.domain.accounts import AccountStatus
from service.domain.errors import BadRequest, LedgerError, ValidationFailed
from service.domain.holds import HoldStatus
from service.domain.roles import (
    CHANGE_ACCOUNT_STATUS,
    MANAGE_WEBHOOKS,
    READ_AUDIT,
    REVIEW_WITHDRAWALS,
)
from service.domain.withdrawals import Transition, WithdrawalStatus
from service.services import (
    account_status,
    accounts,
    audit,
    balances,
    holds,
    webhooks,
    withdrawals,
)
from service.services.compliance import guard_jurisdiction
from service.services.views import HoldView

blp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
)

#: Checks the token of every console form; the REST API (bearer keys, no
#: cookies) is not checked (WTF_CSRF_CHECK_DEFAULT is off, see install).
csrf = CSRFProtect()

#: Rows per page of each list; the pages move on by cursor, never by counting.
PAGE_SIZE = 20
#: Search results shown at most.
SEARCH_LIMIT = 50
#: Active holds the timeline reads at most (an account rarely has more).
TIMELINE_HOLDS = 500


#: Control characters other than tab, which no text field takes (API.md, Conventions).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@blp.before_request
def _check_request() -> None:
    """Every form's CSRF token first; then no control characters in any input,
    as the API refuses them (PostgreSQL could not even store a NUL)."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if _CONTROL.search(value):
                raise ValidationFailed.field(name, "control characters are not allowed")


#: Pages load only their own stylesheet, run no script, and may not be framed
#: by another site (an invisible frame over "Approve" is clickjacking).
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@blp.after_request
def _security_headers(response: Response) -> Response:
    """Security headers on every console answer; pages (customer data) are not
    kept in caches, so Back after sign-out shows nothing."""
    response.headers.update(_SECURITY_HEADERS)
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@blp.errorhandler(Exception)
def _error_page(error: Exception) -> Any:
    """The REST API's answer to the same error, as a page: same status, same words."""
    if isinstance(error, CSRFError):
        answer = problems.problem(
            400,
            "csrf_failed",
            "Bad request",
            "the form expired or was not sent from the console: reload the page and try again",
        )
    elif isinstance(error, LedgerError):
        answer = problems.from_ledger_error(error)
    elif isinstance(error, HTTPException):
        answer = problems.from_http_exception(error)
    elif isinstance(error, DataError | OperationalError | IntegrityError):
        answer = problems.from_database_error(error)
    else:
        answer = problems.unexpected(error)
    body = answer.get_json() or {}
    return render_template("error.html", problem=body), answer.status_code


@blp.route("/")
def home() -> Response:
    return redirect(url_for("console.accounts_search"))


@blp.route("/sign-in", methods=["GET", "POST"], endpoint="sign_in")
def sign_in_page() -> Any:
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        rt = runtime()
        key = rt.keys.authenticate(form.api_key.data.strip())
        if key is not None:
            sign_in(key)
            return redirect(_next_page())
        form.api_key.errors = ["Unknown API key."]
        status = 401
    elif form.is_submitted():
        status = 400
    return render_template("sign_in.html", form=form), status


def _next_page() -> str:
    """Where sign-in leads: the page asked for, if it is a console page."""
    wanted = request.args.get("next", "")
    if wanted.startswith("/console/") and not wanted.startswith("//"):
        return wanted
    return url_for("console.accounts_search")


@blp.route("/sign-out", methods=["POST"])
def sign_out_page() -> Response:
    sign_out()
    flash("You are signed out.")
    return redirect(url_for("console.sign_in"))


@blp.route("/accounts")
@signed_in()
def accounts_search() -> str:
    text = request.args.get("q", "")
    results = None
    if text.strip():
        with runtime().db.read() as conn:
            results = accounts.search_accounts(conn, text, limit=SEARCH_LIMIT)
    return render_template("accounts.html", q=text, results=results)


@dataclass(frozen=True, slots=True)
class Release:
    """One step of the timeline: what becomes withdrawable at ``at``."""

    at: datetime
    amounts: dict[str, Decimal]
    withdrawable_after: dict[str, Decimal]


def _timeline(active: list[HoldView], withdrawable: dict[str, Decimal]) -> list[Release]:
    """Active lots grouped by release time, with what is withdrawable from then
    on if nothing else changes (today's available to withdraw plus every lot
    released up to then)."""
    by_time: dict[datetime, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for hold in active:
        for lot in hold.lots:
            if lot.status == HoldStatus.ACTIVE and lot.amount.value:
                by_time[hold.release_at][lot.asset] += lot.amount.value
    running = dict(withdrawable)
    steps = []
    for at in sorted(by_time):
        for asset, value in by_time[at].items():
            running[asset] = running.get(asset, Decimal(0)) + value
        steps.append(Release(at, dict(by_time[at]), {a: running[a] for a in by_time[at]}))
    return steps


@blp.route("/accounts/<uuid:account_id>")
@signed_in()
def account_page(account_id: uuid.UUID) -> str:
    rt = runtime()
    who = staff()
    view = balances.account_balances(rt.db, account_id, rt.now())
    with rt.db.read() as conn:
        account = accounts.get_account(conn, account_id)
        hold_page = holds.list_holds(
            conn,
            account_id,
            status=None,
            limit=PAGE_SIZE,
            cursor=request.args.get("holds_cursor") or None,
        )
        active = holds.list_holds(
            conn, account_id, status=HoldStatus.ACTIVE, limit=TIMELINE_HOLDS, cursor=None
        )
        history = balances.account_transactions(
            conn, account_id, limit=PAGE_SIZE, cursor=request.args.get("tx_cursor") or None
        )
        audit_page = (
            audit.list_audit(
                conn, account_id, limit=PAGE_SIZE, cursor=request.args.get("audit_cursor") or None
            )
            if who.may(READ_AUDIT)
            else None
        )
    withdrawable = {b.asset: b.available_to_withdraw.value for b in view.balances}
    status_form = StatusForm(formdata=None, status=account.status.value)
    return render_template(
        "account.html",
        account=account,
        balances=view,
        holds=hold_page,
        timeline=_timeline(list(active.items), withdrawable),
        timeline_capped=active.next_cursor is not None,
        history=history,
        audit=audit_page,
        status_form=status_form if who.may(CHANGE_ACCOUNT_STATUS) else None,
    )


@blp.route("/accounts/<uuid:account_id>/status", methods=["POST"])
@signed_in(CHANGE_ACCOUNT_STATUS)
def change_status(account_id: uuid.UUID) -> Response:
    form = StatusForm()
    body = _load(AccountPatchSchema(), {"status": form.status.data, "reason": form.reason.data})
    rt = runtime()
    with rt.db.write() as tx:
        account = account_status.change_status(
            tx,
            account_id,
            AccountStatus(body["status"]),
            reason=body["reason"],
            actor=staff().name,
            now=rt.now(),
        )
    flash(f"Status changed to {account.status.value}.")
    return redirect(url_for("console.account_page", account_id=account_id))


@blp.route("/withdrawals")
@signed_in(REVIEW_WITHDRAWALS)
def review_queue() -> str:
    with runtime().db.read() as conn:
        page = withdrawals.list_withdrawals(
            conn,
            account_id=None,
            status=WithdrawalStatus.REVIEW,
            limit=PAGE_SIZE,
            cursor=request.args.get("cursor") or None,
        )
        owners = {w.account_id: accounts.get_account(conn, w.account_id) for w in page.items}
    forms = {w.id: ReviewForm(formdata=None, prefix=str(w.id)) for w in page.items}
    return render_template("withdrawals.html", page=page, forms=forms, owners=owners)


_DECISIONS = {"approve": Transition.APPROVE, "reject": Transition.REJECT}


@blp.route("/withdrawals/<uuid:withdrawal_id>/review", methods=["POST"])
@signed_in(REVIEW_WITHDRAWALS)
def review(withdrawal_id: uuid.UUID) -> Response:
    """Approve or reject, as ``POST /v1/withdrawals/{id}/approve|reject`` does:
    the geofence on the request's country first, then the service's transition,
    audited with the reason under the signed-in key's name."""
    decision = _DECISIONS.get(request.form.get("decision", ""))
    if decision is None:
        raise BadRequest("choose Approve or Reject", code="invalid_decision")
    form = ReviewForm(prefix=str(withdrawal_id))
    body = _load(ReviewSchema(), {"reason": form.reason.data or None})
    rt = runtime()
    actor = staff().name
    with rt.db.read() as conn:
        account_id = withdrawals.account_of(conn, withdrawal_id)
    guard_jurisdiction(
        rt.db,
        [account_id],
        client_country(),
        blocked=rt.settings.blocked_countries,
        actor=actor,
        now=rt.now(),
    )
    with rt.db.write() as tx:
        done = withdrawals.transition(
            tx, withdrawal_id, decision, actor=actor, now=rt.now(), reason=body["reason"]
        )
    flash(f"Withdrawal {done.id} {done.status}: {done.amount} {done.asset}.")
    return redirect(url_for("console.review_queue"))


def _load(schema: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Validate form input with the REST route's own schema."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"form": exc.messages}
        raise ValidationFailed(dict(messages)) from exc
    return loaded


@blp.route("/webhooks")
@signed_in(MANAGE_WEBHOOKS)
def webhook_endpoints() -> str:
    """``GET /v1/webhook-endpoints`` for people: operations and admin only."""
    with runtime().db.read() as conn:
        page = webhooks.list_endpoints(
            conn, limit=PAGE_SIZE, cursor=request.args.get("cursor") or None
        )
    return render_template("webhooks.html", page=page)


@blp.route("/webhooks/<uuid:endpoint_id>")
@signed_in(MANAGE_WEBHOOKS)
def webhook_endpoint(endpoint_id: uuid.UUID) -> str:
    """One endpoint and its deliveries, newest first, filtered by status as
    ``GET /v1/webhook-endpoints/{id}/deliveries`` is."""
    status = request.args.get("status") or None
    if status not in (None, "pending", "delivered", "failed"):
        raise ValidationFailed.field("status", "must be pending, delivered or failed")
    with runtime().db.read() as conn:
        endpoint = webhooks.get_endpoint(conn, endpoint_id)
        deliveries = webhooks.list_deliveries(
            conn,
            endpoint_id,
            status=status,
            limit=PAGE_SIZE,
            cursor=request.args.get("cursor") or None,
        )
    return render_template(
        "webhook_endpoint.html",
        endpoint=endpoint,
        deliveries=deliveries,
        status=status,
        replay_form=ReplayForm(formdata=None),
    )


@blp.route("/webhooks/<uuid:endpoint_id>/replay", methods=["POST"])
@signed_in(MANAGE_WEBHOOKS)
def webhook_replay(endpoint_id: uuid.UUID) -> Response:
    """``POST /v1/webhook-endpoints/{id}/replay``: send again every matching
    event after the given sequence."""
    form = ReplayForm()
    body = _load(ReplaySchema(), {"after": form.after.data})
    rt = runtime()
    with rt.db.write() as tx:
        queued = webhooks.replay(tx, endpoint_id, after=body["after"], now=rt.now())
    flash(f"{queued} deliveries queued again.")
    return redirect(url_for("console.webhook_endpoint", endpoint_id=endpoint_id))


@blp.context_processor
def _staff_in_templates() -> dict[str, Any]:
    """Templates show who is signed in and offer what their role may do."""
    return {
        "staff": current_staff(),
        "sign_out_form": SignOutForm(formdata=None),
        "REVIEW_WITHDRAWALS": REVIEW_WITHDRAWALS,
        "MANAGE_WEBHOOKS": MANAGE_WEBHOOKS,
        "time_zone": runtime().settings.time_zone,
    }


@blp.app_template_filter("utc")
def _utc(at: datetime | None) -> str:
    """A time in UTC, with its zone written out."""
    if at is None:
        return "—"
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@blp.app_template_filter("local")
def _local(at: datetime | None) -> str:
    """A time in the calendar's time zone (where business days are counted)."""
    if at is None:
        return "—"
    zone = ZoneInfo(runtime().settings.time_zone)
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")
