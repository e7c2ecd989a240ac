"""Settlement files over HTTP: ``POST /v1/deposits/batch`` with 1,000 card
deposits (all held) per request, against ``ledger serve`` on PostgreSQL.

Target: ≥ 10,000 deposits/s with holds — three times the rate of a pure-SQL
ledger doing one transfer per transaction. The issue measured that ceiling at
3,000-3,500 transfers/s on another machine, so the ceiling is measured here too,
in the same run (bench/ceiling_sql.py, pgbench), and both the absolute figure and
the ratio to it (target ≥ 3.0x) are reported. Two client threads keep both server
workers busy; request bodies are built before the clock starts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import uuid

from bench.ceiling_sql import transfer_ceiling
from bench.common import BIN, PG_ADMIN, analyze, api_key, database, free_port, record, server
from bench.http_deposits import open_accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40, help="batches of --size deposits")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--ceiling-seconds", type=int, default=10, help="pgbench duration")
    parser.add_argument("--ceiling-clients", type=int, default=4, help="pgbench clients")
    args = parser.parse_args()
    # First, while nothing else runs: the pure-SQL one-transfer-per-transaction rate.
    ceiling = transfer_ceiling(PG_ADMIN, args.ceiling_seconds, args.ceiling_clients)
    record("ceiling_sql_transfer", ceiling)
    with database("postgresql", "batch") as url:
        key = api_key(url, "payments")
        accounts = open_accounts(url, 1000)
        bodies = []
        for r in range(args.requests + args.clients):
            items = [
                {
                    "account_id": accounts[(r * args.size + i) % len(accounts)],
                    "method": "card",
                    "asset": "USD",
                    "amount": "25.00",
                    "external_ref": f"b-{uuid.uuid4().hex}",
                }
                for i in range(args.size)
            ]
            bodies.append(json.dumps({"deposits": items}))
        port = free_port()
        with server(
            [str(BIN / "ledger"), "serve", "--port", str(port), "--workers", str(args.workers)],
            {"LEDGER_DATABASE_URL": url},
            port,
        ):
            latencies: list[float] = []
            failures: list[str] = []
            lock = threading.Lock()

            def client(mine: list[str]) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                for body in mine:
                    started = time.perf_counter()
                    conn.request(
                        "POST",
                        "/v1/deposits/batch",
                        body=body,
                        headers={
                            "Authorization": f"Bearer {key}",
                            "Content-Type": "application/json",
                            "X-Client-Country": "GB",
                            "Idempotency-Key": uuid.uuid4().hex,
                        },
                    )
                    response = conn.getresponse()
                    payload = response.read()
                    with lock:
                        latencies.append(time.perf_counter() - started)
                        if response.status != 201:
                            failures.append(f"{response.status} {payload[:200]!r}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

            warm, timed = bodies[: args.clients], bodies[args.clients :]
            client(warm)
            analyze(url)
            latencies.clear()
            threads = [
                threading.Thread(target=client, args=(timed[i :: args.clients],))
                for i in range(args.clients)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        if failures:
            print("failures:", failures[:3], file=sys.stderr)
        deposits = len(timed) * args.size
        record(
            "batch_deposits",
            {
                "deposits": deposits,
                "seconds": elapsed,
                "deposits_per_s": deposits / elapsed,
                "request_p50_ms": statistics.median(latencies) * 1000,
                "request_max_ms": max(latencies) * 1000,
                "failures": len(failures),
                # The ceiling's own figure rides along, so the ratio is always
                # read against the ceiling of this run.
                "ceiling_sql_transfer_tps": ceiling["tps"],
                "ratio_to_sql_transfer": deposits / elapsed / ceiling["tps"],
                "target_deposits_per_s": 10_000,
                "target_ratio_to_sql_transfer": 3.0,
                "settings": f"{args.clients} clients, {args.size}/request, "
                f"sync workers={args.workers}",
            },
        )


if __name__ == "__main__":
    main()
