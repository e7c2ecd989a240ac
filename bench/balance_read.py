"""Balance read latency with 1,000 and with 1,000,000 postings on the account's books.

Reads go through the whole REST stack in-process (Flask test client: auth,
lazy-release check, balance rows, schema), without network noise. Balances are
kept in a table updated with the postings, so the read must not grow with the
history. Target: p99 at 1,000,000 postings within 1.5× of p99 at 1,000.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from sqlalchemy import text

from bench.common import analyze, api_key, database, record
from service.api import create_app
from service.config import Settings
from service.db.database import Database

_PG_SEED = """
WITH e AS (
    INSERT INTO journal_entries (id, type, posted_at, reference, memo, account_id)
    SELECT gen_random_uuid(), 'deposit', now(), 'seed', '', :account
      FROM generate_series(1, :entries)
    RETURNING id
)
INSERT INTO postings (entry_id, line, ledger_account_id, asset, amount, account_id, hold_id)
SELECT id, 1, :clearing, 'USD', 100, NULL::uuid, NULL::uuid FROM e
UNION ALL
SELECT id, 2, :available, 'USD', -100, :account, NULL::uuid FROM e
"""


def seed(db: Database, account: uuid.UUID, postings: int) -> None:
    """``postings`` postings (pairs: Clearing debit, customer Available credit)."""
    from service.domain.chart import Bucket, Platform, customer_ledger_id, ledger_account_id

    available = customer_ledger_id(account, Bucket.AVAILABLE)
    clearing = ledger_account_id(Platform.CLEARING_BANK.value)
    entries = postings // 2
    if db.is_postgres:
        with db.write() as tx:
            tx.execute(
                text(_PG_SEED),
                {
                    "account": account,
                    "entries": entries,
                    "clearing": clearing,
                    "available": available,
                },
            )
        return
    for start in range(0, entries, 5000):
        ids = [uuid.uuid4().hex for _ in range(min(5000, entries - start))]
        with db.write() as tx:
            tx.exec_driver_sql(
                "INSERT INTO journal_entries (id, type, posted_at, reference, memo, account_id) "
                "VALUES (?, 'deposit', '2026-11-20 00:00:00.000000', 'seed', '', ?)",
                [(i, account.hex) for i in ids],
            )
            tx.exec_driver_sql(
                "INSERT INTO postings (entry_id, line, ledger_account_id, asset, amount, "
                "account_id) VALUES (?, ?, ?, 'USD', ?, ?)",
                [
                    row
                    for i in ids
                    for row in (
                        (i, 1, clearing.hex, 100, None),
                        (i, 2, available.hex, -100, account.hex),
                    )
                ],
            )


def measure(client: object, path: str, headers: dict[str, str], reads: int) -> list[float]:
    timings = []
    for _ in range(reads):
        started = time.perf_counter()
        response = client.get(path, headers=headers)  # type: ignore[attr-defined]
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite")
    args = parser.parse_args()
    for kind in ("postgresql", "sqlite") if args.sqlite else ("postgresql",):
        with database(kind, "balance") as url:
            key = api_key(url, "admin")
            db = Database(url)
            app = create_app(Settings(database_url=url), db)
            client = app.test_client()
            headers = {"Authorization": f"Bearer {key}", "X-Client-Country": "GB"}
            small, large = (
                client.post(
                    "/v1/accounts", json={"external_id": name, "country": "GB"}, headers=headers
                ).get_json()["id"]
                for name in ("s", "l")
            )
            started = time.perf_counter()
            seed(db, uuid.UUID(small), 1000)
            seed(db, uuid.UUID(large), args.postings)
            print(f"seeded {args.postings:,} postings in {time.perf_counter() - started:.1f}s")
            analyze(url)
            figures = {}
            for name, account in (("small", small), ("large", large)):
                path = f"/v1/accounts/{account}/balances"
                measure(client, path, headers, 200)
                timings = sorted(measure(client, path, headers, args.reads))
                figures[f"{name}_p50_ms"] = statistics.median(timings) * 1000
                figures[f"{name}_p99_ms"] = timings[int(len(timings) * 0.99) - 1] * 1000
            db.dispose()
            record(
                f"balance_read_{kind}",
                {
                    **figures,
                    "postings_small": 1000,
                    "postings_large": args.postings,
                    "p99_ratio": figures["large_p99_ms"] / figures["small_p99_ms"],
                    "target_ratio": 1.5,
                },
            )


if __name__ == "__main__":
    main()
