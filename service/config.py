"""Configuration: everything comes from ``LEDGER_*`` environment variables.

The server, the ``ledger`` command and the migrations read the same settings, so
``ledger db upgrade`` migrates exactly the database ``ledger serve`` will use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("var") / "ledger.db"
DEFAULT_SERVER_THREADS = 64


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH.resolve()}"


def _countries(text: str) -> frozenset[str]:
    return frozenset(c.strip().upper() for c in text.split(",") if c.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    #: A read replica for exports; the primary when unset.
    export_database_url: str | None = None
    pool_size: int = 5
    calendar: str = "XFED"
    time_zone: str = "America/New_York"
    blocked_countries: frozenset[str] = frozenset({"US"})
    country_header: str = "X-Client-Country"
    basic_daily_limit_usd: Decimal = Decimal("10000")
    verified_daily_limit_usd: Decimal = Decimal("1000000")
    review_threshold_usd: Decimal = Decimal("10000")
    idempotency_retention_days: int = 30
    release_batch_size: int = 5000
    #: Test and staging systems that simulate time may release as of a future
    #: time (``LEDGER_ALLOW_FUTURE_AS_OF=1``); never production.
    allow_future_as_of: bool = False
    #: Signs the console's session cookies; unset: a secret stored in the database
    #: (service.services.session_secret says why and what that costs).
    secret_key: str | None = field(default=None, repr=False)
    #: Mark the console's session cookie ``Secure`` even on plain-HTTP requests
    #: (set it when a proxy terminates TLS and is not trusted for X-Forwarded-Proto).
    session_cookie_secure: bool = False
    #: How many proxies in front set ``X-Forwarded-Proto``; 0 (default) ignores it,
    #: since a client could otherwise claim TLS it did not use.
    trusted_proxies: int = 0

    #: Seconds between seals in ``ledger scheduler``.
    seal_interval_s: float = 60.0
    #: Events older than this are purged by the scheduler; a feed cursor behind
    #: a purged event gets 410 ``cursor_expired``.
    event_retention_days: int = 90
    #: How often a long poll looks again without a notification (None: 1 s on
    #: PostgreSQL, which notifies; 0.2 s on SQLite, which cannot).
    event_poll_seconds: float | None = None
    #: The longest a long poll waits, whatever ``wait`` asks (at most 30): for
    #: proxies with a shorter idle timeout, and tests. A capped poll answers
    #: with no items, as at the end of any wait.
    event_max_wait_seconds: float = 30.0
    #: Attempts of one webhook delivery before it is ``failed`` and the endpoint moves on.
    webhook_max_attempts: int = 20
    #: How long a deliverer owns an endpoint without renewing; must exceed the
    #: 10 s send timeout (a crashed deliverer's endpoint waits this long).
    webhook_lease_seconds: float = 60.0
    #: Threads per gunicorn worker (``gthread``): a long poll waits on one thread,
    #: so ``workers x threads`` must exceed the readers waiting at once (API.md:
    #: fifty, deposits still answered at once). Idle threads cost no CPU and hold
    #: no database connection; gunicorn does not balance connections between
    #: workers, so each worker alone must have room for all of them.
    server_threads: int = DEFAULT_SERVER_THREADS

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        defaults = cls()

        def get(name: str, default: str) -> str:
            return env.get(f"LEDGER_{name}", default)

        return cls(
            database_url=get("DATABASE_URL", defaults.database_url),
            export_database_url=env.get("LEDGER_EXPORT_DATABASE_URL") or None,
            pool_size=int(get("POOL_SIZE", str(defaults.pool_size))),
            calendar=get("CALENDAR", defaults.calendar),
            time_zone=get("TIME_ZONE", defaults.time_zone),
            blocked_countries=_countries(get("BLOCKED_COUNTRIES", "US")),
            country_header=get("COUNTRY_HEADER", defaults.country_header),
            basic_daily_limit_usd=Decimal(
                get("BASIC_DAILY_LIMIT_USD", str(defaults.basic_daily_limit_usd))
            ),
            verified_daily_limit_usd=Decimal(
                get("VERIFIED_DAILY_LIMIT_USD", str(defaults.verified_daily_limit_usd))
            ),
            review_threshold_usd=Decimal(
                get("REVIEW_THRESHOLD_USD", str(defaults.review_threshold_usd))
            ),
            idempotency_retention_days=int(
                get("IDEMPOTENCY_RETENTION_DAYS", str(defaults.idempotency_retention_days))
            ),
            release_batch_size=int(get("RELEASE_BATCH_SIZE", str(defaults.release_batch_size))),
            allow_future_as_of=get("ALLOW_FUTURE_AS_OF", "0") == "1",
            seal_interval_s=float(get("SEAL_INTERVAL_S", str(defaults.seal_interval_s))),
            secret_key=env.get("LEDGER_SECRET_KEY") or None,
            session_cookie_secure=get("SESSION_COOKIE_SECURE", "0").strip().lower()
            in ("1", "true", "yes"),
            trusted_proxies=int(get("TRUSTED_PROXIES", "0")),
            event_retention_days=int(
                get("EVENT_RETENTION_DAYS", str(defaults.event_retention_days))
            ),
            event_poll_seconds=float(env["LEDGER_EVENT_POLL_SECONDS"])
            if env.get("LEDGER_EVENT_POLL_SECONDS")
            else None,
            event_max_wait_seconds=float(
                get("EVENT_MAX_WAIT_SECONDS", str(defaults.event_max_wait_seconds))
            ),
            webhook_max_attempts=int(
                get("WEBHOOK_MAX_ATTEMPTS", str(defaults.webhook_max_attempts))
            ),
            webhook_lease_seconds=float(
                get("WEBHOOK_LEASE_SECONDS", str(defaults.webhook_lease_seconds))
            ),
            server_threads=int(get("SERVER_THREADS", str(defaults.server_threads))),
        )
