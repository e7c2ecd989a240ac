"""The console in a real browser (Chromium via Playwright), on SQLite and PostgreSQL:
what support and compliance staff do, and what the console must refuse."""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from service.domain.roles import Role
from service.services.webhook_delivery import Deliverer
from tests.api.test_deposits import deposit
from tests.api.test_withdrawals import fund, withdraw
from tests.browser.conftest import Served, sign_in
from tests.webhook_receiver import receiver


def _account(served: Served, tier: str = "verified") -> tuple[str, str]:
    external_id = f"cust-{os.urandom(4).hex()}"
    return served.api.open_account(external_id, tier=tier), external_id


def _in_review(served: Served, amount: str = "15000.00") -> tuple[str, str]:
    """An account with a withdrawal waiting for review (above the review threshold)."""
    account, _ = _account(served)
    fund(served.api, account, "20000.00")
    response = withdraw(served.api, account, amount)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "review"
    return account, response.get_json()["id"]


def _status(served: Served, account: str) -> str:
    return str(served.api.get(f"/v1/accounts/{account}").get_json()["status"])


def _audit(served: Served, account: str) -> list[dict[str, Any]]:
    response = served.api.get(f"/v1/accounts/{account}/audit", Role.COMPLIANCE)
    assert response.status_code == 200
    return list(response.get_json()["items"])


def test_wrong_key_is_refused(page: Any) -> None:
    sign_in(page, "lk_not-a-key")
    expect(page.get_by_role("alert")).to_have_text("Unknown API key.")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.goto("/console/accounts")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))


def test_find_account_by_external_id_and_see_held_amount_and_release(
    page: Any, served: Served
) -> None:
    account, external_id = _account(served)
    placed = deposit(served.api, account, "500.00", method="card")
    assert placed.status_code == 201, placed.get_json()
    release_at = datetime.fromisoformat(placed.get_json()["hold"]["release_at"])

    sign_in(page, served.keys[Role.TRADING])
    page.get_by_label("Search").fill(external_id[:8])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=external_id).click()

    expect(page.get_by_role("heading", name=f"Account {external_id}")).to_be_visible()
    usd = page.locator("table").first.get_by_role("row").filter(has_text="USD")
    # total, available_to_trade, available_to_withdraw, temporary_holds, pending
    expect(usd.locator("td.num")).to_have_text(["500.00", "500.00", "0.00", "500.00", "0.00"])
    local = release_at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M")
    utc = release_at.strftime("%Y-%m-%d %H:%M UTC")
    holds = page.locator("section", has=page.get_by_role("heading", name="Holds"))
    hold_row = holds.get_by_role("row").filter(has_text="card")
    expect(hold_row).to_contain_text("500.00 USD")
    expect(hold_row).to_contain_text(local)
    expect(hold_row).to_contain_text(utc)
    timeline = page.locator("ol.timeline li")
    expect(timeline).to_have_count(1)
    expect(timeline).to_contain_text(local)
    expect(timeline).to_contain_text("withdrawable then: 500.00 USD")
    # a trading key reads accounts but not the audit log, and may not change status
    expect(page.get_by_role("heading", name="Audit log")).to_have_count(0)
    expect(page.get_by_role("button", name="Change status")).to_have_count(0)


def test_search_by_account_id(page: Any, served: Served) -> None:
    account, external_id = _account(served)
    sign_in(page, served.keys[Role.ACCOUNTANT])
    page.get_by_label("Search").fill(account)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=external_id)).to_be_visible()


