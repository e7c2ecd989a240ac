"""Benchmark: the journal.csv export, end to end, over a large journal.

    python bench/export_journal.py [--postings N] [--accounts K] [--reuse]

1. Makes sure the database has at least N postings of benchmark entries
   (balanced pairs: debit ``Assets:Clearing:Bank``, credit a customer's
   ``Available``, alternating USD and BTC), inserted with set-based SQL in
   batches — never row by row. On PostgreSQL every insert statement passes the
   ledger's own triggers (each statement's entries balance per asset, balances
   are maintained by the database), exactly as in production.
2. Runs the export in a fresh child process through the same service function
   the REST route and ``ledger export`` use
   (:func:`service.services.exports.stream`), encoding to UTF-8 and writing to
   ``/dev/null`` like the command line writes a file, and reports rows per
   second and the child's peak resident memory (``ru_maxrss``), against the
   targets: at least 200,000 rows/s, peak RSS under 100 MB.

Database: ``LEDGER_DATABASE_URL``, or a temporary SQLite file when unset;
``--postgresql`` uses a throwaway PostgreSQL database on 127.0.0.1 instead
(created and dropped, see :mod:`bench.common`). The journal is append-only (on
PostgreSQL the database refuses deletes), so point ``LEDGER_DATABASE_URL`` at a
scratch database: the benchmark entries stay. ``--reuse`` skips the insert when
the database already holds enough benchmark postings. The figures are also kept
in ``var/bench-results.json`` (key ``export_journal_<database>``) for
``python -m bench.report``.

The default of 200,000 postings keeps ``make bench`` to about a minute; the
figure the targets are stated for is ``--postings 1000000``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Connection, func, select, text

from service.db.database import Database
from service.db.repositories import insert_account
from service.db.tables import journal_entries
from service.domain.accounts import AccountRecord, AccountStatus, Tier
from service.domain.chart import Bucket, Platform, customer_ledger_id, ledger_account_id
from service.domain.ids import new_id

TARGET_ROWS_PER_SECOND = 200_000
TARGET_PEAK_RSS_MB = 100
BATCH_ENTRIES = 50_000
REFERENCE_PREFIX = "bench:"
START = datetime(2020, 1, 1, tzinfo=UTC)


def benchmark_postings(conn: Connection) -> int:
    """Postings of the benchmark entries already in the database (two per entry)."""
    entries = conn.execute(
        select(func.count()).where(journal_entries.c.reference.like(f"{REFERENCE_PREFIX}%"))
    ).scalar_one()
    return int(entries) * 2


def make_accounts(db: Database, count: int) -> list[uuid.UUID]:
    now = datetime.now(UTC)
    ids = [new_id() for _ in range(count)]
    with db.write() as tx:
        for account_id in ids:
            insert_account(
                tx,
                AccountRecord(
                    account_id, f"bench-{account_id}", "GB", Tier.BASIC, AccountStatus.ACTIVE, now
                ),
            )
    return ids


def _series(conn: Connection, first: int, count: int) -> str:
    """SQL for the integers ``first .. first+count-1`` as column ``i``."""
    if conn.dialect.name == "postgresql":
        return f"SELECT generate_series({first}, {first + count - 1}) AS i"
    return (
        f"WITH RECURSIVE s(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM s "
        f"WHERE i < {first + count - 1}) SELECT i FROM s"
    )


def insert_batch(db: Database, run: str, first: int, count: int, accounts: str) -> None:
    """``count`` balanced entries numbered from ``first``, two postings each: on
    PostgreSQL one statement (an entry must have its postings by the end of the
    statement that inserts it, migration 0012), on SQLite one for the entries
    and one for the postings."""
    with db.write() as tx:
        pg = tx.dialect.name == "postgresql"
        if pg:
            entry_id = f"('{run}' || lpad(to_hex(s.i), 24, '0'))::uuid"
            posted = f"timestamptz '{START.isoformat()}' + s.i * interval '1 second'"
            account_pick = f"(SELECT id FROM bench_accounts WHERE n = s.i % {accounts})"
        else:
            entry_id = f"'{run}' || printf('%024x', s.i)"
            posted = (
                f"strftime('%Y-%m-%d %H:%M:%S', '{START:%Y-%m-%d %H:%M:%S}', "
                f"'+' || s.i || ' seconds') || '.000000'"
            )
            account_pick = f"(SELECT id FROM bench_accounts WHERE n = s.i % {accounts})"
        series = _series(tx, first, count)
        null_id = "NULL::uuid" if pg else "NULL"
        entries = (
            f"INSERT INTO journal_entries (id, type, posted_at, reference, memo, account_id) "
            f"SELECT {entry_id}, 'deposit', {posted}, '{REFERENCE_PREFIX}' || s.i, "
            f"'bench deposit', NULL FROM ({series}) s"
        )
        if not pg:
            tx.execute(text(entries))
        bank = _uuid_literal(tx, ledger_account_id(Platform.CLEARING_BANK.value))
        asset = "CASE WHEN s.i % 2 = 0 THEN 'USD' ELSE 'BTC' END"
        amount = "(s.i % 100000 + 1)"
        tx.execute(
            text(
                (f"WITH entries AS ({entries}) " if pg else "")
                + "INSERT INTO postings (entry_id, line, ledger_account_id, asset, amount,"
                " account_id, hold_id) "
                f"SELECT {entry_id}, 1, {bank}, {asset}, {amount}, {null_id}, {null_id} "
                f"FROM ({series}) s "
                "UNION ALL "
                f"SELECT {entry_id}, 2, {account_pick}, {asset}, -{amount}, "
                f"(SELECT account_id FROM bench_accounts WHERE n = s.i % {accounts}), {null_id} "
                f"FROM ({series}) s"
            )
        )


def _uuid_literal(conn: Connection, value: uuid.UUID) -> str:
    return f"'{value}'::uuid" if conn.dialect.name == "postgresql" else f"'{value.hex}'"


def ensure_postings(db: Database, wanted: int, accounts: int, reuse: bool) -> int:
    with db.read() as conn:
        have = benchmark_postings(conn)
    if reuse and have >= wanted:
        return have
    ids = make_accounts(db, accounts)
    pg = db.is_postgres
    with db.write() as tx:
        tx.execute(text("DROP TABLE IF EXISTS bench_accounts"))
        tx.execute(
            text(
                "CREATE TABLE bench_accounts (n INTEGER PRIMARY KEY, id "
                + ("uuid" if pg else "CHAR(32)")
                + ", account_id "
                + ("uuid" if pg else "CHAR(32)")
                + ")"
            )
        )
        tx.execute(
            text("INSERT INTO bench_accounts (n, id, account_id) VALUES (:n, :id, :account)"),
            [
                {
                    "n": n,
                    "id": str(customer_ledger_id(a, Bucket.AVAILABLE))
                    if pg
                    else customer_ledger_id(a, Bucket.AVAILABLE).hex,
                    "account": str(a) if pg else a.hex,
                }
                for n, a in enumerate(ids)
            ],
        )
    run = uuid.uuid4().hex[:8]
    entries = (wanted + 1) // 2
    started = time.perf_counter()
    done = 0
    while done < entries:
        count = min(BATCH_ENTRIES, entries - done)
        insert_batch(db, run, done, count, str(accounts))
        done += count
        print(f"\r  inserted {done * 2:,} postings", end="", file=sys.stderr, flush=True)
    print(f" in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    with db.write() as tx:
        tx.execute(text("DROP TABLE bench_accounts"))
    if pg:  # as autovacuum would leave them: statistics fresh, visibility map set
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE journal_entries, postings"))
    with db.read() as conn:
        return benchmark_postings(conn)


def export_once(url: str) -> dict[str, float]:
    """The measured part, run in its own process so its peak RSS is the export's."""
    from service.config import Settings
    from service.services import exports

    settings = Settings.from_env()
    db = Database(url)
    bounds = exports.resolve_period(
        exports.ExportName.JOURNAL,
        from_text=None,
        to_text=None,
        as_of_text=None,
        tz_name=settings.time_zone,
        now=datetime.now(UTC),
    )
    rows = 0

    def count(n: int) -> None:
        nonlocal rows
        rows += n

    started, cpu_started = time.perf_counter(), time.process_time()
    with open(os.devnull, "wb") as sink:
        for chunk in exports.stream(
            db, exports.ExportName.JOURNAL, bounds, tz_name=settings.time_zone, on_rows=count
        ):
            sink.write(chunk.encode("utf-8"))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    db.dispose()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": rows, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_kb / 1024}


