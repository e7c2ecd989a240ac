"""The OpenAPI document: valid OpenAPI 3, bearer auth on every /v1 route, and a short
schemathesis run showing that no operation answers 500 to generated requests.

These tests build their own app on a temporary SQLite file (the document and the
error handling do not depend on the database; the fuzzing stays fast)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from service.api import create_app
from service.config import Settings
from service.db.database import Database
from service.domain.roles import Role
from service.services import keys, schema_version

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    path: Path = tmp_path_factory.mktemp("openapi") / "ledger.db"
    url = f"sqlite:///{path}"
    db = Database(url)
    schema_version.upgrade(db)
    app = create_app(Settings(database_url=url), db)
    app.config["TESTING"] = True
    admin = keys.create_key(db, Role.ADMIN, "openapi-admin", datetime.now(UTC))
    yield app, admin
    db.dispose()


@pytest.fixture(scope="module")
def document(built: tuple[Any, str]) -> dict[str, Any]:
    app, _ = built
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.content_type.startswith("application/json")
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    assert str(document["openapi"]).startswith("3.")
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # raises on a document that breaks the OpenAPI 3 meta-schema
    loaded = [result.ok() for result in schema.get_all_operations()]
    assert len(loaded) == sum(1 for _ in operations(document))


def test_the_validation_is_real(document: dict[str, Any]) -> None:
    """The same check refuses a broken document (so passing it means something)."""
    broken = copy.deepcopy(document)
    del broken["info"]
    broken["paths"]["/v1/deposits"]["post"]["responses"] = "nope"
    with pytest.raises(Exception):  # noqa: B017,PT011 - the loader's own error type
        schemathesis.openapi.from_dict(broken).validate()


def test_the_contract_routes_are_documented(document: dict[str, Any]) -> None:
    documented = {(path, method) for path, method, _ in operations(document)}
    for route in [
        ("/v1/accounts", "post"),
        ("/v1/accounts/{account_id}", "get"),
        ("/v1/accounts/{account_id}/balances", "get"),
        ("/v1/accounts/{account_id}/holds", "get"),
        ("/v1/accounts/{account_id}/transactions", "get"),
        ("/v1/deposits", "post"),
        ("/v1/deposits/quote", "post"),
        ("/v1/trades", "post"),
    ]:
        assert route in documented, route


def test_every_v1_route_requires_a_bearer_key(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    bearer = {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer"
    }
    assert bearer
    checked = 0
    for path, method, operation in operations(document):
        if not path.startswith("/v1/"):
            continue
        security = operation.get("security", document.get("security"))
        assert security, f"{method.upper()} {path} documents no security"
        for requirement in security:
            assert requirement, f"{method.upper()} {path} allows anonymous access"
            assert set(requirement) <= bearer, (path, method, requirement)
        checked += 1
    assert checked >= 8


def test_money_amounts_are_documented_as_strings(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name, field in [
        ("DepositCreate", "amount"),
        ("TradeCreate", "sell_amount"),
        ("TradeCreate", "buy_amount"),
        ("QuoteRequest", "amount"),
    ]:
        prop = schemas[name]["properties"][field]
        assert prop["type"] == "string", (name, field, prop)


def test_no_operation_answers_500(built: tuple[Any, str]) -> None:
    app, admin = built
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    client = app.test_client()
    # a real account, so generated requests sometimes reach past "account not found"
    created = client.post(
        "/v1/accounts",
        json={"external_id": "fuzz", "country": "GB"},
        headers={"Authorization": f"Bearer {admin}", "X-Client-Country": "GB"},
    )
    assert created.status_code == 201
    account = created.get_json()["id"]

    # about ten requests per operation: five valid-looking, five invalid
    failures: list[str] = []
    calls = 0
    headers = {"Authorization": f"Bearer {admin}", "X-Client-Country": "GB"}

    def fuzz(strategy: Any, label: str) -> None:
        @settings(
            max_examples=5,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
            if response.status_code >= 500:
                failures.append(f"{label} -> {response.status_code}: {case.as_curl_command()}")

        run()

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            path_parameters = (
                {"account_id": account}
                if "{account_id}" in operation.path and mode is GenerationMode.POSITIVE
                else None
            )
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
            fuzz(strategy, f"{operation.label} [{mode.value}]")
    assert calls >= 100
    assert not failures, "\n".join(failures[:20])
