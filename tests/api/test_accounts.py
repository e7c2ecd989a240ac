"""Accounts over REST: create, read, auth, roles, geofence, bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from service.domain.roles import Role
from tests.conftest import Api


def test_create_and_get_account(api: Api) -> None:
    response = api.post(
        "/v1/accounts", {"external_id": "cust-1", "country": "gb", "tier": "verified"}, Role.TRADING
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["external_id"] == "cust-1"
    assert body["country"] == "GB"
    assert body["tier"] == "verified"
    assert body["status"] == "active"
    assert body["created_at"].endswith("Z")
    uuid.UUID(body["id"])
    got = api.get(f"/v1/accounts/{body['id']}", Role.ACCOUNTANT)
    assert got.status_code == 200
    assert got.get_json() == body


def test_duplicate_external_id_conflicts(api: Api) -> None:
    api.open_account("dup")
    response = api.post("/v1/accounts", {"external_id": "dup", "country": "GB"}, Role.TRADING)
    assert response.status_code == 409
    assert response.get_json()["code"] == "account_exists"
    assert response.content_type == "application/problem+json"


def test_unknown_account_is_404(api: Api) -> None:
    response = api.get(f"/v1/accounts/{uuid.uuid4()}")
    assert response.status_code == 404
    problem = response.get_json()
    assert problem["code"] == "account_not_found"
    assert problem["status"] == 404
    assert {"type", "title", "detail"} <= problem.keys()


def test_malformed_account_id_is_404(api: Api) -> None:
    assert api.get("/v1/accounts/not-a-uuid").status_code == 404


def test_missing_and_unknown_keys_are_401(api: Api) -> None:
    response = api.client.get(f"/v1/accounts/{uuid.uuid4()}")
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    response = api.client.get(
        f"/v1/accounts/{uuid.uuid4()}", headers={"Authorization": "Bearer lk_nope"}
    )
    assert response.status_code == 401


def test_roles_that_may_not_create_accounts_get_403(api: Api) -> None:
    for role in (Role.PAYMENTS, Role.OPERATIONS, Role.ACCOUNTANT, Role.COMPLIANCE):
        response = api.post("/v1/accounts", {"external_id": f"x-{role}", "country": "GB"}, role)
        assert response.status_code == 403, role
        assert response.get_json()["code"] == "forbidden"
    assert (
        api.post(
            "/v1/accounts", {"external_id": "by-admin", "country": "GB"}, Role.ADMIN
        ).status_code
        == 201
    )


def test_geofence_on_creation(api: Api) -> None:
    blocked_client = api.post(
        "/v1/accounts", {"external_id": "a", "country": "GB"}, Role.TRADING, country="US"
    )
    assert blocked_client.status_code == 403
    assert blocked_client.get_json()["code"] == "jurisdiction_blocked"
    assert blocked_client.get_json()["detail"] == "requests from US are not permitted"
    assert blocked_client.get_json()["country"] == "US"
    # from GB (allowed) for an account registered in US: the registration is what is blocked
    blocked_residence = api.post(
        "/v1/accounts", {"external_id": "b", "country": "us"}, Role.TRADING, country="GB"
    )
    assert blocked_residence.status_code == 403
    assert blocked_residence.get_json()["code"] == "jurisdiction_blocked"
    assert blocked_residence.get_json()["detail"] == "accounts registered in US are not permitted"
    assert blocked_residence.get_json()["country"] == "US"
    missing = api.post(
        "/v1/accounts", {"external_id": "c", "country": "GB"}, Role.TRADING, country=None
    )
    assert missing.status_code == 400
    assert missing.get_json()["code"] == "country_required"
    # nothing was created by the refused requests
    again = api.post("/v1/accounts", {"external_id": "a", "country": "GB"}, Role.TRADING)
    assert again.status_code == 201


def test_bad_input_is_a_problem_not_a_crash(api: Api) -> None:
    headers = api.headers(Role.TRADING)
    malformed = api.client.post(
        "/v1/accounts", data="{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.get_json()["code"] == "malformed_json"
    cases = [
        {"external_id": "x", "country": "GB", "surprise": 1},
        {"external_id": 12, "country": "GB"},
        {"country": "GB"},
        {"external_id": "x", "country": "GBR"},
        {"external_id": "x", "country": "GB", "tier": "gold"},
        {"external_id": "", "country": "GB"},
        [],
    ]
    for body in cases:
        response = api.post("/v1/accounts", body, Role.TRADING)
        assert response.status_code == 422, body
        problem = response.get_json()
        assert problem["code"] == "validation_failed"
        assert problem["errors"], body


def test_wrong_method_is_405_problem(api: Api) -> None:
    response = api.client.delete("/v1/accounts", headers=api.headers(Role.ADMIN))
    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_unknown_route_is_404_problem(api: Api) -> None:
    response = api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_service_routes(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    api.get("/v1/nothing-here")
    metrics = api.client.get("/metrics")
    assert metrics.status_code == 200
    assert b"ledger_http_requests_total" in metrics.data
    content_type = metrics.headers["Content-Type"]
    assert content_type.startswith("text/plain; version=")
    assert content_type.lower().count("charset=") == 1, content_type
    spec = api.client.get("/openapi.json").get_json()
    assert spec["info"]["title"] == "Withdrawal-hold ledger"
    assert "/v1/accounts" in spec["paths"]
    assert api.client.get("/docs").status_code == 200


def test_an_unexpected_error_is_a_bare_500_that_leaks_nothing(
    api: Api, app: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode() -> None:
        raise RuntimeError("secret connection string postgres://user:pw@db")

    monkeypatch.setattr(app.extensions["ledger"].db, "read", explode)
    response = api.get(f"/v1/accounts/{uuid.uuid4()}")
    assert response.status_code == 500
    problem = response.get_json()
    assert response.content_type == "application/problem+json"
    assert problem["code"] == "internal_error"
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert any("secret connection string" in str(r.exc_info) for r in caplog.records)
