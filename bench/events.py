"""Events: what the outbox and the worker model cost a deposit, and how fast a
reader catches up on the feed (PostgreSQL).

1. ``POST /v1/deposits`` (card) over HTTP with wrk against three servers
   started side by side on one database, in interleaved rounds (the machine is
   shared: each ratio compares runs seconds apart, and the figure reported is
   the median of the rounds' ratios):
   * ``sync``: sync workers (one request per worker, the model before events),
     outbox on;
   * ``gthread``: gthread workers (the default now), outbox on;
   * ``gthread_no_outbox``: gthread workers, the deposit's event insert removed
     (bench/serve_without_outbox.py).
   Targets: the outbox costs ≤ 10 % of single-deposit throughput.
2. A reader catching up on ``--events`` (1,000,000) numbered events through
   ``GET /v1/events?limit=1000``, following ``next_after``, against
   ``ledger serve``, once per JSON parser (orjson when installed, then the
   standard library's). Target ≥ 50,000 events/s.
3. The sequencer: committed, unnumbered events numbered per second.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy import create_engine, text

from bench.common import BIN, analyze, api_key, database, free_port, record, server, wrk
from bench.http_deposits import DEPOSIT_SCRIPT, open_accounts
from service.config import DEFAULT_SERVER_THREADS
from service.db.database import Database
from service.services import events as event_service

#: A deposit.settled payload of the real size (about 450 bytes).
_DATA = (
    "json_build_object('id', gen_random_uuid(), 'account_id', gen_random_uuid(), "
    "'method', 'card', 'asset', 'USD', 'amount', '10.00', 'status', 'settled', "
    "'settled_at', '2026-11-20T20:00:00Z', 'external_ref', 'ref-' || n, "
    "'hold', json_build_object('id', gen_random_uuid(), 'deposit_id', gen_random_uuid(), "
    "'method', 'card', 'asset', 'USD', 'amount', '10.00', 'status', 'active', "
    "'placed_at', '2026-11-20T20:00:00Z', 'release_at', '2026-11-25T20:00:00Z', "
    "'released_at', null, 'lots', json_build_array(json_build_object('asset', 'USD', "
    "'amount', '10.00', 'status', 'active'))))"
)


def _fill(url: str, count: int, numbered: bool) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    start = time.perf_counter()
    with engine.connect() as conn:
        base = conn.execute(text("SELECT last FROM event_sequence")).scalar_one()
        sequence = f"{base} + n" if numbered else "NULL"
        conn.execute(
            text(
                "INSERT INTO events (id, sequence, type, occurred_at, account_id, body) "
                f"SELECT id, {sequence}, 'deposit.settled', now(), account_id, "
                "json_build_object('id', id, 'type', 'deposit.settled', 'occurred_at', "
                "'2026-11-20T20:00:00.123456Z', 'account_id', account_id, "
                f"'data', {_DATA})::text FROM (SELECT n, gen_random_uuid() AS id, "
                "gen_random_uuid() AS account_id FROM generate_series(1, :count) AS n) AS g"
            ),
            {"count": count},
        )
        if numbered:
            conn.execute(text("UPDATE event_sequence SET last = last + :c"), {"c": count})
    engine.dispose()
    print(f"  {count:,} events written in {time.perf_counter() - start:.1f} s", flush=True)


def _get(url: str, key: str) -> dict[str, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def _parsers() -> dict[str, Callable[[bytes], Any]]:
    """The consumer's JSON parsers: the standard library's, and orjson when it
    is installed (the ``bench`` extra), as a consumer in a hurry would use."""
    found: dict[str, Callable[[bytes], Any]] = {}
    try:
        import orjson

        found["orjson"] = orjson.loads
    except ImportError:
        pass
    found["json"] = json.loads
    return found


def catch_up(base: str, key: str, parse: Callable[[bytes], Any]) -> dict[str, Any]:
    """One consumer reading the whole feed from the start: one keep-alive HTTP
    connection (as any HTTP client library keeps one), each page parsed, and
    each event's id and type taken (its work), following ``next_after``.
    Also the rate of each tenth of the feed: a page's cost must not grow with
    its position (a range scan of the sequence index, never an offset)."""
    address = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
    headers = {"Authorization": f"Bearer {key}"}
    after, seen, work = 0, 0, 0
    start = time.perf_counter()
    marks: list[tuple[int, float]] = [(0, start)]
    while True:
        connection.request("GET", f"/v1/events?after={after}&limit=1000", headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"feed answered {response.status}: {body[:200]!r}")
        page = parse(body)
        for event in page["items"]:
            work += len(event["id"]) + len(event["type"])
        seen += len(page["items"])
        if seen - marks[-1][0] >= 100_000:
            marks.append((seen, time.perf_counter()))
        if page["next_after"] == after:
            break
        after = page["next_after"]
    seconds = time.perf_counter() - start
    connection.close()
    tenths = [round((b[0] - a[0]) / (b[1] - a[1])) for a, b in itertools.pairwise(marks)]
    assert work > 0 or seen == 0
    return {"events": seen, "seconds": seconds, "events_per_s": seen / seconds, "tenths": tenths}


def _vacuum(url: str) -> None:
    """VACUUM ANALYZE the events, as autovacuum would have done to events old
    enough to be caught up on: without it the first reader of each page also
    pays for setting its rows' hint bits (a one-off write of the whole table)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE events"))
    engine.dispose()


