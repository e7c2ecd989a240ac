"""Every list pages newest first by cursor (one keyset rule, service.db.pagination):
pages do not overlap, miss nothing, and end without a cursor."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from service.domain.roles import Role
from tests.conftest import Api


def _deposit(api: Api, account: str) -> None:
    body = {
        "account_id": account,
        "method": "card",
        "asset": "USD",
        "amount": "10.00",
        "external_ref": f"page-{uuid.uuid4().hex}",
    }
    response = api.post("/v1/deposits", body, Role.PAYMENTS)
    assert response.status_code == 201, response.get_json()


def _all_pages(api: Api, path: str) -> list[list[Any]]:
    pages, cursor = [], None
    while True:
        query = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        response = api.get(path, query_string=query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


@pytest.mark.parametrize("what", ["holds", "transactions", "audit"])
def test_pages_cover_every_row_once(api: Api, what: str) -> None:
    account = api.open_account()
    for _ in range(5):
        _deposit(api, account)
    if what == "audit":
        for status in ("read_only", "active", "read_only", "active", "read_only"):
            body = {"status": status, "reason": "paging"}
            response = api.client.patch(
                f"/v1/accounts/{account}", json=body, headers=api.headers(Role.COMPLIANCE)
            )
            assert response.status_code == 200, response.get_json()
    pages = _all_pages(api, f"/v1/accounts/{account}/{what}")
    assert [len(page) for page in pages] == [2, 2, 1]
    ids = [i for page in pages for i in page]
    assert len(set(ids)) == 5
