"""Settlement files: POST /v1/deposits/batch, all or nothing, idempotent as a whole."""

from __future__ import annotations

from typing import Any

from service.db.database import Database
from service.domain.roles import Role
from tests.api.test_deposits import assert_books_sound, balance
from tests.api.test_withdrawals import audit_actions
from tests.conftest import Api


def item(
    account: str,
    ref: str,
    amount: str = "10.00",
    method: str = "card",
    asset: str = "USD",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "account_id": account,
        "method": method,
        "asset": asset,
        "amount": amount,
        "external_ref": ref,
        **extra,
    }


def batch(api: Api, items: list[dict[str, Any]], **kw: Any) -> Any:
    return api.post("/v1/deposits/batch", {"deposits": items}, Role.PAYMENTS, **kw)


def test_batch_records_every_deposit_held_like_the_single_endpoint(api: Api, db: Database) -> None:
    a, b = api.open_account(), api.open_account()
    items = [
        item(a, "s-1", "100.00", settled_at="2026-11-20T15:00:00-05:00"),
        item(b, "s-2", "0.5", method="crypto", asset="ETH"),
        item(a, "s-3", "2.50", method="paypal"),
    ]
    response = batch(api, items)
    assert response.status_code == 201, response.get_json()
    result = response.get_json()["deposits"]
    assert [d["external_ref"] for d in result] == ["s-1", "s-2", "s-3"]
    assert result[0]["hold"]["release_at"] == "2026-11-25T20:00:00Z"
    assert result[1]["hold"] is None
    assert result[1]["amount"] == "0.50000000"
    assert balance(api, a)["temporary_holds"] == "102.50"
    assert balance(api, b, "ETH")["available_to_withdraw"] == "0.50000000"
    single = api.post(
        "/v1/deposits",
        item(a, "s-4", "100.00", settled_at="2026-11-20T15:00:00-05:00"),
        Role.PAYMENTS,
    ).get_json()
    assert single["hold"]["release_at"] == result[0]["hold"]["release_at"]
    assert_books_sound(db)


def test_invalid_item_rejects_the_whole_batch_with_errors_by_index(api: Api) -> None:
    a = api.open_account()
    response = batch(
        api,
        [
            item(a, "ok-1"),
            item(a, "bad-1", "1.001"),
            item(a, "bad-2", asset="XXX"),
            item(a, "bad-3", amount=5),
        ],
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"3"}  # schema errors come first, keyed by index
    response = batch(
        api, [item(a, "ok-1"), item(a, "bad-1", "1.001"), item(a, "bad-2", asset="XXX")]
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"1", "2"}
    assert "amount" in errors["1"]
    assert "asset" in errors["2"]
    assert balance(api, a) == {}


def test_duplicates_within_batch_or_with_earlier_deposits_name_the_index(
    api: Api, db: Database
) -> None:
    a = api.open_account()
    inside = batch(api, [item(a, "d-1"), item(a, "d-2"), item(a, "d-1")])
    assert inside.status_code == 409
    assert inside.get_json()["code"] == "duplicate_deposit"
    assert inside.get_json()["index"] == 2
    assert api.post("/v1/deposits", item(a, "d-9"), Role.PAYMENTS).status_code == 201
    earlier = batch(api, [item(a, "d-1"), item(a, "d-9")])
    assert earlier.status_code == 409
    assert earlier.get_json()["index"] == 1
    assert balance(api, a)["temporary_holds"] == "10.00"  # only d-9
    assert_books_sound(db)