def run(url: str, args: argparse.Namespace, source: str) -> None:
    db = Database(url)
    from service.services import schema_version

    schema_version.upgrade(db)
    print(f"database: {db.dialect} ({source})", file=sys.stderr)
    total = ensure_postings(db, args.postings, args.accounts, args.reuse)
    dialect = db.dialect
    db.dispose()
    child = subprocess.run(
        [sys.executable, __file__, "--export-only", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        sys.exit(f"export failed:\n{child.stderr}")
    result = json.loads(child.stdout)
    rows, seconds, peak = int(result["rows"]), result["seconds"], result["peak_rss_mb"]
    rate = rows / seconds
    print(
        f"journal.csv export on {dialect}: {rows:,} rows ({total:,} benchmark postings) "
        f"in {seconds:.2f}s (this process's CPU: {result['cpu_seconds']:.2f}s; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(
        f"  throughput: {rate:,.0f} rows/s  "
        f"({rate / TARGET_ROWS_PER_SECOND:.2f}x the {TARGET_ROWS_PER_SECOND:,} rows/s target)"
    )
    print(
        f"  peak RSS:   {peak:.1f} MB  "
        f"({peak / TARGET_PEAK_RSS_MB:.2f}x the {TARGET_PEAK_RSS_MB} MB ceiling; "
        f"{'within' if peak < TARGET_PEAK_RSS_MB else 'OVER'})",
        flush=True,
    )
    from bench.common import record

    record(
        f"export_journal_{dialect}",
        {
            "rows": rows,
            "seconds": seconds,
            "rows_per_s": rate,
            "peak_rss_mb": peak,
            "cpu_seconds": result["cpu_seconds"],
            "target_rows_per_s": TARGET_ROWS_PER_SECOND,
            "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postings",
        type=int,
        default=200_000,
        help="postings the journal should hold (default 200,000; "
        "the targets are stated for 1,000,000)",
    )
    parser.add_argument(
        "--accounts", type=int, default=1000, help="customer accounts the postings are spread over"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="do not insert if enough benchmark postings exist"
    )
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="run on a throwaway PostgreSQL database on 127.0.0.1 "
        "(created and dropped) instead of LEDGER_DATABASE_URL",
    )
    parser.add_argument("--export-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        print(json.dumps(export_once(args.export_only)))
        return
    if args.postgresql:
        from bench.common import database

        with database("postgresql", "export") as url:
            run(url, args, "throwaway database")
        return
    configured = os.environ.get("LEDGER_DATABASE_URL")
    if configured:
        run(configured, args, "LEDGER_DATABASE_URL")
        return
    with tempfile.TemporaryDirectory() as scratch:
        run(f"sqlite:///{scratch}/bench.db", args, "temporary SQLite file")


if __name__ == "__main__":
    main()
