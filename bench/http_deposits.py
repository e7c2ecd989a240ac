"""Card deposits (with holds) over HTTP against ``ledger serve`` on PostgreSQL.

Measures, in one run and under identical gunicorn settings (sync workers):

1. the ceiling endpoint (bench/ceiling_app.py): entry + 2 postings + 2 balance
   updates per request, and its no-database GET;
2. ``POST /v1/deposits`` (card, so every request places a hold) spread over many
   accounts, then all on one hot account.

Load comes from wrk on loopback. Prints requests/s, p50/p99 and the ratio of the
service to the ceiling. Target: ≥ 50 % of the ceiling's requests/s, p99 < 50 ms.

Two load levels, because sync workers serve one request each and close the
connection: at 16 connections (throughput) twelve requests wait in the listen
queue at any time, so latency there is mostly queueing (Little's law: about
connections ÷ requests/s), for the ceiling as much as for the service. Latency
is therefore also measured with one connection per worker, where it is the time
a request takes to serve; both apps are measured both ways.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from bench import ceiling_app
from bench.common import BIN, analyze, api_key, database, free_port, record, server, wrk
from service.config import Settings
from service.db.database import Database
from service.domain.accounts import Tier
from service.services.accounts import OpenAccount, open_account

DEPOSIT_SCRIPT = r"""
-- Globals, not locals: thread:set() writes a global of the thread's own state.
local counter = 0
local accounts = {}
started = 0
function setup(thread) thread:set("tid", started); started = started + 1 end
function init(args)
  for line in io.lines(args[1]) do accounts[#accounts + 1] = line end
  key = args[2]
  math.randomseed(os.time() + tid * 7919)
end
request = function()
  counter = counter + 1
  local ref = "wrk-" .. tid .. "-" .. counter .. "-" .. math.random(1000000000)
  local account = accounts[math.random(#accounts)]
  local body = '{"account_id": "' .. account .. '", "method": "card", "asset": "USD", ' ..
               '"amount": "10.00", "external_ref": "' .. ref .. '"}'
  return wrk.format("POST", "/v1/deposits", {
    ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json",
    ["X-Client-Country"] = "GB", ["Idempotency-Key"] = ref}, body)
end
"""

TRANSFER_SCRIPT = 'wrk.method = "POST"\n'
PING_SCRIPT = 'wrk.method = "GET"\n'


def open_accounts(url: str, n: int) -> list[str]:
    db = Database(url)
    now = datetime.now(UTC)
    with db.write() as tx:
        ids = [
            str(
                open_account(
                    tx,
                    OpenAccount(f"bench-{uuid.uuid4()}", "GB", Tier.BASIC),
                    client_country="GB",
                    blocked=Settings().blocked_countries,
                    now=now,
                ).id
            )
            for _ in range(n)
        ]
    db.dispose()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (both apps)")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument(
        "--latency-connections",
        type=int,
        default=0,
        help="connections for the latency runs (default: one per worker)",
    )
    args = parser.parse_args()
    with database("postgresql", "http") as url, TemporaryDirectory() as tmp:
        ceiling_app.setup(url)
        key = api_key(url, "payments")
        many, hot = Path(tmp) / "many.txt", Path(tmp) / "hot.txt"
        accounts = open_accounts(url, args.accounts)
        many.write_text("\n".join(accounts) + "\n")
        hot.write_text(accounts[0] + "\n")
        settings = f"sync workers={args.workers}, wrk -t2 -c{args.connections} -d{args.seconds}s"
        unqueued = args.latency_connections or args.workers
        latency_settings = (
            f"sync workers={args.workers}, wrk -t{min(2, unqueued)} -c{unqueued} -d{args.seconds}s"
        )

        port = free_port()
        with server(
            [
                sys.executable,
                "-m",
                "bench.serve_ceiling",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            {"CEILING_DATABASE_URL": url},
            port,
        ) as base:
            wrk(base + "/transfer", script=TRANSFER_SCRIPT, seconds=2, connections=args.connections)
            ceiling = wrk(
                base + "/transfer",
                script=TRANSFER_SCRIPT,
                seconds=args.seconds,
                connections=args.connections,
            )
            ceiling_latency = wrk(
                base + "/transfer",
                script=TRANSFER_SCRIPT,
                seconds=args.seconds,
                connections=unqueued,
                threads=min(2, unqueued),
            )
            ping = wrk(
                base + "/ping",
                script=PING_SCRIPT,
                seconds=args.seconds,
                connections=args.connections,
            )
        record("ceiling_transfer", {**ceiling, "settings": settings})
        record("ceiling_ping", {**ping, "settings": settings})
        record("ceiling_transfer_latency", {**ceiling_latency, "settings": latency_settings})

        port = free_port()
        with server(
            [str(BIN / "ledger"), "serve", "--port", str(port), "--workers", str(args.workers)],
            {"LEDGER_DATABASE_URL": url},
            port,
        ) as base:
            wrk(
                base,
                script=DEPOSIT_SCRIPT,
                seconds=2,
                connections=args.connections,
                args=[str(many), key],
            )
            analyze(url)
            spread = wrk(
                base,
                script=DEPOSIT_SCRIPT,
                seconds=args.seconds,
                connections=args.connections,
                args=[str(many), key],
            )
            one = wrk(
                base,
                script=DEPOSIT_SCRIPT,
                seconds=args.seconds,
                connections=args.connections,
                args=[str(hot), key],
            )
            latency = wrk(
                base,
                script=DEPOSIT_SCRIPT,
                seconds=args.seconds,
                connections=unqueued,
                threads=min(2, unqueued),
                args=[str(many), key],
            )
        record(
            "http_deposits_latency",
            {
                **latency,
                "ceiling_p99_ms": ceiling_latency["p99_ms"],
                "target_p99_ms": 50,
                "settings": latency_settings,
            },
        )
        for name, figures in (
            ("http_deposits_many_accounts", spread),
            ("http_deposits_hot_account", one),
        ):
            record(
                name,
                {
                    **figures,
                    "ratio_to_ceiling": figures["rps"] / ceiling["rps"],
                    "target_ratio": 0.5,
                    "target_p99_ms": 50,
                    "settings": settings,
                },
            )


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)
    main()