def test_approve_and_reject_from_the_queue(page: Any, served: Served) -> None:
    approved_account, approved = _in_review(served)
    rejected_account, rejected = _in_review(served, "12000.00")

    sign_in(page, served.keys[Role.COMPLIANCE])
    page.get_by_role("link", name="Review queue").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()

    row = page.locator(f"#w-{approved}")
    expect(row).to_contain_text("15000.00")
    expect(row).to_contain_text(approved_account)
    row.get_by_label("Reason").fill("source of funds checked")
    row.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text(f"Withdrawal {approved} pending")
    expect(page.locator(f"#w-{approved}")).to_have_count(0)

    row = page.locator(f"#w-{rejected}")
    row.get_by_label("Reason").fill("destination on a sanctions list")
    row.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text(f"Withdrawal {rejected} rejected")

    assert served.api.get(f"/v1/withdrawals/{approved}").get_json()["status"] == "pending"
    assert served.api.get(f"/v1/withdrawals/{rejected}").get_json()["status"] == "rejected"
    entry = _audit(served, approved_account)[0]
    assert (entry["actor"], entry["action"], entry["reason"]) == (
        "staff-compliance",
        "withdrawal_approved",
        "source of funds checked",
    )
    entry = _audit(served, rejected_account)[0]
    assert (entry["actor"], entry["action"], entry["reason"]) == (
        "staff-compliance",
        "withdrawal_rejected",
        "destination on a sanctions list",
    )
    # the account page shows the same entry to compliance
    page.goto(f"/console/accounts/{rejected_account}")
    audit = page.locator("section", has=page.get_by_role("heading", name="Audit log"))
    expect(audit.get_by_role("row").nth(1)).to_contain_text("staff-compliance")
    expect(audit.get_by_role("row").nth(1)).to_contain_text("destination on a sanctions list")


def test_restrict_an_account(page: Any, served: Served) -> None:
    account, _ = _account(served)
    sign_in(page, served.keys[Role.COMPLIANCE])
    page.goto(f"/console/accounts/{account}")
    page.get_by_label("Status", exact=True).select_option("restricted")
    page.get_by_label("Reason", exact=True).fill("chargeback on card deposit")
    page.get_by_role("button", name="Change status").click()
    expect(page.get_by_role("status")).to_have_text("Status changed to restricted.")
    expect(page.locator(".facts")).to_contain_text("restricted")
    assert _status(served, account) == "restricted"
    entry = _audit(served, account)[0]
    assert (entry["actor"], entry["action"], entry["reason"]) == (
        "staff-compliance",
        "status_change",
        "chargeback on card deposit",
    )


def test_a_refused_status_change_shows_the_rule_and_changes_nothing(
    page: Any, served: Served
) -> None:
    account, _ = _account(served)
    sign_in(page, served.keys[Role.ADMIN])
    page.goto(f"/console/accounts/{account}")
    page.get_by_label("Status", exact=True).select_option("active")
    page.get_by_label("Reason", exact=True).fill("no-op")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Change status").click()
    assert answer.value.status == 409
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_text("invalid_status_transition")).to_be_visible()
    assert _status(served, account) == "active"


def test_trading_key_gets_403_on_the_queue(page: Any, served: Served) -> None:
    _in_review(served)
    sign_in(page, served.keys[Role.TRADING])
    expect(page.get_by_role("link", name="Review queue")).to_have_count(0)
    response = page.goto("/console/withdrawals")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="403 Forbidden")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)


def test_post_without_csrf_token_changes_nothing(page: Any, served: Served) -> None:
    account, _ = _account(served)
    review_account, withdrawal = _in_review(served)
    sign_in(page, served.keys[Role.COMPLIANCE])

    page.goto(f"/console/accounts/{account}")
    page.locator("form:has(button:text('Change status')) input[name=csrf_token]").evaluate(
        "e => e.remove()"
    )
    page.get_by_label("Status", exact=True).select_option("restricted")
    page.get_by_label("Reason", exact=True).fill("forged")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Change status").click()
    assert answer.value.status == 400
    expect(page.get_by_text("csrf_failed")).to_be_visible()
    assert _status(served, account) == "active"

    page.goto("/console/withdrawals")
    row = page.locator(f"#w-{withdrawal}")
    row.locator("input[name$=csrf_token]").evaluate("e => e.value = 'forged'")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        row.get_by_role("button", name="Approve").click()
    assert answer.value.status == 400
    assert served.api.get(f"/v1/withdrawals/{withdrawal}").get_json()["status"] == "review"
    assert [e["action"] for e in _audit(served, review_account)] == []


