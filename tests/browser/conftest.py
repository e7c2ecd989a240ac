"""Browser tests: the console driven in Chromium through Playwright.

One Chromium per test session (Debian's ``chromium``; Playwright's own browser
download is not reachable here), a fresh browser context (cookies) per test,
and one real HTTP server per module and database, on 127.0.0.1 in a thread.

Without Chromium or Playwright the tests are skipped with the reason, except in
CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from werkzeug.serving import make_server

from service.config import Settings
from service.db.database import Database
from service.domain.roles import Role
from service.services import keys
from tests.conftest import Api, Clock, _empty_pg

CHROMIUM = os.environ.get("LEDGER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: The gateway in front of the ledger sets the client's country on every request.
COUNTRY = {"X-Client-Country": "GB"}


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[dev]')")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@dataclass
class Served:
    """The app under test, served over HTTP, with a REST client on the same app."""

    base_url: str
    db: Database
    api: Api
    keys: dict[Role, str]
    clock: Clock


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    from service.api import create_app

    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("browser") / "ledger.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
    else:
        db = request.getfixturevalue("_pg_database")
        _empty_pg(db)
    clock = Clock()
    app = create_app(Settings(database_url=db.url), db)
    app.extensions["ledger"].clock = clock
    now = datetime.now(UTC)
    with db.write() as tx:
        api_keys = {role: keys.create_key(tx, role, f"staff-{role.value}", now) for role in Role}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(
            f"http://127.0.0.1:{server.server_port}",
            db,
            Api(app.test_client(), api_keys),
            api_keys,
            clock,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        if request.param == "sqlite":
            db.dispose()
        else:
            _empty_pg(db)


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the served console."""
    context = browser.new_context(
        base_url=served.base_url,
        extra_http_headers=COUNTRY,
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, key: str) -> Any:
    page.goto("/console/sign-in")
    page.get_by_label("API key").fill(key)
    return page.get_by_role("button", name="Sign in").click()
