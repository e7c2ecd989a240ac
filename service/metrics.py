"""Prometheus metrics shared by the web app, the scheduler and the release job.

``/metrics`` serves them from the web app; ``ledger scheduler --metrics-port``
serves them from the scheduler process. Gauges about holds are refreshed from
the database when scraped, so they are true whichever process released what.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HOLDS_RELEASED = Counter(
    "ledger_holds_released_total", "Holds released (job and lazy release)", ["trigger"]
)
ACTIVE_HOLDS = Gauge("ledger_active_holds", "Holds not yet released")
OVERDUE_HOLDS = Gauge("ledger_overdue_active_holds", "Active holds whose release time has passed")
OLDEST_OVERDUE_SECONDS = Gauge(
    "ledger_oldest_overdue_hold_seconds", "How long the most overdue active hold has waited"
)
RELEASE_DURATION = Histogram(
    "ledger_release_job_seconds",
    "Duration of a release job run",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900),
)
