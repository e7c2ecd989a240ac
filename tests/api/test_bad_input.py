"""Bad input to the money routes: always a problem+json with a stable code, never a
500, and never a change to the books (API.md, Conventions)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from service.db.database import Database
from service.db.tables import deposits, journal_entries, trades
from service.domain.money import MAX_MINOR, format_minor
from service.domain.roles import Role
from service.services.verify import verify
from tests.conftest import Api, Clock

DEPOSITS, TRADES, QUOTE = "/v1/deposits", "/v1/trades", "/v1/deposits/quote"
ROLE = {DEPOSITS: Role.PAYMENTS, TRADES: Role.TRADING, QUOTE: Role.TRADING}
AMOUNT = {DEPOSITS: "amount", TRADES: "sell_amount", QUOTE: "amount"}
ASSET = {DEPOSITS: "asset", TRADES: "sell_asset", QUOTE: "asset"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def valid_body(path: str, account: str) -> dict[str, Any]:
    ref = f"ref-{uuid.uuid4().hex}"
    if path == DEPOSITS:
        return {
            "account_id": account,
            "method": "card",
            "asset": "USD",
            "amount": "10.00",
            "external_ref": ref,
        }
    if path == TRADES:
        return {
            "account_id": account,
            "sell_asset": "USD",
            "sell_amount": "10.00",
            "buy_asset": "BTC",
            "buy_amount": "0.00010000",
            "external_ref": ref,
        }
    return {"account_id": account, "method": "card", "asset": "USD", "amount": "10.00"}


@dataclass(frozen=True)
class Funded:
    account: str
    deposit_id: str


@pytest.fixture
def funded(api: Api, clock: Clock) -> Funded:
    """An account with held USD and unheld BTC, so every valid trade could go through."""
    account = api.open_account()
    response = api.post(DEPOSITS, valid_body(DEPOSITS, account), Role.PAYMENTS)
    assert response.status_code == 201, response.get_json()
    crypto = {
        **valid_body(DEPOSITS, account),
        "method": "crypto",
        "asset": "BTC",
        "amount": "0.50000000",
    }
    assert api.post(DEPOSITS, crypto, Role.PAYMENTS).status_code == 201
    return Funded(account, response.get_json()["id"])


def snapshot(api: Api, db: Database, account: str) -> tuple[Any, ...]:
    response = api.get(f"/v1/accounts/{account}/balances", Role.ADMIN)
    assert response.status_code == 200, response.get_json()
    with db.read() as conn:
        counts = tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (journal_entries, deposits, trades)
        )
    return response.get_json()["balances"], counts


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert isinstance(body, dict)
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert isinstance(body["code"], str)
    assert body["code"]
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    if code is not None:
        assert body["code"] == code, body
    if status == 422:
        assert isinstance(body.get("errors"), dict), body
        assert body["errors"], body
    return body


def send(
    api: Api,
    path: str,
    body: Any,
    *,
    role: Role | None = None,
    headers: Callable[[dict[str, str]], dict[str, str]] | None = None,
    raw: str | None = None,
) -> Any:
    hdrs = api.headers(role or ROLE[path])
    if headers is not None:
        hdrs = headers(hdrs)
    if raw is not None:
        return api.client.post(path, data=raw, headers=hdrs, content_type="application/json")
    return api.client.post(path, json=body, headers=hdrs)


# -- the valid bodies really are valid (so each case below differs by one thing) ----------


def test_the_valid_bodies_are_accepted(api: Api, funded: Funded) -> None:
    assert send(api, QUOTE, valid_body(QUOTE, funded.account)).status_code == 200
    assert send(api, TRADES, valid_body(TRADES, funded.account)).status_code == 201
    assert send(api, DEPOSITS, valid_body(DEPOSITS, funded.account)).status_code == 201
    # the longest Idempotency-Key allowed: 255 printable ASCII characters, spaces
    # inside (not at either end: HTTP strips those, so they could not be replayed)
    key = "!" + "".join(chr(0x20 + i % 95) for i in range(253)) + "~"
    response = send(
        api,
        DEPOSITS,
        valid_body(DEPOSITS, funded.account),
        headers=lambda h: {**h, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.get_json()


# -- body cases, for each of the three routes ---------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[str, dict[str, Any]], Any]
    status: int = 422
    code: str | None = None
    error_field: str | None = None
    only: tuple[str, ...] = (DEPOSITS, TRADES, QUOTE)


def _set(key: str | Callable[[str], str], value: Any) -> Callable[[str, dict[str, Any]], Any]:
    def mutate(path: str, body: dict[str, Any]) -> Any:
        name = key(path) if callable(key) else key
        return {**body, name: value}

    return mutate


def _amount(value: Any) -> Callable[[str, dict[str, Any]], Any]:
    return _set(AMOUNT.__getitem__, value)


def _without(key: str) -> Callable[[str, dict[str, Any]], Any]:
    return lambda path, body: {k: v for k, v in body.items() if k != key}


def _btc_dust(path: str, body: dict[str, Any]) -> Any:
    if path == TRADES:
        return {**body, "buy_asset": "BTC", "buy_amount": "0.000000001"}
    return {**body, "asset": "BTC", "amount": "0.000000001"}


BODY_CASES = [
    Case("amount-json-number", _amount(100), error_field="amount"),
    Case("amount-json-float", _amount(100.5), error_field="amount"),
    Case("amount-bool", _amount(True)),
    Case("amount-null", _amount(None)),
    Case("amount-exponent", _amount("1e2")),
    Case("amount-exponent-upper", _amount("1E2")),
    Case("amount-negative", _amount("-5.00")),
    Case("amount-plus-sign", _amount("+5.00")),
    Case("amount-zero", _amount("0")),
    Case("amount-zero-decimals", _amount("0.00")),
    Case("amount-nan", _amount("NaN")),
    Case("amount-infinity", _amount("Infinity")),
    Case("amount-blank", _amount("")),
    Case("amount-spaces", _amount(" 5.00 ")),
    Case("amount-comma", _amount("5,00")),
    Case("amount-trailing-newline", _amount("5.00\n")),
    Case("amount-too-many-decimals-usd", _amount("1.001")),
    Case("amount-too-many-decimals-btc", _btc_dust),
    Case("amount-non-ascii-digits", _amount("\u0661\u0660.00")),
    Case("amount-full-width-digits", _amount("\uff11\uff10.00")),
    Case("amount-20-digits", _amount("12345678901234567890")),
    Case("amount-20-digits-with-cents", _amount("12345678901234567890.00")),
    Case("amount-11-digits", _amount("10000000000.00")),
    Case("unknown-asset", _set(ASSET.__getitem__, "XYZ"), code="unknown_asset"),
    Case("asset-wrong-type", _set(ASSET.__getitem__, 5)),
    Case("asset-not-a-code", _set(ASSET.__getitem__, "US D")),
    Case("account-id-wrong-type", _set("account_id", 123), error_field="account_id"),
    Case("account-id-malformed", _set("account_id", "not-a-uuid"), error_field="account_id"),
    Case(
        "account-id-unknown",
        _set("account_id", str(uuid.uuid4())),
        status=404,
        code="account_not_found",
    ),
    Case("account-id-missing", _without("account_id"), error_field="account_id"),
    Case("unknown-field", _set("surprise", 1), error_field="surprise"),
    Case("body-is-a-list", lambda path, body: [body]),
    Case("body-is-a-string", lambda path, body: "hello"),
    Case("body-is-null", lambda path, body: None),
    Case("method-unknown", _set("method", "cash"), only=(DEPOSITS, QUOTE), error_field="method"),
    Case("method-wrong-type", _set("method", 5), only=(DEPOSITS, QUOTE)),
    Case("external-ref-wrong-type", _set("external_ref", 7), only=(DEPOSITS, TRADES)),
    Case("external-ref-empty", _set("external_ref", ""), only=(DEPOSITS, TRADES)),
    Case("external-ref-too-long", _set("external_ref", "r" * 256), only=(DEPOSITS, TRADES)),
    Case("external-ref-missing", _without("external_ref"), only=(DEPOSITS, TRADES)),
    Case(
        "settled-at-in-the-future",
        _set("settled_at", "2026-11-20T20:00:01Z"),
        only=(DEPOSITS,),
        error_field="settled_at",
    ),
    Case(
        "settled-at-far-future", _set("settled_at", "2099-01-01T00:00:00+00:00"), only=(DEPOSITS,)
    ),
    Case(
        "settled-at-without-offset",
        _set("settled_at", "2026-11-20T10:00:00"),
        only=(DEPOSITS,),
        error_field="settled_at",
    ),
    Case("settled-at-garbage", _set("settled_at", "yesterday"), only=(DEPOSITS,)),
    Case(
        "settled-at-before-the-calendar",
        _set("settled_at", "1900-01-01T00:00:00Z"),
        only=(DEPOSITS,),
        error_field="settled_at",
    ),
    Case("settled-at-number", _set("settled_at", 1763668800), only=(DEPOSITS,)),
    Case("at-without-offset", _set("at", "2026-11-20T10:00:00"), only=(QUOTE,), error_field="at"),
    Case(
        "at-beyond-the-calendar",
        _set("at", "2999-01-01T00:00:00Z"),
        only=(QUOTE,),
        error_field="at",
    ),
    Case("same-asset-both-sides", _set("buy_asset", "USD"), only=(TRADES,)),
    Case("buy-amount-json-number", _set("buy_amount", 1), only=(TRADES,)),
    Case("buy-amount-zero", _set("buy_amount", "0.00000000"), only=(TRADES,)),
    Case(
        "fee-in-another-asset",
        lambda p, b: {**b, "fee_asset": "USD", "fee_amount": "1.00"},
        only=(TRADES,),
    ),
    Case(
        "fee-not-below-proceeds",
        lambda p, b: {**b, "fee_asset": "BTC", "fee_amount": "0.00010000"},
        only=(TRADES,),
    ),
    Case(
        "fee-negative",
        lambda p, b: {**b, "fee_asset": "BTC", "fee_amount": "-0.00000001"},
        only=(TRADES,),
    ),
    Case(
        "fee-too-many-decimals",
        lambda p, b: {**b, "fee_asset": "BTC", "fee_amount": "0.000000001"},
        only=(TRADES,),
    ),
]


def check_cases(
    api: Api,
    db: Database,
    account: str,
    cases: list[tuple[str, Callable[[], Any], int, str | None, str | None]],
) -> None:
    """Run every case (id, request, status, code, error field), then report all that
    failed at once: one test per route keeps the suite fast on both databases."""
    failures = []
    before = snapshot(api, db, account)
    for case_id, request, status, code, error_field in cases:
        try:
            problem = assert_problem(request(), status, code)
            if error_field is not None:
                assert error_field in problem["errors"], problem
            assert snapshot(api, db, account) == before, "the books changed"
        except AssertionError as exc:
            failures.append(f"{case_id}: {exc}")
            before = snapshot(api, db, account)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", [DEPOSITS, TRADES, QUOTE])
def test_bad_body(api: Api, db: Database, funded: Funded, path: str) -> None:
    def request(case: Case) -> Callable[[], Any]:
        return lambda: send(api, path, case.mutate(path, valid_body(path, funded.account)))

    check_cases(
        api,
        db,
        funded.account,
        [
            (
                case.id,
                request(case),
                case.status,
                case.code,
                AMOUNT[path] if case.error_field == "amount" else case.error_field,
            )
            for case in BODY_CASES
            if path in case.only
        ],
    )


def test_malformed_json_is_400(api: Api, db: Database, funded: Funded) -> None:
    check_cases(
        api,
        db,
        funded.account,
        [
            (
                f"{path} {raw}",
                lambda path=path, raw=raw: send(api, path, None, raw=raw),
                400,
                "malformed_json",
                None,
            )
            for path in (DEPOSITS, TRADES, QUOTE)
            for raw in ['{"account_id": ', "{'single': 'quotes'}", "not json", "{}}", "[1,]"]
        ],
    )


def test_times_not_representable_in_utc_are_422(api: Api, db: Database, funded: Funded) -> None:
    """Valid ISO 8601 with an offset whose UTC instant falls outside years 1..9999."""
    check_cases(
        api,
        db,
        funded.account,
        [
            (
                f"{path} {name}={value}",
                lambda path=path, name=name, value=value: send(
                    api, path, {**valid_body(path, funded.account), name: value}
                ),
                422,
                None,
                name,
            )
            for path, name in ((DEPOSITS, "settled_at"), (QUOTE, "at"))
            for value in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00")
        ],
    )


def test_trailing_zeros_beyond_the_asset_scale_are_refused(
    api: Api, db: Database, funded: Funded
) -> None:
    """API.md: "more decimals than the asset's scale ... -> 422", even "10.000" for USD."""
    check_cases(
        api,
        db,
        funded.account,
        [
            (
                f"{path} {text}",
                lambda path=path, text=text: send(
                    api, path, {**valid_body(path, funded.account), AMOUNT[path]: text}
                ),
                422,
                None,
                AMOUNT[path],
            )
            for path in (DEPOSITS, TRADES, QUOTE)
            for text in ("10.000", "10.00000000")
        ],
    )


#: the largest BTC amount a request may carry
MAX_BTC = format_minor(MAX_MINOR, 8)


def test_largest_amount_is_accepted_and_one_more_minor_unit_is_422(api: Api, db: Database) -> None:
    account = api.open_account()
    ok = send(
        api,
        DEPOSITS,
        {**valid_body(DEPOSITS, account), "method": "crypto", "asset": "BTC", "amount": MAX_BTC},
    )
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["amount"] == MAX_BTC
    check_cases(
        api,
        db,
        account,
        [
            (
                "one more",
                lambda: send(
                    api,
                    DEPOSITS,
                    {
                        **valid_body(DEPOSITS, account),
                        "method": "crypto",
                        "asset": "BTC",
                        "amount": format_minor(MAX_MINOR + 1, 8),
                    },
                ),
                422,
                None,
                "amount",
            ),
        ],
    )


def test_two_largest_btc_deposits_never_yield_a_500(api: Api, db: Database) -> None:
    """Each is valid input; together they exceed what one Amount may hold. The
    service may refuse the second one (4xx) but must never answer 500, and the
    balances must stay readable."""
    account = api.open_account()
    for _ in range(2):
        response = send(
            api,
            DEPOSITS,
            {
                **valid_body(DEPOSITS, account),
                "method": "crypto",
                "asset": "BTC",
                "amount": MAX_BTC,
            },
        )
        assert response.status_code < 500, response.get_json()
    balances = api.get(f"/v1/accounts/{account}/balances", Role.ADMIN)
    assert balances.status_code == 200, balances.get_json()
    with db.read() as conn:
        assert verify(conn) == []


# -- header cases ------------------------------------------------------------------------


def _drop(name: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda h: {k: v for k, v in h.items() if k != name}


def _put(name: str, value: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda h: {**h, name: value}


HEADER_CASES = [
    ("no-authorization", _drop("Authorization"), 401, "unauthorized", (DEPOSITS, TRADES, QUOTE)),
    (
        "unknown-key",
        _put("Authorization", "Bearer lk_unknown"),
        401,
        "unauthorized",
        (DEPOSITS, TRADES, QUOTE),
    ),
    (
        "not-bearer",
        _put("Authorization", "Basic dXNlcjpwYXNz"),
        401,
        "unauthorized",
        (DEPOSITS, TRADES, QUOTE),
    ),
    (
        "no-idempotency-key",
        _drop("Idempotency-Key"),
        400,
        "idempotency_key_required",
        (DEPOSITS, TRADES),
    ),
    (
        "idempotency-key-256-chars",
        _put("Idempotency-Key", "k" * 256),
        400,
        None,
        (DEPOSITS, TRADES),
    ),
    (
        "idempotency-key-control-char",
        _put("Idempotency-Key", "key\x01"),
        400,
        None,
        (DEPOSITS, TRADES),
    ),
    ("idempotency-key-del-char", _put("Idempotency-Key", "key\x7f"), 400, None, (DEPOSITS, TRADES)),
    ("idempotency-key-empty", _put("Idempotency-Key", ""), 400, None, (DEPOSITS, TRADES)),
    (
        "idempotency-key-non-ascii",
        _put("Idempotency-Key", "caf\u00e9"),
        400,
        None,
        (DEPOSITS, TRADES),
    ),
    ("no-country", _drop("X-Client-Country"), 400, "country_required", (DEPOSITS, TRADES)),
    (
        "country-not-alpha-2",
        _put("X-Client-Country", "GBR"),
        400,
        "country_required",
        (DEPOSITS, TRADES),
    ),
]


def test_bad_headers(api: Api, db: Database, funded: Funded) -> None:
    def request(
        path: str, headers: Callable[[dict[str, str]], dict[str, str]], status: int
    ) -> Callable[[], Any]:
        def call() -> Any:
            response = send(api, path, valid_body(path, funded.account), headers=headers)
            if status == 401:
                assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
            return response

        return call

    check_cases(
        api,
        db,
        funded.account,
        [
            (f"{path} {name}", request(path, headers, status), status, code, None)
            for name, headers, status, code, paths in HEADER_CASES
            for path in paths
        ],
    )


WRONG_ROLES = {
    DEPOSITS: [Role.TRADING, Role.ACCOUNTANT, Role.OPERATIONS, Role.COMPLIANCE],
    TRADES: [Role.PAYMENTS, Role.ACCOUNTANT, Role.OPERATIONS, Role.COMPLIANCE],
    QUOTE: [Role.ACCOUNTANT, Role.OPERATIONS, Role.COMPLIANCE],
}


def test_wrong_role_is_403(api: Api, db: Database, funded: Funded) -> None:
    check_cases(
        api,
        db,
        funded.account,
        [
            (
                f"{path} {role.value}",
                lambda path=path, role=role: send(
                    api, path, valid_body(path, funded.account), role=role
                ),
                403,
                "forbidden",
                None,
            )
            for path, roles in WRONG_ROLES.items()
            for role in roles
        ],
    )


def test_blocked_country_is_403_and_flags_the_account_read_only(api: Api, db: Database) -> None:
    for path, country in [(DEPOSITS, "US"), (TRADES, "US"), (DEPOSITS, "us")]:
        account = api.open_account()
        assert send(api, DEPOSITS, valid_body(DEPOSITS, account)).status_code == 201
        before = snapshot(api, db, account)
        response = send(
            api, path, valid_body(path, account), headers=_put("X-Client-Country", country)
        )
        assert_problem(response, 403, "jurisdiction_blocked")
        got = api.get(f"/v1/accounts/{account}", Role.ADMIN)
        assert got.status_code == 200
        assert got.get_json()["status"] == "read_only", (path, country)
        assert snapshot(api, db, account) == before
        # and the flag sticks: a later request from an allowed country is refused too
        later = send(api, path, valid_body(path, account))
        assert_problem(later, 403, "account_read_only")
        assert snapshot(api, db, account) == before


# -- methods -----------------------------------------------------------------------------


def test_deposits_cannot_be_deleted(api: Api, db: Database, funded: Funded) -> None:
    before = snapshot(api, db, funded.account)
    response = api.client.delete(
        f"/v1/deposits/{funded.deposit_id}", headers=api.headers(Role.ADMIN)
    )
    assert_problem(response, 405)
    assert "Allow" in response.headers  # RFC 9110: a 405 lists what the resource allows
    assert "DELETE" not in response.headers["Allow"]
    assert snapshot(api, db, funded.account) == before
    got = api.get(f"/v1/accounts/{funded.account}/transactions", Role.ADMIN).get_json()
    assert funded.deposit_id in {item["id"] for item in got["items"]}

    unknown = api.client.delete(f"/v1/deposits/{uuid.uuid4()}", headers=api.headers(Role.PAYMENTS))
    assert unknown.status_code in (404, 405)
    assert_problem(unknown, unknown.status_code)
    assert snapshot(api, db, funded.account) == before


def test_wrong_http_method_is_405(api: Api, db: Database, funded: Funded) -> None:
    def request(method: str, path: str) -> Callable[[], Any]:
        return lambda: getattr(api.client, method)(
            path, headers=api.headers(Role.ADMIN), json=valid_body(path, funded.account)
        )

    check_cases(
        api,
        db,
        funded.account,
        [
            (f"{method} {path}", request(method, path), 405, None, None)
            for method, path in [
                ("put", DEPOSITS),
                ("delete", DEPOSITS),
                ("get", TRADES),
                ("patch", TRADES),
                ("get", QUOTE),
            ]
        ],
    )
