"""The release job at scale: N due holds released by ``ledger release-holds``.

Seeds N card deposits (each with a hold) through the batch deposit service,
then runs the release command in a child process and reports holds/s and the
child's peak RSS. Targets (issue 17): 1,000,000 holds in ≤ 40 s with peak RSS < 200 MB,
and at least half the ceiling's speed (ceiling seconds / service seconds ≥ 0.50), after
VACUUM ANALYZE and on tables without statistics.
The issue measured ~10 s for its pure-SQL ceiling on another machine, so the
ceiling (bench/ceiling_sql.py: one set-based statement pair per batch) is
measured here too, in the same run, with the same holds and batch size, and the
ratio of the seconds is reported beside the absolute figure. The ceiling runs
right before and right after the service's release, so both see the same load.
Runs on PostgreSQL (and on SQLite with ``--sqlite``; its ratio is still to the
PostgreSQL ceiling, as its target is the PostgreSQL one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import create_engine, text

from bench.ceiling_sql import release_ceiling
from bench.common import BIN, analyze, database, peak_rss_mb, record
from bench.http_deposits import open_accounts
from service.config import Settings
from service.db.database import Database
from service.domain.holds import Method
from service.services.deposits import DepositCommand, record_deposits

SETTLED = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def seed(url: str, holds: int) -> None:
    accounts = [uuid.UUID(a) for a in open_accounts(url, 1000)]
    db = Database(url)
    settings = Settings(database_url=url)
    started = time.perf_counter()
    for start in range(0, holds, 1000):
        cmds = [
            DepositCommand(
                accounts[i % len(accounts)],
                Method.CARD,
                "USD",
                Decimal("10.00"),
                f"seed-{uuid.uuid4().hex}",
                SETTLED,
            )
            for i in range(start, min(start + 1000, holds))
        ]
        with db.write() as tx:
            record_deposits(tx, cmds, settings=settings, now=SETTLED + timedelta(hours=1))
    db.dispose()
    print(f"seeded {holds:,} holds in {time.perf_counter() - started:.1f}s", flush=True)


#: The tables the release reads and writes; "fresh" runs keep them without
#: statistics, as right after a restore or a bulk load.
RELEASE_TABLES = ("holds", "hold_lots", "journal_entries", "postings", "balances")


def without_statistics(url: str) -> None:
    """Turn autovacuum (and so auto-analyze) off for the release's tables and drop
    any statistics they have: the planner then guesses, as on a fresh table.

    A release that is fast only once ANALYZE has run can be catastrophic before
    it (issue 12: 58 s for a 14 ms statement); this run keeps that visible.
    """
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for table in RELEASE_TABLES:
            conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
            conn.execute(text(f"DELETE FROM pg_statistic WHERE starelid = '{table}'::regclass"))
    engine.dispose()


def checkpoint(url: str) -> None:
    """Flush the seed's dirty pages before the clock, as the ceiling does.

    Seeding writes far more WAL than the release; without this, a checkpoint it
    triggers can land inside the timed release and the ratio would compare a
    release that pays for the seed's writes with a ceiling that does not.
    """
    if url.startswith("postgresql"):
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
        engine.dispose()


def release(url: str, batch_size: int, holds: int) -> float:
    """Seconds for ``ledger release-holds`` (a child process) to release ``holds``."""
    started = time.perf_counter()
    out = subprocess.run(
        [str(BIN / "ledger"), "release-holds", "--batch-size", str(batch_size)],
        env={**os.environ, "LEDGER_DATABASE_URL": url},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    elapsed = time.perf_counter() - started
    summary = json.loads(out)
    assert summary["released"] == holds, summary
    return elapsed


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages (other work shares the machine)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--holds", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite")
    parser.add_argument(
        "--fresh-only",
        action="store_true",
        help="skip the run after VACUUM ANALYZE (keep the one without statistics)",
    )
    parser.add_argument(
        "--analyzed-only",
        action="store_true",
        help="skip the run on tables without statistics",
    )
    args = parser.parse_args()
    runs = []
    if not args.fresh_only:
        runs.append(("postgresql", True))
    if not args.analyzed_only:
        runs.append(("postgresql", False))
    if args.sqlite:
        runs.append(("sqlite", True))
    for kind, statistics in runs:
        with database(kind, "release") as url:
            if not statistics:
                without_statistics(url)
            seed(url, args.holds)
            if statistics:
                vacuum_analyze(url)
            # Service and ceiling alternated in one run, each right after the
            # other: ceiling, service, ceiling; the ratio is to their mean, so
            # a load change during the run shows as a spread of the two ceilings.
            ceilings = [release_ceiling(args.holds, args.batch_size)["seconds"]]
            checkpoint(url)
            load = load_average()
            elapsed = release(url, args.batch_size, args.holds)
            ceilings.append(release_ceiling(args.holds, args.batch_size)["seconds"])
            ceiling = sum(ceilings) / len(ceilings)
            record(
                f"release_holds_{kind}" + ("" if statistics else "_no_statistics"),
                {
                    "holds": args.holds,
                    "seconds": elapsed,
                    "holds_per_s": args.holds / elapsed,
                    "peak_rss_mb": peak_rss_mb(children=True),
                    "statistics": statistics,
                    "batch_size": args.batch_size,
                    "ceiling_seconds": ceiling,
                    "ceiling_runs": " / ".join(f"{c:.2f}" for c in ceilings),
                    "ceiling_over_service": ceiling / elapsed,
                    "ratio_to_ceiling": elapsed / ceiling,
                    "load_average": load,
                    "target_seconds_per_million": 40,
                    "target_ceiling_over_service": 0.5,
                    "target_peak_rss_mb": 200,
                },
            )


def vacuum_analyze(url: str) -> None:
    """``VACUUM ANALYZE`` (PostgreSQL), as the issue measured: statistics, and
    a visibility map for the index-only probes."""
    if url.startswith("postgresql"):
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        engine.dispose()
    else:
        analyze(url)


if __name__ == "__main__":
    main()
