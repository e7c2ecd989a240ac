"""Deposit and trade throughput through the whole REST stack, in-process.

One client, one process (Flask test client: no network, no gunicorn), on
PostgreSQL: the cost of one request of each kind, end to end through auth,
validation, idempotency, the posting engine and commit.
``python -m bench.trades [--requests N]``.
"""

from __future__ import annotations

import argparse
import time
import uuid

from bench.common import api_key, database, record
from service.api import create_app
from service.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with database("postgresql", "trades") as url:
        key = api_key(url, "admin")
        client = create_app(Settings(database_url=url)).test_client()
        headers = {"Authorization": f"Bearer {key}", "X-Client-Country": "GB"}
        account = client.post(
            "/v1/accounts", json={"external_id": "t", "country": "GB"}, headers=headers
        ).get_json()["id"]

        def post(path: str, body: dict[str, str]) -> None:
            ref = uuid.uuid4().hex
            response = client.post(
                path,
                json={**body, "external_ref": ref},
                headers={**headers, "Idempotency-Key": ref},
            )
            assert response.status_code == 201, response.get_json()

        deposit = {"account_id": account, "method": "card", "asset": "USD", "amount": "100.00"}
        trade = {
            "account_id": account,
            "sell_asset": "USD",
            "sell_amount": "1.00",
            "buy_asset": "BTC",
            "buy_amount": "0.00001500",
        }
        figures = {}
        for name, path, body in (
            ("deposits", "/v1/deposits", deposit),
            ("trades", "/v1/trades", trade),
        ):
            for _ in range(100):
                post(path, body)
            started = time.perf_counter()
            for _ in range(args.requests):
                post(path, body)
            figures[f"{name}_per_s"] = args.requests / (time.perf_counter() - started)
        record("in_process_requests", {**figures, "clients": 1, "database": "postgresql"})


if __name__ == "__main__":
    main()