def feed_rate(url: str, key: str, count: int) -> None:
    _fill(url, count, numbered=True)
    _vacuum(url)
    port = free_port()
    figures: dict[str, Any] = {}
    with server(
        [str(BIN / "ledger"), "serve", "--port", str(port), "--workers", "1"],
        {"LEDGER_DATABASE_URL": url},
        port,
    ) as base:
        _get(f"{base}/v1/events?after=0&limit=1000", key)  # warm up
        for name, parse in _parsers().items():
            result = catch_up(base, key, parse)
            print(
                f"  reader with {name}: {result['events']:,} events in "
                f"{result['seconds']:.1f} s = {result['events_per_s']:,.0f}/s; "
                f"per 100,000: {result['tenths']}",
                flush=True,
            )
            figures[name] = result
    primary = next(iter(figures.values()))
    record(
        "events_feed_catch_up",
        {
            "events": primary["events"],
            "seconds": primary["seconds"],
            "events_per_s": primary["events_per_s"],
            "by_parser": {name: round(result["events_per_s"]) for name, result in figures.items()},
            "per_100k_events_per_s": primary["tenths"],
            "settings": (
                f"one reader, limit=1000, keep-alive HTTP, parser {next(iter(figures))}; "
                "ledger serve --workers 1"
            ),
        },
    )


def sequencer_rate(url: str, count: int) -> None:
    _fill(url, count, numbered=False)
    db = Database(url)
    start = time.perf_counter()
    numbered = event_service.sequence(db)
    seconds = time.perf_counter() - start
    db.dispose()
    record(
        "events_sequencer",
        {"events": numbered, "seconds": seconds, "events_per_s": numbered / seconds},
    )


def deposits(url: str, args: argparse.Namespace) -> None:
    key = api_key(url, "payments")
    with TemporaryDirectory() as tmp:
        many = Path(tmp) / "many.txt"
        many.write_text("\n".join(open_accounts(url, args.accounts)) + "\n")
        ports = {name: free_port() for name in ("sync", "gthread", "gthread_no_outbox")}
        # Both gthread servers get the same thread count: it changes p99 and
        # throughput under 16 connections, and the outbox ratio must compare
        # nothing but the event insert.
        workers, threads = str(args.workers), str(args.threads)
        commands = {
            "sync": [str(BIN / "ledger"), "serve", "--workers", workers, "--threads", "1"],
            "gthread": [str(BIN / "ledger"), "serve", "--workers", workers, "--threads", threads],
            "gthread_no_outbox": [
                sys.executable,
                "-m",
                "bench.serve_without_outbox",
                "--workers",
                workers,
                "--threads",
                threads,
            ],
        }
        env = {"LEDGER_DATABASE_URL": url}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
        with (
            server([*commands["sync"], "--port", str(ports["sync"])], env, ports["sync"]) as s,
            server(
                [*commands["gthread"], "--port", str(ports["gthread"])], env, ports["gthread"]
            ) as g,
            server(
                [*commands["gthread_no_outbox"], "--port", str(ports["gthread_no_outbox"])],
                env,
                ports["gthread_no_outbox"],
            ) as n,
        ):
            bases = {"sync": s, "gthread": g, "gthread_no_outbox": n}

            def run(name: str, seconds: int) -> dict[str, float]:
                return wrk(
                    bases[name],
                    script=DEPOSIT_SCRIPT,
                    seconds=seconds,
                    connections=args.connections,
                    args=[str(many), key],
                )

            for name in bases:
                run(name, 2)  # warm up
            analyze(url)
            names = list(bases)
            for round_ in range(args.rounds):
                # Each round starts with another server: no app always runs
                # right after the same one, on the tables that one just grew.
                for name in names[round_ % 3 :] + names[: round_ % 3]:
                    runs[name].append(run(name, args.seconds))
        settings = (
            f"workers={args.workers} (gthread: {args.threads} threads), "
            f"wrk -t2 -c{args.connections} "
            f"-d{args.seconds}s, {args.rounds} interleaved rounds, card deposits over "
            f"{args.accounts} accounts"
        )
        rps = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
        outbox_ratio = statistics.median(
            a["rps"] / b["rps"]
            for a, b in zip(runs["gthread"], runs["gthread_no_outbox"], strict=True)
        )
        worker_ratio = statistics.median(
            a["rps"] / b["rps"] for a, b in zip(runs["gthread"], runs["sync"], strict=True)
        )
        record(
            "events_deposit_cost",
            {
                "rps_sync_outbox": rps["sync"],
                "rps_gthread_outbox": rps["gthread"],
                "rps_gthread_no_outbox": rps["gthread_no_outbox"],
                "p99_ms_gthread_outbox": statistics.median(r["p99_ms"] for r in runs["gthread"]),
                "p99_ms_sync_outbox": statistics.median(r["p99_ms"] for r in runs["sync"]),
                "outbox_ratio": outbox_ratio,
                "outbox_ratio_by_round": ", ".join(
                    f"{a['rps'] / b['rps']:.2f}"
                    for a, b in zip(runs["gthread"], runs["gthread_no_outbox"], strict=True)
                ),
                "gthread_to_sync_ratio": worker_ratio,
                "errors": sum(r["errors"] for rs in runs.values() for r in rs),
                "settings": settings,
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="for the catch-up read")
    parser.add_argument("--sequence-events", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_SERVER_THREADS, help="per gthread worker"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--skip-deposits", action="store_true")
    parser.add_argument("--skip-feed", action="store_true")
    args = parser.parse_args()
    if not args.skip_deposits:
        with database("postgresql", "events_http") as url:
            deposits(url, args)
    if not args.skip_feed:
        with database("postgresql", "events_feed") as url:
            key = api_key(url, "trading")
            feed_rate(url, key, args.events)
        with database("postgresql", "events_seq") as url:
            sequencer_rate(url, args.sequence_events)


if __name__ == "__main__":
    main()
