"""Hostile input found by probing (issue 12): control characters in text, deeply
nested or oversized JSON bodies. Always a problem+json, never a 500, and the
books never change."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from service.db.database import Database
from service.domain.roles import Role
from tests.api.test_bad_input import assert_problem, snapshot
from tests.api.test_deposits import deposit
from tests.api.test_withdrawals import act, fund, withdraw
from tests.conftest import Api

CONTROL = ["\x00", "\x07", "\x1b[31m", "\r\n", "\x7f", "\x85"]


@pytest.mark.parametrize("bad", CONTROL, ids=repr)
def test_control_characters_in_text_fields_are_422_and_change_nothing(
    api: Api, db: Database, bad: str
) -> None:
    account = api.open_account()
    fund(api, account, "50.00")
    before = snapshot(api, db, account)
    ref = f"ref{bad}{uuid.uuid4().hex}"
    cases: list[tuple[str, dict[str, Any], Role]] = [
        ("/v1/accounts", {"external_id": f"x{bad}y", "country": "GB"}, Role.TRADING),
        (
            "/v1/deposits",
            {
                "account_id": account,
                "method": "card",
                "asset": "USD",
                "amount": "1.00",
                "external_ref": ref,
            },
            Role.PAYMENTS,
        ),
        (
            "/v1/withdrawals",
            {"account_id": account, "asset": "USD", "amount": "1.00", "destination": f"d{bad}"},
            Role.TRADING,
        ),
        (
            "/v1/jobs/release-holds",
            {"as_of": f"2026-11-20T10:00:00Z{bad}"},
            Role.OPERATIONS,
        ),
    ]
    for path, body, role in cases:
        problem = assert_problem(api.post(path, body, role), 422)
        assert problem["errors"], problem
    patch = api.client.patch(
        f"/v1/accounts/{account}",
        json={"status": "read_only", "reason": f"r{bad}"},
        headers=api.headers(Role.COMPLIANCE, idem=None),
    )
    assert_problem(patch, 422)
    override = api.client.put(
        "/v1/calendar/overrides/2026-12-24",
        json={"business_day": False, "name": f"Eve{bad}"},
        headers=api.headers(Role.OPERATIONS, idem=None),
    )
    assert_problem(override, 422)
    export = api.get(f"/v1/exports/holds.csv?as_of=2026-11-20{quote(bad)}", Role.ACCOUNTANT)
    assert_problem(export, 422)
    assert snapshot(api, db, account) == before
    assert api.get(f"/v1/accounts/{account}").get_json()["status"] == "active"


def test_control_characters_in_a_txid_and_a_reason_are_422(api: Api, db: Database) -> None:
    account = api.open_account()
    fund(api, account, "50.00")
    created = withdraw(api, account, "10.00")
    assert created.status_code == 201, created.get_json()
    wid = created.get_json()["id"]
    assert_problem(act(api, wid, "complete", {"txid": "0x\x00ab"}), 422)
    assert_problem(act(api, wid, "fail", {"reason": "nope\x00"}), 422)
    assert api.get(f"/v1/withdrawals/{wid}").get_json()["status"] == "pending"
    dep = deposit(api, account, "5.00").get_json()
    charge = api.post(f"/v1/deposits/{dep['id']}/chargeback", {"reason": "x\x00"}, Role.PAYMENTS)
    assert_problem(charge, 422)


def test_a_tab_is_allowed_in_text(api: Api) -> None:
    account = api.open_account()
    assert deposit(api, account, "1.00", external_ref=f"a\tb-{uuid.uuid4().hex}").status_code == 201


def post_raw(api: Api, data: str) -> Any:
    """A deposit request with ``data`` as its body, byte for byte."""
    return api.client.post(
        "/v1/deposits",
        data=data,
        headers=api.headers(Role.PAYMENTS),
        content_type="application/json",
    )


def test_deeply_nested_json_is_400(api: Api, db: Database) -> None:
    account = api.open_account()
    before = snapshot(api, db, account)
    for depth in (33, 1_000, 100_000):
        assert_problem(post_raw(api, "[" * depth + "]" * depth), 400, "json_too_deep")
    nested: Any = {}  # 32 levels with the outer object: the most allowed
    for _ in range(30):
        nested = {"a": nested}
    ok_depth = post_raw(api, json.dumps({"x": nested}))
    assert ok_depth.status_code == 422  # parsed, then refused for what it says
    assert snapshot(api, db, account) == before


def test_brackets_inside_strings_do_not_count_as_nesting(api: Api) -> None:
    account = api.open_account()
    ref = "[" * 40 + "{" * 40 + '\\"' + uuid.uuid4().hex
    assert deposit(api, account, "1.00", external_ref=ref).status_code == 201


def test_a_body_over_one_mebibyte_is_413(api: Api, db: Database) -> None:
    account = api.open_account()
    before = snapshot(api, db, account)
    body = {
        "account_id": account,
        "method": "card",
        "asset": "USD",
        "amount": "1.00",
        "external_ref": f"r-{uuid.uuid4().hex}",
    }
    padded = json.dumps(body) + " " * (10 * 1024 * 1024)
    assert_problem(post_raw(api, padded), 413, "payload_too_large")
    assert snapshot(api, db, account) == before
    just_under = json.dumps(body) + " " * (1024 * 1024 - len(json.dumps(body)) - 1)
    accepted = post_raw(api, just_under)
    assert accepted.status_code == 201, accepted.get_json()


def test_a_path_id_that_is_not_a_uuid_needs_a_key_first(api: Api) -> None:
    """Issue 12, item 10: a non-UUID id matched no route and answered 404 before
    authentication, telling an anonymous caller which paths exist."""
    for path in ("/v1/accounts/not-a-uuid", "/v1/withdrawals/123", "/v1/nothing-here"):
        anonymous = api.client.get(path)
        assert_problem(anonymous, 401, "unauthorized")
        wrong = api.client.get(path, headers={"Authorization": "Bearer nope"})
        assert_problem(wrong, 401, "unauthorized")
        assert_problem(api.get(path, Role.TRADING), 404)


def test_release_job_takes_no_body_as_now(api: Api) -> None:
    """Issue 12, item 10: no body is the documented "release what is due now"."""
    response = api.client.post(
        "/v1/jobs/release-holds", headers=api.headers(Role.OPERATIONS, idem=None)
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["released"] == 0
    spec = api.client.get("/openapi.json").get_json()
    assert spec["paths"]["/v1/jobs/release-holds"]["post"]["requestBody"]["required"] is False