def test_a_clash_among_new_deposits_is_named_and_nothing_is_written(api: Api, db: Database) -> None:
    """On PostgreSQL one statement writes the batch and skips the clashing
    deposit's entry, hold and postings: the new ones around it must not leave
    a trace either (the 409 rolls them back), and a clash must stay a 409,
    never a foreign-key error."""
    a = api.open_account()
    assert api.post("/v1/deposits", item(a, "c-2"), Role.PAYMENTS).status_code == 201
    mixed = batch(api, [item(a, "c-1"), item(a, "c-2"), item(a, "c-3")])
    assert mixed.status_code == 409
    assert mixed.get_json()["code"] == "duplicate_deposit"
    assert mixed.get_json()["index"] == 1
    single = api.post("/v1/deposits", item(a, "c-2"), Role.PAYMENTS)
    assert single.status_code == 409
    assert single.get_json()["code"] == "duplicate_deposit"
    assert balance(api, a)["temporary_holds"] == "10.00"  # only the first c-2
    assert batch(api, [item(a, "c-1"), item(a, "c-3")]).status_code == 201
    assert balance(api, a)["temporary_holds"] == "30.00"
    assert_books_sound(db)


def test_batch_limits_roles_and_idempotency(api: Api, db: Database) -> None:
    a = api.open_account()
    assert batch(api, []).status_code == 422
    assert batch(api, [item(a, f"m-{i}", "0.01") for i in range(1001)]).status_code == 422
    assert (
        api.post("/v1/deposits/batch", {"deposits": [item(a, "r-1")]}, Role.TRADING).status_code
        == 403
    )
    items = [item(a, f"i-{i}", "1.00") for i in range(3)]
    first = batch(api, items, idem="settlement-2026-11-20")
    again = batch(api, items, idem="settlement-2026-11-20")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    other = batch(api, items[:2], idem="settlement-2026-11-20")
    assert other.status_code == 409
    assert other.get_json()["code"] == "idempotency_key_reused"
    assert balance(api, a)["temporary_holds"] == "3.00"
    assert batch(api, [item(a, "n-1")], idem=None).status_code == 400
    assert_books_sound(db)


def test_full_size_batch(api: Api, db: Database) -> None:
    accounts = [api.open_account() for _ in range(10)]
    items = [
        item(accounts[i % 10], f"full-{i}", "1.01", method=("card", "bank_transfer")[i % 2])
        for i in range(1000)
    ]
    response = batch(api, items)
    assert response.status_code == 201, response.get_json()
    assert len(response.get_json()["deposits"]) == 1000
    row = balance(api, accounts[0])
    assert row["total"] == "101.00"
    assert row["temporary_holds"] == "101.00"  # even indexes are card deposits
    assert_books_sound(db)


def test_references_with_array_syntax_characters_are_stored_as_sent(api: Api, db: Database) -> None:
    """Set-based writes pass each column as one array parameter: quotes, commas,
    braces, backslashes, the word NULL and non-ASCII must arrive unchanged."""
    a = api.open_account()
    refs = ['q"uote', "com,ma", "{brace}", "back\\slash", "NULL", "spaced out", "Zürich €"]
    response = batch(api, [item(a, ref) for ref in refs])
    assert response.status_code == 201, response.get_json()
    assert [d["external_ref"] for d in response.get_json()["deposits"]] == refs
    again = batch(api, [item(a, "NULL")])
    assert (again.status_code, again.get_json()["code"]) == (409, "duplicate_deposit")
    history = api.get(f"/v1/accounts/{a}/transactions?limit=50").get_json()["items"]
    assert sorted(t["external_ref"] for t in history) == sorted(refs)
    assert_books_sound(db)


def test_a_batch_from_a_blocked_country_flags_every_account_it_names(
    api: Api, db: Database
) -> None:
    a, b, c = api.open_account(), api.open_account(), api.open_account()
    response = batch(api, [item(a, "us-1"), item(b, "us-2"), item(a, "us-3")], country="US")
    assert (response.status_code, response.get_json()["code"]) == (403, "jurisdiction_blocked")
    for account in (a, b):
        assert api.get(f"/v1/accounts/{account}").get_json()["status"] == "read_only"
        assert audit_actions(api, account) == ["jurisdiction_flag"]
    assert api.get(f"/v1/accounts/{c}").get_json()["status"] == "active"  # not named
    assert balance(api, a) == {}  # nothing was deposited
    assert_books_sound(db)
