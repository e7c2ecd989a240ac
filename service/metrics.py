"""Prometheus metrics shared by the web app, the scheduler and the release job.

``/metrics`` serves them from the web app; ``ledger scheduler --metrics-port``
serves them from the scheduler process. Gauges about holds are refreshed from
the database when scraped, so they are true whichever process released what.

Under gunicorn each worker is a process of its own: ``ledger serve`` runs
prometheus_client's multiprocess mode (every worker writes its samples to
files in ``PROMETHEUS_MULTIPROC_DIR``), and a scrape, whichever worker answers
it, sums the counters and histograms of all workers, living or exited. The
hold gauges are computed from the database by the answering worker just before
it renders, so the most recently written value is the true one
(``multiprocess_mode="mostrecent"``).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

#: Set (by ``ledger serve``, or by the operator) before prometheus_client is
#: imported: it chooses where samples live at import.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

#: The exposition format's media type, charset included (send it as the whole
#: Content-Type: a ``mimetype`` would get a second charset appended).
CONTENT_TYPE = CONTENT_TYPE_LATEST

HOLDS_RELEASED = Counter(
    "ledger_holds_released_total", "Holds released (job and lazy release)", ["trigger"]
)
ACTIVE_HOLDS = Gauge(
    "ledger_active_holds", "Holds not yet released", multiprocess_mode="mostrecent"
)
OVERDUE_HOLDS = Gauge(
    "ledger_overdue_active_holds",
    "Active holds whose release time has passed",
    multiprocess_mode="mostrecent",
)
OLDEST_OVERDUE_SECONDS = Gauge(
    "ledger_oldest_overdue_hold_seconds",
    "How long the most overdue active hold has waited",
    multiprocess_mode="mostrecent",
)
RELEASE_DURATION = Histogram(
    "ledger_release_job_seconds",
    "Duration of a release job run",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900),
)


def exposition() -> bytes:
    """Every metric in the text format: of all worker processes in multiprocess
    mode, of this process otherwise."""
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
