"""Profile the card-deposit path in-process (pyinstrument), on PostgreSQL.

Shows where a deposit request spends its time, from the WSGI call to COMMIT,
without HTTP or gunicorn in the picture: ``python -m bench.profile_deposit``
for single deposits, ``--batch 1000`` for settlement files of that size
(``POST /v1/deposits/batch``).
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from pyinstrument import Profiler

from bench.common import api_key, database
from service.api import create_app
from service.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deposits", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=0, help="profile batches of this size instead")
    parser.add_argument("--html", default=None, help="write the profile as HTML here")
    args = parser.parse_args()
    with database("postgresql", "profile") as url:
        key = api_key(url, "admin")
        app = create_app(Settings(database_url=url))
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}", "X-Client-Country": "GB"}
        account = client.post(
            "/v1/accounts", json={"external_id": "p", "country": "GB"}, headers=headers
        ).get_json()["id"]

        def item() -> dict[str, str]:
            return {
                "account_id": account,
                "method": "card",
                "asset": "USD",
                "amount": "10.00",
                "external_ref": uuid.uuid4().hex,
            }

        def deposit() -> None:
            path: str = "/v1/deposits"
            body: dict[str, Any] = item()
            if args.batch:
                path, body = "/v1/deposits/batch", {"deposits": [item() for _ in range(args.batch)]}
            response = client.post(
                path, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}, json=body
            )
            assert response.status_code == 201, response.get_json()

        requests = max(1, args.deposits // (args.batch or 1))
        for _ in range(max(2, requests // 10)):
            deposit()
        profiler = Profiler(interval=0.0002)
        started = time.perf_counter()
        with profiler:
            for _ in range(requests):
                deposit()
        elapsed = time.perf_counter() - started
        print(
            f"{requests} requests of {args.batch or 1} deposit(s) in {elapsed:.2f}s: "
            f"{elapsed / requests * 1000:.2f} ms each (profiled, one process)"
        )
        print(profiler.output_text(show_all=False, color=False, time="percent_of_total")[:6000])
        if args.html:
            with open(args.html, "w") as handle:
                handle.write(profiler.output_html())


if __name__ == "__main__":
    main()
