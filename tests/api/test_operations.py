"""Operations over REST: release job, calendar overrides, hold policies, metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from service.db.database import Database
from service.domain.roles import Role
from tests.api.test_deposits import assert_books_sound, balance, deposit
from tests.conftest import Api, Clock


def put(api: Api, path: str, body: object, role: Role = Role.OPERATIONS) -> object:
    return api.client.put(path, json=body, headers=api.headers(role, idem=None))


def test_release_job_endpoint(api: Api, clock: Clock, db: Database) -> None:
    account = api.open_account()
    deposit(api, account, "100.00", settled_at="2026-11-20T20:00:00Z")
    forbidden = api.post("/v1/jobs/release-holds", {}, Role.TRADING)
    assert forbidden.status_code == 403
    clock.now = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    early = api.post("/v1/jobs/release-holds", {"as_of": "2026-11-25T19:59:59Z"}, Role.OPERATIONS)
    assert early.status_code == 200
    assert early.get_json()["released"] == 0
    response = api.post(
        "/v1/jobs/release-holds", {"as_of": "2026-11-25T20:00:00Z"}, Role.OPERATIONS
    )
    body = response.get_json()
    assert (body["released"], body["as_of"]) == (1, "2026-11-25T20:00:00Z")
    again = api.post("/v1/jobs/release-holds", {"as_of": "2026-11-25T20:00:00Z"}, Role.OPERATIONS)
    assert again.get_json()["released"] == 0
    assert balance(api, account)["available_to_withdraw"] == "100.00"
    bad = api.post("/v1/jobs/release-holds", {"as_of": "2026-11-25T20:00:00"}, Role.OPERATIONS)
    assert bad.status_code == 422
    assert_books_sound(db)


def test_release_job_refuses_a_future_as_of(api: Api, clock: Clock, db: Database) -> None:
    """Issue 12, item 2: releasing as of next week freed holds days early."""
    account = api.open_account()
    deposit(api, account, "100.00", settled_at="2026-11-20T20:00:00Z")
    clock.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # the hold is due 11-25 20:00
    future = api.post("/v1/jobs/release-holds", {"as_of": "2027-01-01T00:00:00Z"}, Role.OPERATIONS)
    assert future.status_code == 422
    assert future.get_json()["code"] == "as_of_in_future"
    assert balance(api, account)["temporary_holds"] == "100.00"
    skew = api.post("/v1/jobs/release-holds", {"as_of": "2026-11-24T12:00:59Z"}, Role.OPERATIONS)
    assert skew.status_code == 200  # within a minute of clock skew
    assert skew.get_json()["released"] == 0
    assert_books_sound(db)


def test_release_job_future_as_of_where_the_deployment_simulates_time(
    db: Database, clock: Clock
) -> None:
    from dataclasses import replace

    from service.api import create_app
    from service.config import Settings
    from service.services import keys

    settings = replace(Settings(database_url=db.url), allow_future_as_of=True)
    app = create_app(settings, db)
    app.extensions["ledger"].clock = clock
    with db.write() as tx:
        key = keys.create_key(tx, Role.ADMIN, "staging", datetime.now(UTC))
    api = Api(app.test_client(), dict.fromkeys(Role, key))
    account = api.open_account()
    deposit(api, account, "100.00", settled_at="2026-11-20T20:00:00Z")
    future = api.post("/v1/jobs/release-holds", {"as_of": "2026-11-25T20:00:00Z"}, Role.ADMIN)
    assert future.status_code == 200, future.get_json()
    assert future.get_json()["released"] == 1


def test_holiday_added_in_window_pushes_release_and_removal_pulls_back(
    api: Api, db: Database, clock: Clock
) -> None:
    account = api.open_account()
    active = deposit(api, account, "50.00", settled_at="2026-11-20T20:00:00Z").get_json()
    old = deposit(api, account, "5.00", settled_at="2026-11-10T20:00:00Z").get_json()
    api.post("/v1/jobs/release-holds", {"as_of": "2026-11-20T20:00:00Z"}, Role.OPERATIONS)
    old_release = old["hold"]["release_at"]
    assert active["hold"]["release_at"] == "2026-11-25T20:00:00Z"

    response = put(
        api, "/v1/calendar/overrides/2026-11-24", {"business_day": False, "name": "Snow day"}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["holds_recomputed"] == 1

    holds = {h["id"]: h for h in api.get(f"/v1/accounts/{account}/holds").get_json()["items"]}
    assert holds[active["hold"]["id"]]["release_at"] == "2026-11-27T20:00:00Z"  # 26th Thanksgiving
    assert holds[old["hold"]["id"]]["status"] == "released"
    assert holds[old["hold"]["id"]]["release_at"] == old_release

    holidays = api.get("/v1/calendar/holidays?year=2026").get_json()
    assert {"date": "2026-11-24", "name": "Snow day", "source": "override"} in holidays
    assert {"date": "2026-11-26", "name": "Thanksgiving Day", "source": "calendar"} in [
        {k: h[k] for k in ("date", "name", "source")} for h in holidays
    ]
    days = api.get("/v1/calendar/business-days?from=2026-11-23&to=2026-11-27").get_json()
    assert days == {"days": ["2026-11-23", "2026-11-25", "2026-11-27"]}

    removed = api.client.delete(
        "/v1/calendar/overrides/2026-11-24", headers=api.headers(Role.OPERATIONS, idem=None)
    )
    assert removed.status_code == 200
    holds = {h["id"]: h for h in api.get(f"/v1/accounts/{account}/holds").get_json()["items"]}
    assert holds[active["hold"]["id"]]["release_at"] == "2026-11-25T20:00:00Z"
    assert (
        api.client.delete(
            "/v1/calendar/overrides/2026-11-24", headers=api.headers(Role.OPERATIONS, idem=None)
        ).status_code
        == 404
    )
    audit = db.read
    with audit() as conn:
        from sqlalchemy import text

        actions = [
            r[0]
            for r in conn.execute(
                text("SELECT action FROM audit_log WHERE account_id IS NOT NULL ORDER BY at, id")
            )
        ]
    assert actions == ["calendar_override_set", "calendar_override_removed"]
    assert_books_sound(db)


def test_extra_open_day_pulls_release_earlier(api: Api) -> None:
    account = api.open_account()
    held = deposit(api, account, "50.00", settled_at="2026-11-20T20:00:00Z").get_json()
    response = put(
        api,
        "/v1/calendar/overrides/2026-11-21",
        {"business_day": True, "name": "Saturday settlement"},
    )
    assert response.status_code == 200
    [hold] = api.get(f"/v1/accounts/{account}/holds").get_json()["items"]
    assert hold["id"] == held["hold"]["id"]
    assert hold["release_at"] == "2026-11-24T20:00:00Z"


def test_calendar_bad_input(api: Api) -> None:
    assert (
        put(
            api, "/v1/calendar/overrides/2026-13-40", {"business_day": False, "name": "x"}
        ).status_code
        == 422
    )
    assert (
        put(
            api, "/v1/calendar/overrides/2026-11-24", {"business_day": "no", "name": "x"}
        ).status_code
        == 422
    )
    assert (
        put(
            api, "/v1/calendar/overrides/2200-01-02", {"business_day": False, "name": "x"}
        ).status_code
        == 422
    )
    assert (
        put(
            api,
            "/v1/calendar/overrides/2026-11-24",
            {"business_day": False, "name": "x"},
            Role.TRADING,
        ).status_code
        == 403
    )
    assert api.get("/v1/calendar/business-days?from=2026-11-27&to=2026-11-23").status_code == 422
    assert api.get("/v1/calendar/business-days?from=2026-11-23").status_code == 422
    assert api.get("/v1/calendar/holidays?year=2300").status_code == 422


def test_hold_policies(api: Api, clock: Clock) -> None:
    assert api.get("/v1/hold-policies").get_json() == {
        "policies": {"bank_transfer": 0, "card": 3, "crypto": 0, "paypal": 3}
    }
    assert put(api, "/v1/hold-policies/card", {"business_days": 31}).status_code == 422
    assert put(api, "/v1/hold-policies/card", {"business_days": "2"}).status_code == 422
    assert put(api, "/v1/hold-policies/cheque", {"business_days": 2}).status_code == 422
    assert (
        put(api, "/v1/hold-policies/card", {"business_days": 2}, Role.PAYMENTS).status_code == 403
    )
    response = put(api, "/v1/hold-policies/bank_transfer", {"business_days": 1})
    assert response.status_code == 200
    assert response.get_json()["policies"]["bank_transfer"] == 1
    account = api.open_account()
    held = deposit(
        api, account, "10.00", method="bank_transfer", settled_at="2026-11-20T20:00:00Z"
    ).get_json()
    assert held["hold"]["release_at"] == "2026-11-23T20:00:00Z"
    other = api.open_account()
    override = put(api, f"/v1/accounts/{other}/hold-policies/card", {"business_days": 0})
    assert override.status_code == 200
    unheld = deposit(api, other, "10.00", settled_at="2026-11-20T20:00:00Z").get_json()
    assert unheld["hold"] is None
    assert balance(api, other)["available_to_withdraw"] == "10.00"
    quote = api.post(
        "/v1/deposits/quote",
        {
            "account_id": account,
            "method": "card",
            "asset": "USD",
            "amount": "5.00",
            "at": "2026-11-20T20:00:00Z",
        },
        Role.TRADING,
    )
    assert quote.get_json() == {
        "method": "card",
        "asset": "USD",
        "amount": "5.00",
        "hold_business_days": 3,
        "available_to_trade_at": "2026-11-20T20:00:00Z",
        "available_to_withdraw_at": "2026-11-25T20:00:00Z",
    }


def test_metrics_report_holds(api: Api, clock: Clock) -> None:
    account = api.open_account()
    deposit(api, account, "10.00", settled_at="2026-11-20T20:00:00Z")
    clock.now = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
    text = api.client.get("/metrics").get_data(as_text=True)
    assert "ledger_active_holds 1.0" in text
    assert "ledger_overdue_active_holds 1.0" in text
    assert "ledger_oldest_overdue_hold_seconds 86400.0" in text
    api.post("/v1/jobs/release-holds", {}, Role.OPERATIONS)
    text = api.client.get("/metrics").get_data(as_text=True)
    assert "ledger_overdue_active_holds 0.0" in text
    assert 'ledger_holds_released_total{trigger="job"}' in text


def test_dates_and_times_only_in_the_documented_forms(api: Api) -> None:
    """Python reads ISO 8601's basic and week forms too (``20261120``,
    ``2026-W47-5``, ``20261120T150000Z``); the contract and the OpenAPI patterns
    say YYYY-MM-DD and RFC 3339 date-times, so those are refused (422)."""
    for day in ("20261120", "2026-W47-5"):
        listed = api.get(f"/v1/calendar/business-days?from={day}&to=2026-11-30")
        assert (listed.status_code, listed.get_json()["code"]) == (422, "validation_failed")
        put = api.client.put(
            f"/v1/calendar/overrides/{day}",
            json={"business_day": False, "name": "x"},
            headers=api.headers(Role.OPERATIONS, idem=None),
        )
        assert put.status_code == 422, day
    account = api.open_account()
    for at in ("20261120T150000Z", "2026-11-20T15:00Z", "2026-W47-5T15:00:00Z"):
        quote = api.post(
            "/v1/deposits/quote",
            {"account_id": account, "method": "card", "asset": "USD", "amount": "1.00", "at": at},
            Role.TRADING,
        )
        assert (quote.status_code, list(quote.get_json()["errors"])) == (422, ["at"]), at
    assert api.get("/v1/calendar/business-days?from=2026-11-20&to=2026-11-30").status_code == 200


def test_a_policy_change_holds_at_once_for_deposits_on_every_worker(
    db: Database, clock: Clock
) -> None:
    """Issue 12, item 5: after PUT /v1/hold-policies/card returned 200, a deposit
    answered by another worker within seconds still got the old 3-day hold."""
    from service.api import create_app
    from service.config import Settings
    from service.services import keys
    from tests.conftest import Api

    with db.write() as tx:
        key = keys.create_key(tx, Role.ADMIN, "two-workers", datetime.now(UTC))
    workers = []
    for _ in range(2):
        app = create_app(Settings(database_url=db.url), db)
        app.extensions["ledger"].clock = clock
        workers.append(Api(app.test_client(), dict.fromkeys(Role, key)))
    first, second = workers
    account = first.open_account()
    before = deposit(second, account, "10.00", settled_at="2026-11-20T20:00:00Z").get_json()
    assert before["hold"]["release_at"] == "2026-11-25T20:00:00Z"  # 3 business days
    assert put(first, "/v1/hold-policies/card", {"business_days": 5}, Role.ADMIN).status_code == 200
    after_put = deposit(second, account, "10.00", settled_at="2026-11-20T20:00:00Z").get_json()
    assert after_put["hold"]["release_at"] == "2026-11-30T20:00:00Z"  # 5 business days
    # The same change made by a process that cannot tell this one (another host):
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE hold_policies SET business_days = 4 WHERE method = 'card'"))
    after = deposit(second, account, "10.00", settled_at="2026-11-20T20:00:00Z").get_json()
    assert after["hold"]["release_at"] == "2026-11-27T20:00:00Z"  # 4 business days
    batch = second.post(
        "/v1/deposits/batch",
        {
            "deposits": [
                {
                    "account_id": account,
                    "method": "card",
                    "asset": "USD",
                    "amount": "1.00",
                    "external_ref": "batch-after-change",
                    "settled_at": "2026-11-20T20:00:00Z",
                }
            ]
        },
        Role.ADMIN,
    )
    assert batch.get_json()["deposits"][0]["hold"]["release_at"] == "2026-11-27T20:00:00Z"
