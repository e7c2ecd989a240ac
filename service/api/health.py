"""Service routes: liveness, readiness, metrics."""

from __future__ import annotations

import time
import uuid

from flask import Blueprint, Response, g, request
from prometheus_client import Counter, Histogram
from sqlalchemy.exc import SQLAlchemyError

from service import metrics
from service.api.auth import requires
from service.api.problems import problem
from service.api.responses import json_response
from service.api.runtime import runtime
from service.domain.roles import READERS
from service.services.holds import hold_gauges
from service.services.schema_version import is_at_head

blp = Blueprint("health", __name__)

REQUESTS = Counter(
    "ledger_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "ledger_http_request_seconds", "Time to answer an HTTP request", ["method", "route"]
)


@blp.delete("/v1/deposits/<uuid:deposit_id>")
@requires(*READERS)
def no_deposit_cancel(deposit_id: uuid.UUID) -> Response:
    """Deposits are final: there is no way to cancel one (a chargeback is a new
    entry). Answered here, outside the OpenAPI document, because it is not an
    operation a client can use, only a clear refusal of one it might try."""
    return problem(
        405,
        "method_not_allowed",
        "Method Not Allowed",
        "deposits are final and cannot be cancelled",
        headers={"Allow": ""},
    )


@blp.get("/healthz")
def healthz() -> Response:
    """The process is up (does not touch the database)."""
    return json_response({"status": "ok"})


@blp.get("/readyz")
def readyz() -> Response:
    """The database answers and its schema is at the migrations' head."""
    try:
        ready, detail = is_at_head(runtime().db)
    except Exception as exc:  # any database failure means "not ready", not a 500
        ready, detail = False, f"database unreachable: {type(exc).__name__}"
    return json_response(
        {"status": "ready" if ready else "not_ready", "detail": detail}, 200 if ready else 503
    )


@blp.get("/metrics")
def metrics_view() -> Response:
    """Prometheus metrics; hold gauges are read from the database at scrape time."""
    rt = runtime()
    try:
        with rt.db.read() as conn:
            active, overdue, waited = hold_gauges(conn, rt.now())
        metrics.ACTIVE_HOLDS.set(active)
        metrics.OVERDUE_HOLDS.set(overdue)
        metrics.OLDEST_OVERDUE_SECONDS.set(waited)
    except SQLAlchemyError:  # serve the process metrics even when the database is down
        pass
    return Response(metrics.exposition(), content_type=metrics.CONTENT_TYPE)


def start_timer() -> None:
    g.started = time.perf_counter()


def observe(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    started = g.get("started")
    if started is not None:
        LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    return response