def test_sign_out(page: Any, served: Served) -> None:
    sign_in(page, served.keys[Role.OPERATIONS])
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    assert page.context.cookies() == [] or all(
        c["name"] != "ledger_console" or "key_id" not in c["value"] for c in page.context.cookies()
    )
    page.goto("/console/accounts")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))


def test_cookie_flags(page: Any, served: Served) -> None:
    sign_in(page, served.keys[Role.COMPLIANCE])
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "ledger_console"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain HTTP here; TLS: tests/api/test_console.py
    assert cookie["path"] == "/console"
    assert 0 < cookie["expires"] - datetime.now().timestamp() <= 8 * 3600 + 5
    assert page.evaluate("document.cookie") == ""


_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden' && e.labels.length === 0)
    .map(e => e.name)"""


def test_keyboard_only_every_input_labelled_fits_1280(page: Any, served: Served) -> None:
    """Sign in, search, open the account and restrict it with the keyboard alone;
    no input without a label and no sideways scrolling at 1280 px on any page."""
    _, withdrawal = _in_review(served)
    account, external_id = _account(served)
    deposit(served.api, account, "500.00", method="card")

    def check_page() -> None:
        assert page.evaluate(_UNLABELLED) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280

    page.goto("/console/sign-in")
    check_page()
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(served.keys[Role.COMPLIANCE])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    check_page()
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type(external_id)
    page.keyboard.press("Enter")
    link = page.get_by_role("link", name=external_id)
    expect(link).to_be_visible()
    for _ in range(20):
        if link.evaluate("e => e === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Account {external_id}")).to_be_visible()
    check_page()
    status = page.get_by_label("Status", exact=True)
    status.focus()
    expect(status).to_be_focused()
    page.keyboard.press("End")  # the last choice: restricted
    expect(status).to_have_value("restricted")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Reason", exact=True)).to_be_focused()
    page.keyboard.type("keyboard check")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Change status")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Status changed to restricted.")
    assert _status(served, account) == "restricted"
    page.goto("/console/withdrawals")
    expect(page.locator(f"#w-{withdrawal}")).to_be_visible()
    check_page()


def test_webhook_endpoints_deliveries_and_replay(page: Any, served: Served) -> None:
    with receiver() as hook:
        created = served.api.post(
            "/v1/webhook-endpoints",
            {"url": hook.url, "event_types": ["account.opened"], "description": "risk engine"},
            Role.OPERATIONS,
            idem=None,
        )
        assert created.status_code == 201, created.get_json()
        endpoint = created.get_json()["id"]
        _account(served)
        _account(served)
        assert Deliverer(served.db).run_once().delivered >= 2
    deliveries = f"/v1/webhook-endpoints/{endpoint}/deliveries"
    before = len(served.api.get(deliveries, Role.OPERATIONS).get_json()["items"])

    sign_in(page, served.keys[Role.OPERATIONS])
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhook endpoints")).to_be_visible()
    page.get_by_role("link", name=hook.url).click()
    expect(page.locator(".facts")).to_contain_text("risk engine")
    page.get_by_label("After sequence").fill("0")
    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("status")).to_contain_text("deliveries queued again")
    queued = int(page.get_by_role("status").inner_text().split()[0])
    assert queued >= 2
    rows = served.api.get(deliveries, Role.OPERATIONS).get_json()["items"]
    assert len(rows) > before
    table = page.locator("section", has=page.get_by_role("heading", name="Deliveries"))
    expect(table.get_by_role("row").nth(1)).to_contain_text("account.opened")

    page.get_by_label("After sequence").fill("-1")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Replay").click()
    assert answer.value.status == 422
    assert len(served.api.get(deliveries, Role.OPERATIONS).get_json()["items"]) == len(rows)


@pytest.mark.parametrize("role", [Role.TRADING, Role.COMPLIANCE])
def test_only_operations_and_admin_see_webhooks(page: Any, served: Served, role: Role) -> None:
    sign_in(page, served.keys[role])
    expect(page.get_by_role("link", name="Webhooks")).to_have_count(0)
    response = page.goto("/console/webhooks")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
