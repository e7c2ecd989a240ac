"""Profile the single card-deposit path in-process (pyinstrument), on PostgreSQL.

Shows where a deposit request spends its time, from the WSGI call to COMMIT,
without HTTP or gunicorn in the picture: ``python -m bench.profile_deposit``.
"""

from __future__ import annotations

import argparse
import time
import uuid

from pyinstrument import Profiler

from bench.common import api_key, database
from service.api import create_app
from service.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deposits", type=int, default=2000)
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

        def deposit() -> None:
            ref = uuid.uuid4().hex
            response = client.post(
                "/v1/deposits",
                headers={**headers, "Idempotency-Key": ref},
                json={
                    "account_id": account,
                    "method": "card",
                    "asset": "USD",
                    "amount": "10.00",
                    "external_ref": ref,
                },
            )
            assert response.status_code == 201, response.get_json()

        for _ in range(200):
            deposit()
        profiler = Profiler(interval=0.0002)
        started = time.perf_counter()
        with profiler:
            for _ in range(args.deposits):
                deposit()
        elapsed = time.perf_counter() - started
        print(
            f"{args.deposits} deposits in {elapsed:.2f}s: "
            f"{elapsed / args.deposits * 1000:.2f} ms each (profiled, one process)"
        )
        print(profiler.output_text(show_all=False, color=False, time="percent_of_total")[:6000])
        if args.html:
            with open(args.html, "w") as handle:
                handle.write(profiler.output_html())


if __name__ == "__main__":
    main()
