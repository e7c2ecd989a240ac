"""Screenshots of the console for docs/console.md, taken in Chromium.

    .venv/bin/python -m tests.browser.screenshots [OUTPUT_DIR]   (default: docs/)

Seeds a fresh SQLite ledger in a temporary directory through the REST API (the
same client the tests use), serves it on 127.0.0.1, signs in with a compliance
key and saves the account page and the review queue at 1280 px wide.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from service.api import create_app
from service.config import Settings
from service.db.database import Database
from service.domain.roles import Role
from service.services import keys, schema_version
from tests.api.test_deposits import deposit
from tests.api.test_trades import trade
from tests.api.test_withdrawals import fund, withdraw
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, COUNTRY
from tests.conftest import Api, Clock


def _seed(api: Api, clock: Clock) -> str:
    """A verified customer with money held, a trade out of held money, a
    withdrawal waiting for review; another customer's one too."""
    start = clock.now
    account = api.open_account("cust-10442", tier="verified")
    for at, step in [
        (start, lambda: fund(api, account, "20000.00")),
        (start, lambda: deposit(api, account, "500.00", method="card")),
        (start + timedelta(days=1), lambda: deposit(api, account, "250.00", method="card")),
        (
            start + timedelta(days=1),
            lambda: deposit(api, account, "120.00", method="paypal", asset="EUR"),
        ),
        (
            start + timedelta(days=1, hours=2),
            lambda: trade(api, account, ("200.00", "USD"), ("0.00300000", "BTC")),
        ),
        (start + timedelta(days=6), lambda: deposit(api, account, "75.00", method="card")),
    ]:
        clock.now = at
        answer = step()
        if answer is not None:
            assert answer.status_code == 201, answer.get_json()
    for status, reason in [
        ("read_only", "Customer asked to freeze the account while travelling"),
        ("active", "Customer confirmed by phone, callback ref 5531"),
    ]:
        patch = api.client.patch(
            f"/v1/accounts/{account}",
            json={"status": status, "reason": reason},
            headers=api.headers(Role.COMPLIANCE, idem=None),
        )
        assert patch.status_code == 200, patch.get_json()
    answer = withdraw(api, account, "15000.00", destination="bc1q9h6yzs4rk0d8m2x7qv")
    assert answer.status_code == 201, answer.get_json()
    other = api.open_account("cust-20917", tier="verified")
    fund(api, other, "30000.00")
    answer = withdraw(api, other, "12500.00", destination="GB29NWBK60161331926819")
    assert answer.status_code == 201, answer.get_json()
    return account


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/ledger.db")
        schema_version.upgrade(db)
        clock = Clock(
            datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=6, hours=1)
        )
        app = create_app(Settings(database_url=db.url), db)
        app.extensions["ledger"].clock = clock
        names = {Role.COMPLIANCE: "maria.compliance", Role.TRADING: "gateway-trading"}
        with db.write() as tx:
            api_keys = {
                role: keys.create_key(tx, role, names.get(role, f"{role.value}-svc"), clock.now)
                for role in Role
            }
        account = _seed(Api(app.test_client(), api_keys), clock)
        clock.now = datetime.now(UTC)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(
                    base_url=base,
                    extra_http_headers=COUNTRY,
                    viewport={"width": 1280, "height": 800},
                )
                page.goto("/console/sign-in")
                page.get_by_label("API key").fill(api_keys[Role.COMPLIANCE])
                page.get_by_role("button", name="Sign in").click()
                page.goto(f"/console/accounts/{account}")
                page.screenshot(path=str(out / "console-account.png"), full_page=True)
                page.goto("/console/withdrawals")
                page.screenshot(path=str(out / "console-review-queue.png"), full_page=True)
                browser.close()
        finally:
            server.shutdown()
            db.dispose()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs"))
