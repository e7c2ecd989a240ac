"""Card deposits (with holds) over HTTP against ``ledger serve`` on PostgreSQL.

The workload of issue 17, by default: ``wrk -t1 -c8``, each request a
``POST /v1/deposits`` (card, USD "10.00", a random one of 1,000 accounts, a
fresh ``Idempotency-Key`` and ``external_ref``, ``X-Client-Country: GB``)
against ``ledger serve --workers 4`` (gthread workers, its default threads),
15-second runs after a 3-second warm-up of each app.

The ceiling (bench/ceiling_app.py: entry + 2 postings + 2 balance updates per
request, and its no-database GET) runs under gunicorn sync workers, 4 of them.
Both servers run side by side and the runs alternate in rounds (ceiling, the
service over many accounts, the service on one hot account, then both at the
latency load), so every ratio compares runs seconds apart; each round's ratio
is printed and the figure is their median. Target: ≥ 50 % of the ceiling's
requests/s, p99 < 50 ms.

Latency is also measured with one connection per worker: with more
connections than sync workers, the ceiling's latency is mostly queueing
(Little's law: about connections ÷ requests/s).

``--minutes N`` runs the deposit workload for N minutes instead, as one-minute
wrk runs back to back on a growing database, and prints each minute's rate and
the ratio last/first (target ≥ 0.90), with a ceiling run before and after to
show whether the machine itself drifted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import uuid
from collections.abc import Callable
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


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15, help="per wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per app")
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds of ceiling and service runs"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (both apps)")
    parser.add_argument(
        "--ceiling-threads", type=int, default=1, help="ceiling's threads per worker (1: sync)"
    )
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument(
        "--latency-connections",
        type=int,
        default=0,
        help="connections for the latency runs (default: one per worker)",
    )
    parser.add_argument(
        "--minutes",
        type=int,
        default=0,
        help="instead of the rounds: the deposit workload for this many minutes, per minute",
    )
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    with database("postgresql", "http") as url, TemporaryDirectory() as tmp:
        ceiling_app.setup(url)
        key = api_key(url, "payments")
        many, hot = Path(tmp) / "many.txt", Path(tmp) / "hot.txt"
        accounts = open_accounts(url, args.accounts)
        many.write_text("\n".join(accounts) + "\n")
        hot.write_text(accounts[0] + "\n")
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
                "--threads",
                str(args.ceiling_threads),
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

            def ceiling(connections: int, seconds: int = args.seconds) -> dict[str, float]:
                return wrk(
                    transfer,
                    script=TRANSFER_SCRIPT,
                    seconds=seconds,
                    connections=connections,
                    threads=min(args.threads, connections),
                )

            def deposits(
                accounts_file: Path, connections: int, seconds: int = args.seconds
            ) -> dict[str, float]:
                return wrk(
                    base,
                    script=DEPOSIT_SCRIPT,
                    seconds=seconds,
                    connections=connections,
                    threads=min(args.threads, connections),
                    args=[str(accounts_file), key],
                )

            ceiling(args.connections, args.warmup)
            deposits(many, args.connections, args.warmup)
            analyze(url)
            if args.minutes:
                _endurance(args, ceiling, lambda seconds: deposits(many, args.connections, seconds))
                return
            _rounds(args, ceiling, deposits, many, hot, ping=ceiling_base + "/ping")


def _settings(args: argparse.Namespace, connections: int) -> str:
    ceiling = "sync" if args.ceiling_threads <= 1 else f"gthread x{args.ceiling_threads}"
    return (
        f"ledger serve --workers {args.workers} (gthread), ceiling {ceiling} x{args.workers}, "
        f"wrk -t{min(args.threads, connections)} -c{connections} -d{args.seconds}s, "
        f"{args.rounds} interleaved rounds, {args.accounts} accounts"
    )


def _rounds(
    args: argparse.Namespace,
    ceiling: Callable[[int], dict[str, float]],
    deposits: Callable[[Path, int], dict[str, float]],
    many: Path,
    hot: Path,
    *,
    ping: str,
) -> None:
    unqueued = args.latency_connections or args.workers
    runs: dict[str, list[dict[str, float]]] = {
        name: [] for name in ("ceiling", "many", "hot", "ceiling_latency", "latency")
    }
    for number in range(args.rounds):
        runs["ceiling"].append(ceiling(args.connections))
        runs["many"].append(deposits(many, args.connections))
        runs["hot"].append(deposits(hot, args.connections))
        runs["ceiling_latency"].append(ceiling(unqueued))
        runs["latency"].append(deposits(many, unqueued))
        print(
            f"round {number + 1}: ceiling {runs['ceiling'][-1]['rps']:.0f} req/s, "
            f"deposits {runs['many'][-1]['rps']:.0f} req/s "
            f"(ratio {runs['many'][-1]['rps'] / runs['ceiling'][-1]['rps']:.2f}), "
            f"hot account {runs['hot'][-1]['rps']:.0f} req/s",
            flush=True,
        )
    ping_figures = wrk(
        ping,
        script=PING_SCRIPT,
        seconds=args.seconds,
        connections=args.connections,
        threads=min(args.threads, args.connections),
    )
    settings = _settings(args, args.connections)
    latency_settings = _settings(args, unqueued)
    ceiling_figures = _combine(runs["ceiling"])
    ceiling_latency = _combine(runs["ceiling_latency"])
    record("ceiling_transfer", {**ceiling_figures, "settings": settings})
    record("ceiling_ping", {**ping_figures, "settings": settings})
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
        ratios = [s["rps"] / c["rps"] for s, c in zip(service_runs, runs["ceiling"], strict=True)]
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


def _endurance(
    args: argparse.Namespace,
    ceiling: Callable[[int], dict[str, float]],
    deposits: Callable[[int], dict[str, float]],
) -> None:
    """The deposit workload for ``args.minutes`` one-minute runs back to back:
    what grows with the tables shows as a falling rate. A ceiling run before
    and after tells a slower service from a slower machine."""
    before = ceiling(args.connections)
    minutes = []
    for minute in range(args.minutes):
        minutes.append(deposits(60))
        print(
            f"minute {minute + 1}: {minutes[-1]['rps']:.0f} req/s, "
            f"p99 {minutes[-1]['p99_ms']:.1f} ms, load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    after = ceiling(args.connections)
    record(
        "http_deposits_endurance",
        {
            "requests": sum(m["requests"] for m in minutes),
            "rps_by_minute": ", ".join(f"{m['rps']:.0f}" for m in minutes),
            "p99_ms_by_minute": ", ".join(f"{m['p99_ms']:.1f}" for m in minutes),
            "last_to_first": minutes[-1]["rps"] / minutes[0]["rps"],
            "target_last_to_first": 0.9,
            "ceiling_rps_before_after": f"{before['rps']:.0f}, {after['rps']:.0f}",
            "errors": sum(m["errors"] for m in minutes),
            "settings": _settings(args, args.connections) + f", {args.minutes} one-minute runs",
        },
    )


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)
    main()
