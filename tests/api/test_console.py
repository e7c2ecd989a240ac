"""The console's session and CSRF rules over HTTP (Flask's test client), on both
databases: what the browser tests cannot see or would take long to wait for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from service.api import create_app
from service.config import Settings
from service.db.database import Database
from service.db.tables import api_keys as api_keys_table
from service.domain.roles import Role
from service.services import keys
from service.services.webhook_delivery import Deliverer
from tests.api.test_deposits import balance
from tests.api.test_withdrawals import fund, withdraw
from tests.conftest import Api, Clock
from tests.webhook_receiver import receiver


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _sign_in(client: Any, key: str, base_url: str = "http://localhost") -> Any:
    page = client.get("/console/sign-in", base_url=base_url)
    token = _token(page.get_data(as_text=True))
    # Over TLS, Flask-WTF also wants a same-origin Referer, as browsers send.
    return client.post(
        "/console/sign-in",
        data={"csrf_token": token, "api_key": key},
        base_url=base_url,
        headers={"Referer": f"{base_url}/console/sign-in"},
    )


def _cookie_header(response: Any) -> str:
    (header,) = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("ledger_console=")
    ]
    return str(header)


def test_sign_in_sets_a_strict_httponly_cookie_of_8_hours_at_most(
    app: Any, api_keys: dict[Role, str]
) -> None:
    response = _sign_in(app.test_client(), api_keys[Role.COMPLIANCE])
    assert response.status_code == 302
    header = _cookie_header(response)
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header
    assert "Path=/console" in header
    assert "Secure" not in header  # plain HTTP, no trusted proxy
    assert "Max-Age=28800" in header or "Expires=" in header
    assert api_keys[Role.COMPLIANCE] not in header


def test_cookie_is_secure_over_tls(app: Any, api_keys: dict[Role, str]) -> None:
    response = _sign_in(app.test_client(), api_keys[Role.COMPLIANCE], "https://localhost")
    assert response.status_code == 302
    assert "; Secure" in _cookie_header(response)


def test_forwarded_proto_is_honoured_only_from_a_trusted_proxy(
    db: Database, clock: Clock, api_keys: dict[Role, str]
) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "Referer": "https://localhost/console/sign-in"}
    for proxies, secure in ((0, False), (1, True)):
        app = create_app(Settings(database_url=db.url, trusted_proxies=proxies), db)
        app.extensions["ledger"].clock = clock
        client = app.test_client()
        page = client.get("/console/sign-in", headers=forwarded)
        response = client.post(
            "/console/sign-in",
            data={
                "csrf_token": _token(page.get_data(as_text=True)),
                "api_key": api_keys[Role.ADMIN],
            },
            headers=forwarded,
        )
        assert response.status_code == 302
        assert ("; Secure" in _cookie_header(response)) is secure


def test_secure_cookie_setting_marks_it_secure_on_plain_http(
    db: Database, clock: Clock, api_keys: dict[Role, str]
) -> None:
    app = create_app(Settings(database_url=db.url, session_cookie_secure=True), db)
    app.extensions["ledger"].clock = clock
    response = _sign_in(app.test_client(), api_keys[Role.ADMIN])
    assert "; Secure" in _cookie_header(response)


def test_processes_without_a_configured_secret_share_the_stored_one(
    db: Database, clock: Clock, api_keys: dict[Role, str]
) -> None:
    """Two apps on one database stand for two gunicorn workers: a cookie signed by
    one is accepted by the other."""
    first, second = (create_app(Settings(database_url=db.url), db) for _ in range(2))
    for app in (first, second):
        app.extensions["ledger"].clock = clock
    one = first.test_client()
    _sign_in(one, api_keys[Role.COMPLIANCE])
    cookie = one.get_cookie("ledger_console", path="/console")
    assert cookie is not None
    other = second.test_client()
    other.set_cookie("ledger_console", cookie.value, path="/console")
    assert other.get("/console/withdrawals").status_code == 200
    assert first.secret_key == second.secret_key


def test_a_configured_secret_is_used_and_others_refuse_its_cookies(
    db: Database, clock: Clock, api_keys: dict[Role, str]
) -> None:
    configured = create_app(Settings(database_url=db.url, secret_key="s3cret-" * 6), db)
    stored = create_app(Settings(database_url=db.url), db)
    for app in (configured, stored):
        app.extensions["ledger"].clock = clock
    one = configured.test_client()
    _sign_in(one, api_keys[Role.COMPLIANCE])
    assert configured.secret_key == "s3cret-" * 6
    cookie = one.get_cookie("ledger_console", path="/console")
    assert cookie is not None
    other = stored.test_client()
    other.set_cookie("ledger_console", cookie.value, path="/console")
    assert other.get("/console/withdrawals").status_code == 302  # to the sign-in form


def test_sign_out_ends_the_session_for_copies_of_the_cookie_too(
    app: Any, api_keys: dict[Role, str]
) -> None:
    client = app.test_client()
    _sign_in(client, api_keys[Role.COMPLIANCE])
    cookie = client.get_cookie("ledger_console", path="/console")
    assert cookie is not None
    page = client.get("/console/accounts").get_data(as_text=True)
    response = client.post("/console/sign-out", data={"csrf_token": _token(page)})
    assert response.status_code == 302
    copy = app.test_client()
    copy.set_cookie("ledger_console", cookie.value, path="/console")
    response = copy.get("/console/withdrawals")
    assert response.status_code == 302
    assert "/console/sign-in" in response.headers["Location"]


def test_a_revoked_key_ends_its_sessions_on_the_next_request(
    app: Any, db: Database, api_keys: dict[Role, str]
) -> None:
    client = app.test_client()
    _sign_in(client, api_keys[Role.COMPLIANCE])
    assert client.get("/console/withdrawals").status_code == 200
    with db.write() as tx:
        keys.revoke_key(tx, "test-compliance", datetime.now(UTC))
    response = client.get("/console/withdrawals")
    assert response.status_code == 302
    assert "/console/sign-in" in response.headers["Location"]
    # signing in again (the key cache may still vouch for it for a moment) gives
    # no session either: each request checks the key is not revoked
    other = app.test_client()
    _sign_in(other, api_keys[Role.COMPLIANCE])
    assert other.get("/console/withdrawals").status_code == 302


def test_a_key_whose_role_changed_ends_the_session(
    app: Any, db: Database, api_keys: dict[Role, str]
) -> None:
    client = app.test_client()
    _sign_in(client, api_keys[Role.COMPLIANCE])
    assert client.get("/console/withdrawals").status_code == 200
    with db.write() as tx:
        tx.execute(
            update(api_keys_table)
            .where(api_keys_table.c.name == "test-compliance")
            .values(role=Role.TRADING.value)
        )
    response = client.get("/console/withdrawals")
    assert response.status_code == 302
    assert "/console/sign-in" in response.headers["Location"]


def test_a_session_ends_8_hours_after_sign_in_however_active(
    app: Any, clock: Clock, api_keys: dict[Role, str]
) -> None:
    client = app.test_client()
    start = clock.now
    _sign_in(client, api_keys[Role.ADMIN])
    clock.now = start + timedelta(hours=7, minutes=59)
    assert client.get("/console/accounts").status_code == 200
    clock.now = start + timedelta(hours=8, seconds=1)
    assert client.get("/console/accounts").status_code == 302


def test_post_without_token_is_400_and_changes_nothing(
    app: Any, api: Api, api_keys: dict[Role, str]
) -> None:
    account = api.open_account()
    client = app.test_client()
    _sign_in(client, api_keys[Role.COMPLIANCE])
    response = client.post(
        f"/console/accounts/{account}/status", data={"status": "restricted", "reason": "x"}
    )
    assert response.status_code == 400
    assert "csrf_failed" in response.get_data(as_text=True)
    assert api.get(f"/v1/accounts/{account}").get_json()["status"] == "active"


def test_the_rest_api_needs_no_csrf_token_and_sets_no_cookie(api: Api) -> None:
    response = api.post("/v1/accounts", {"external_id": "x-1", "country": "GB", "tier": "basic"})
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers
    account = response.get_json()["id"]
    patched = api.client.patch(
        f"/v1/accounts/{account}",
        json={"status": "restricted", "reason": "chargeback"},
        headers=api.headers(Role.COMPLIANCE, idem=None),
    )
    assert patched.status_code == 200
    assert "Set-Cookie" not in patched.headers


@pytest.mark.parametrize(
    "wanted", ["//evil.example/", "https://evil.example/", "/v1/accounts", "/console/withdrawals"]
)
def test_sign_in_returns_only_to_console_pages(
    app: Any, api_keys: dict[Role, str], wanted: str
) -> None:
    client = app.test_client()
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        query_string={"next": wanted},
        data={"csrf_token": _token(page.get_data(as_text=True)), "api_key": api_keys[Role.ADMIN]},
    )
    expected = wanted if wanted.startswith("/console/") else "/console/accounts"
    assert response.headers["Location"] == expected


def test_search_takes_external_id_prefix_literally(
    app: Any, api: Api, api_keys: dict[Role, str]
) -> None:
    api.open_account("alpha_1")
    api.open_account("alphaX1")
    client = app.test_client()
    _sign_in(client, api_keys[Role.TRADING])
    page = client.get("/console/accounts", query_string={"q": "alpha_"}).get_data(as_text=True)
    assert "alpha_1" in page
    assert "alphaX1" not in page
    page = client.get("/console/accounts", query_string={"q": "ALPHA"}).get_data(as_text=True)
    assert "No account matches" in page


def test_pages_follow_the_api_roles(app: Any, api: Api, api_keys: dict[Role, str]) -> None:
    """Every role reads accounts; only compliance and admin see the queue and reach
    the status change (where active -> active is refused by the service: 409)."""
    account = api.open_account()
    may_review = {Role.COMPLIANCE, Role.ADMIN}
    for role in Role:
        client = app.test_client()
        _sign_in(client, api_keys[role])
        page = client.get(f"/console/accounts/{account}")
        assert page.status_code == 200, role
        assert client.get("/console/withdrawals").status_code == (
            200 if role in may_review else 403
        ), role
        answer = client.post(
            f"/console/accounts/{account}/status",
            data={
                "csrf_token": _token(page.get_data(as_text=True)),
                "status": "active",
                "reason": "check",
            },
        )
        assert answer.status_code == (409 if role in may_review else 403), role
    assert api.get(f"/v1/accounts/{account}").get_json()["status"] == "active"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/console/accounts/00000000-0000-4000-8000-000000000000", 404, "account_not_found"),
        ("/console/accounts/{account}?tx_cursor=garbage", 400, "invalid_cursor"),
        ("/console/accounts/{account}?holds_cursor=e30", 400, "invalid_cursor"),
        ("/console/withdrawals?cursor=W10", 400, "invalid_cursor"),
    ],
)
def test_bad_input_is_an_error_page_not_a_500(
    app: Any, api: Api, api_keys: dict[Role, str], path: str, status: int, code: str
) -> None:
    account = api.open_account()
    client = app.test_client()
    _sign_in(client, api_keys[Role.ADMIN])
    response = client.get(path.format(account=account))
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert code in response.get_data(as_text=True)


def test_review_of_an_unknown_decision_or_withdrawal_changes_nothing(
    app: Any, api_keys: dict[Role, str]
) -> None:
    client = app.test_client()
    _sign_in(client, api_keys[Role.COMPLIANCE])
    token = _token(client.get("/console/withdrawals").get_data(as_text=True))
    missing = "00000000-0000-4000-8000-000000000000"
    response = client.post(
        f"/console/withdrawals/{missing}/review",
        data={"csrf_token": token, "decision": "approve"},
        headers={"X-Client-Country": "GB"},
    )
    assert response.status_code == 404
    assert "withdrawal_not_found" in response.get_data(as_text=True)
    response = client.post(
        f"/console/withdrawals/{missing}/review",
        data={"csrf_token": token, "decision": "delete"},
        headers={"X-Client-Country": "GB"},
    )
    assert response.status_code == 400


def test_review_decisions_pass_the_api_geofence(
    app: Any, api: Api, api_keys: dict[Role, str]
) -> None:
    """As for POST /v1/withdrawals/{id}/approve: no country header, 400; a blocked
    country, 403 and the account flagged read_only; the withdrawal stays in review."""
    account = api.open_account(tier="verified")
    fund(api, account, "20000.00")
    withdrawal = withdraw(api, account, "15000.00").get_json()["id"]
    client = app.test_client()
    _sign_in(client, api_keys[Role.COMPLIANCE])
    token = _token(client.get("/console/withdrawals").get_data(as_text=True))
    path = f"/console/withdrawals/{withdrawal}/review"
    form = {"csrf_token": token, "decision": "approve"}
    response = client.post(path, data=form)
    assert response.status_code == 400
    assert "country_required" in response.get_data(as_text=True)
    response = client.post(path, data=form, headers={"X-Client-Country": "US"})
    assert response.status_code == 403
    assert "jurisdiction_blocked" in response.get_data(as_text=True)
    assert api.get(f"/v1/withdrawals/{withdrawal}").get_json()["status"] == "review"
    assert api.get(f"/v1/accounts/{account}").get_json()["status"] == "read_only"


def test_control_characters_in_inputs_are_refused(
    app: Any, api: Api, api_keys: dict[Role, str]
) -> None:
    account = api.open_account()
    client = app.test_client()
    _sign_in(client, api_keys[Role.COMPLIANCE])
    response = client.get("/console/accounts", query_string={"q": "cust\x00"})
    assert response.status_code == 422
    page = client.get(f"/console/accounts/{account}").get_data(as_text=True)
    response = client.post(
        f"/console/accounts/{account}/status",
        data={"csrf_token": _token(page), "status": "restricted", "reason": "bad\x1b[31m"},
    )
    assert response.status_code == 422
    assert "reason" in response.get_data(as_text=True)
    assert api.get(f"/v1/accounts/{account}").get_json()["status"] == "active"


def test_pages_are_not_cached_or_framed(app: Any, api_keys: dict[Role, str]) -> None:
    client = app.test_client()
    _sign_in(client, api_keys[Role.TRADING])
    for path in ("/console/sign-in", "/console/accounts", "/console/withdrawals"):
        response = client.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path
        assert response.headers["X-Frame-Options"] == "DENY", path
    assert client.get("/console/static/console.css").status_code == 200


def test_a_second_decision_on_the_same_withdrawal_is_refused(
    app: Any, api: Api, api_keys: dict[Role, str]
) -> None:
    """Two tabs, or a double click: one decision counts, the other is 409 and
    changes nothing (the service's state machine, under the account's lock)."""
    account = api.open_account(tier="verified")
    fund(api, account, "20000.00")
    withdrawal = withdraw(api, account, "15000.00").get_json()["id"]
    client = app.test_client()
    _sign_in(client, api_keys[Role.COMPLIANCE])
    token = _token(client.get("/console/withdrawals").get_data(as_text=True))
    path = f"/console/withdrawals/{withdrawal}/review"
    country = {"X-Client-Country": "GB"}
    first = client.post(path, data={"csrf_token": token, "decision": "reject"}, headers=country)
    assert first.status_code == 302
    second = client.post(path, data={"csrf_token": token, "decision": "approve"}, headers=country)
    assert second.status_code == 409
    assert "invalid_withdrawal_state" in second.get_data(as_text=True)
    assert api.get(f"/v1/withdrawals/{withdrawal}").get_json()["status"] == "rejected"
    audit = api.get(f"/v1/accounts/{account}/audit", Role.COMPLIANCE).get_json()["items"]
    assert [e["action"] for e in audit] == ["withdrawal_rejected"]
    assert balance(api, account)["available_to_withdraw"] == "20000.00"


def _delivered_endpoint(api: Api, db: Database) -> tuple[str, int]:
    """An endpoint whose deliverer has sent every event so far: replay then has
    something to queue again. Returns its id and how many deliveries it has."""
    with receiver() as hook:
        created = api.post(
            "/v1/webhook-endpoints",
            {"url": hook.url, "event_types": ["account.opened"]},
            Role.OPERATIONS,
            idem=None,
        )
        assert created.status_code == 201, created.get_json()
        endpoint = str(created.get_json()["id"])
        api.open_account()
        assert Deliverer(db).run_once().delivered >= 1
    deliveries = api.get(f"/v1/webhook-endpoints/{endpoint}/deliveries", Role.OPERATIONS)
    return endpoint, len(deliveries.get_json()["items"])


def test_webhook_replay_without_token_is_400_and_queues_nothing(
    app: Any, api: Api, db: Database, api_keys: dict[Role, str]
) -> None:
    endpoint, before = _delivered_endpoint(api, db)
    deliveries = f"/v1/webhook-endpoints/{endpoint}/deliveries"
    client = app.test_client()
    _sign_in(client, api_keys[Role.OPERATIONS])
    page = client.get(f"/console/webhooks/{endpoint}")
    assert page.status_code == 200
    response = client.post(f"/console/webhooks/{endpoint}/replay", data={"after": "0"})
    assert response.status_code == 400
    assert "csrf_failed" in response.get_data(as_text=True)
    assert len(api.get(deliveries, Role.OPERATIONS).get_json()["items"]) == before

    replayed = client.post(
        f"/console/webhooks/{endpoint}/replay",
        data={"csrf_token": _token(page.get_data(as_text=True)), "after": "0"},
        follow_redirects=True,
    )
    assert replayed.status_code == 200
    assert f"{before} deliveries queued again." in replayed.get_data(as_text=True)
    assert len(api.get(deliveries, Role.OPERATIONS).get_json()["items"]) == 2 * before


def test_webhook_pages_follow_the_api_roles(
    app: Any, api: Api, db: Database, api_keys: dict[Role, str]
) -> None:
    """Operations and admin manage webhooks in the console as in the API; every
    other role gets the 403 page, for the list, the endpoint and Replay alike."""
    endpoint, before = _delivered_endpoint(api, db)
    may_manage = {Role.OPERATIONS, Role.ADMIN}
    for role in Role:
        rest = api.get(f"/v1/webhook-endpoints/{endpoint}", role)
        assert (rest.status_code == 200) == (role in may_manage), role
        client = app.test_client()
        _sign_in(client, api_keys[role])
        expected = 200 if role in may_manage else 403
        assert client.get("/console/webhooks").status_code == expected, role
        assert client.get(f"/console/webhooks/{endpoint}").status_code == expected, role
        if role not in may_manage:
            token = _token(client.get("/console/accounts").get_data(as_text=True))
            answer = client.post(
                f"/console/webhooks/{endpoint}/replay", data={"csrf_token": token, "after": "0"}
            )
            assert answer.status_code == 403, role
    deliveries = api.get(f"/v1/webhook-endpoints/{endpoint}/deliveries", Role.OPERATIONS)
    assert len(deliveries.get_json()["items"]) == before
