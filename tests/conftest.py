"""Test fixtures: every database-touching test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``LEDGER_TEST_POSTGRES_URL`` (``.ci/run`` creates a fresh
database and exports it), else a database of its own for this test run on
``postgresql://postgres@127.0.0.1:5432`` (created, and dropped at the end).
If no PostgreSQL answers, its tests are skipped, unless
``LEDGER_REQUIRE_POSTGRES=1`` (set by CI), which makes that a failure.

Isolation: SQLite gets a fresh copy of a migrated file per test; PostgreSQL is
migrated once per run and emptied between tests (triggers disabled for the
cleanup only, since the journal refuses DELETE and TRUNCATE by design).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.config import Settings
from service.db.database import Database
from service.domain.roles import Role
from service.services import keys, schema_version

# CI replays fixed examples (derandomized) so that a run is reproducible; local
# runs keep exploring new ones, which is where new counterexamples are found.
hypothesis.settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")

DEFAULT_PG = f"postgresql+psycopg://postgres@127.0.0.1:5432/ledger_test_{os.getpid()}"
OWN_PG = "LEDGER_TEST_POSTGRES_URL" not in os.environ
REQUIRE_PG = os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1"

_TABLES_TO_EMPTY = [
    "seal_entries",
    "seals",
    "webhook_deliveries",
    "webhook_endpoints",
    "events",
    "withdrawals",
    "chargebacks",
    "rates",
    "idempotency_keys",
    "audit_log",
    "hold_lots",
    "trades",
    "holds",
    "deposits",
    "postings",
    "journal_entries",
    "balances",
    "account_hold_policies",
    "calendar_overrides",
    "console_sessions",
    "console_secrets",
    "api_keys",
]


def _pg_url() -> str:
    url = make_url(os.environ.get("LEDGER_TEST_POSTGRES_URL", DEFAULT_PG))
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _admin(url: str) -> Any:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _ensure_pg_database(url: str) -> None:
    parsed = make_url(url)
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    db = Database(f"sqlite:///{path}")
    schema_version.upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[Database]:
    url = _pg_url()
    try:
        _ensure_pg_database(url)
        db = Database(url, pool_size=25)
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but unreachable at {url}: {exc}")
        pytest.skip(f"PostgreSQL not reachable ({type(exc).__name__}); PostgreSQL tests skipped")
    schema_version.upgrade(db)
    yield db
    db.dispose()
    if OWN_PG:
        admin = _admin(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        admin.dispose()


def _empty_pg(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {', '.join(_TABLES_TO_EMPTY)}"))
        conn.execute(text("DELETE FROM ledger_accounts WHERE account_id IS NOT NULL"))
        conn.execute(text("DELETE FROM accounts"))
        conn.execute(text("UPDATE event_sequence SET last = 0, purged_through = 0"))
        conn.execute(
            text("DELETE FROM assets WHERE code NOT IN ('USD','EUR','GBP','BTC','ETH','USDT')")
        )
        conn.execute(
            text(
                "UPDATE hold_policies SET business_days = CASE method "
                "WHEN 'card' THEN 3 WHEN 'paypal' THEN 3 ELSE 0 END"
            )
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        template = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "ledger.db"
        shutil.copy(template, path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
    else:
        database = request.getfixturevalue("_pg_database")
        _empty_pg(database)
        yield database


@pytest.fixture
def settings(db: Database) -> Settings:
    # Long polls of the event feed wait 5 s at most here: fuzzed requests may
    # ask for 30 (tests/api/test_events.py checks the waiting itself).
    return Settings(database_url=db.url, event_max_wait_seconds=5.0)


NOW = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the app under test."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(db: Database, settings: Settings, clock: Clock) -> Iterator[Any]:
    from service.api import create_app

    application = create_app(settings, db)
    application.extensions["ledger"].clock = clock
    application.config["TESTING"] = True
    yield application
    # A long poll started the process's listener thread: stop it with the test,
    # before its database is emptied or dropped.
    notifier = application.extensions["ledger"].notifier
    if notifier is not None:
        notifier.close()


@pytest.fixture
def api_keys(db: Database) -> dict[Role, str]:
    now = datetime.now(UTC)
    with db.write() as tx:
        return {role: keys.create_key(tx, role, f"test-{role.value}", now) for role in Role}


class Api:
    """A test client speaking the contract: bearer key, country, idempotency keys."""

    def __init__(self, client: Any, api_keys: dict[Role, str]) -> None:
        self.client = client
        self.keys = api_keys
        self._n = 0

    def headers(
        self, role: Role, *, country: str | None = "GB", idem: str | None = "auto", **extra: str
    ) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[role]}", **extra}
        if country is not None:
            headers["X-Client-Country"] = country
        if idem == "auto":
            self._n += 1
            idem = f"test-{self._n}-{os.urandom(4).hex()}"
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return headers

    def get(self, path: str, role: Role = Role.ADMIN, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(role, idem=None), **kw)

    def post(self, path: str, body: Any, role: Role = Role.ADMIN, **kw: Any) -> Any:
        headers = self.headers(role, **kw)
        return self.client.post(path, json=body, headers=headers)

    def open_account(self, external_id: str | None = None, tier: str = "basic") -> str:
        body = {
            "external_id": external_id or f"ext-{os.urandom(6).hex()}",
            "country": "GB",
            "tier": tier,
        }
        response = self.post("/v1/accounts", body, Role.TRADING)
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["id"])


@pytest.fixture
def api(app: Any, api_keys: dict[Role, str]) -> Api:
    return Api(app.test_client(), api_keys)
