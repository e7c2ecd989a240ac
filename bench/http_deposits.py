"""Card deposits (with holds) over HTTP against ``ledger serve`` on PostgreSQL.

Measures, in one run and under identical gunicorn settings (sync workers):

1. the ceiling endpoint (bench/ceiling_app.py): entry + 2 postings + 2 balance
   updates per request, and its no-database GET;
2. ``POST /v1/deposits`` (card, so every request places a hold) spread over many
   accounts, then all on one hot account.

Load comes from wrk on loopback. Both servers run side by side and the runs
alternate in rounds (ceiling, service, service on the hot account, then both
at the latency load), so every ratio compares runs seconds apart; the ratio
reported is the median of the rounds' ratios. Prints requests/s, p50/p99 and
the ratio of the service to the ceiling. Target: ≥ 50 % of the ceiling's
requests/s, p99 < 50 ms.

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
import statistics
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


def _combine(runs: list[dict[str, float]]) -> dict[str, float]:
    """Several wrk runs of one workload as one figure: requests/s over all of
    them; p50 and p99 the median of the runs' (one noisy run moves neither)."""
    return {
        "requests": sum(r["requests"] for r in runs),
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "p99_ms_worst": max(r["p99_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of ceiling and service runs"
    )
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
        settings = (
            f"sync workers={args.workers}, wrk -t2 -c{args.connections} -d{args.seconds}s, "
            f"{args.rounds} interleaved rounds"
        )
        unqueued = args.latency_connections or args.workers
        latency_settings = (
            f"sync workers={args.workers}, wrk -t{min(2, unqueued)} -c{unqueued} "
            f"-d{args.seconds}s, {args.rounds} interleaved rounds"
        )
        ceiling_port, port = free_port(), free_port()
        ceiling_server = server(
            [
                sys.executable,
                "-m",
                "bench.serve_ceiling",
                "--port",
                str(ceiling_port),
                "--workers",
                str(args.workers),
            ],
            {"CEILING_DATABASE_URL": url},
            ceiling_port,
        )
        ledger_server = server(
            [str(BIN / "ledger"), "serve", "--port", str(port), "--workers", str(args.workers)],
            {"LEDGER_DATABASE_URL": url},
            port,
        )
        # Both servers are up at once (the idle one only sleeps) and the runs
        # alternate, so each ratio compares two runs a few seconds apart: on a
        # shared VM whose speed drifts by a quarter, one ceiling run followed by
        # a minute of service runs would mostly measure the drift.
        with ceiling_server as ceiling_base, ledger_server as base:
            transfer = ceiling_base + "/transfer"

            def ceiling(connections: int) -> dict[str, float]:
                return wrk(
                    transfer,
                    script=TRANSFER_SCRIPT,
                    seconds=args.seconds,
                    connections=connections,
                    threads=min(2, connections),
                )

            def deposits(accounts_file: Path, connections: int) -> dict[str, float]:
                return wrk(
                    base,
                    script=DEPOSIT_SCRIPT,
                    seconds=args.seconds,
                    connections=connections,
                    threads=min(2, connections),
                    args=[str(accounts_file), key],
                )

            wrk(transfer, script=TRANSFER_SCRIPT, seconds=2, connections=args.connections)
            deposits(many, args.connections)
            analyze(url)
            runs: dict[str, list[dict[str, float]]] = {
                name: [] for name in ("ceiling", "many", "hot", "ceiling_latency", "latency")
            }
            for _ in range(args.rounds):
                runs["ceiling"].append(ceiling(args.connections))
                runs["many"].append(deposits(many, args.connections))
                runs["hot"].append(deposits(hot, args.connections))
                runs["ceiling_latency"].append(ceiling(unqueued))
                runs["latency"].append(deposits(many, unqueued))
            ping = wrk(
                ceiling_base + "/ping",
                script=PING_SCRIPT,
                seconds=args.seconds,
                connections=args.connections,
            )
        ceiling_figures = _combine(runs["ceiling"])
        ceiling_latency = _combine(runs["ceiling_latency"])
        record("ceiling_transfer", {**ceiling_figures, "settings": settings})
        record("ceiling_ping", {**ping, "settings": settings})
        record("ceiling_transfer_latency", {**ceiling_latency, "settings": latency_settings})
        record(
            "http_deposits_latency",
            {
                **_combine(runs["latency"]),
                "ceiling_p99_ms": ceiling_latency["p99_ms"],
                "target_p99_ms": 50,
                "settings": latency_settings,
            },
        )
        for name, service_runs in (
            ("http_deposits_many_accounts", runs["many"]),
            ("http_deposits_hot_account", runs["hot"]),
        ):
            ratios = [
                s["rps"] / c["rps"] for s, c in zip(service_runs, runs["ceiling"], strict=True)
            ]
            record(
                name,
                {
                    **_combine(service_runs),
                    "ratio_to_ceiling": statistics.median(ratios),
                    "ratio_by_round": ", ".join(f"{r:.2f}" for r in ratios),
                    "target_ratio": 0.5,
                    "target_p99_ms": 50,
                    "settings": settings,
                },
            )


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)
    main()
