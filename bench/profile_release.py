"""Where a release batch spends its time: milliseconds per batch for each
statement (its triggers included), for COMMIT, and for the rest (Python,
fetching, parameters).

Seeds N holds as ``bench.release_holds`` does, then runs the job's loop
in-process with a timer on every statement. Prints, does not record.
``python -m bench.profile_release --holds 50000 [--no-statistics]``. When
PostgreSQL runs on this host it also prints the server's CPU per batch, the
figure to compare two variants by (the clock of a shared VM varies by ±10%
from run to run). For the plans inside the statement and its triggers, run
one batch with ``auto_explain`` (``log_nested_statements``) on the same
database; for where the server's CPU goes, ``perf record -g -p <backend
pid>`` during the loop.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from bench.common import database
from bench.release_holds import checkpoint, seed, vacuum_analyze, without_statistics
from service.db.database import Database
from service.db.holds import release_batch


def profile(url: str, batch_size: int) -> None:
    db = Database(url)
    spent: dict[str, float] = defaultdict(float)

    @event.listens_for(db.engine, "before_cursor_execute")
    def started(conn: Any, *_: Any) -> None:
        conn.info["started"] = time.perf_counter()

    @event.listens_for(db.engine, "after_cursor_execute")
    def finished(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        spent[" ".join(statement.split())[:80]] += time.perf_counter() - conn.info["started"]

    now = datetime.now(UTC)
    with db.read() as conn:
        backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    cpu_before = backend_cpu_seconds(backend)
    began = time.perf_counter()
    batches = released = 0
    committing = 0.0
    while True:
        transaction = db.write()
        tx = transaction.__enter__()
        if tx.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != backend:
            backend = None  # another connection: its CPU would be missed
        result = release_batch(tx, as_of=now, now=now, limit=batch_size)
        commit_started = time.perf_counter()
        transaction.__exit__(None, None, None)
        committing += time.perf_counter() - commit_started
        if result.released == 0:
            break
        batches += 1
        released += result.released
    elapsed = time.perf_counter() - began
    cpu_after = backend_cpu_seconds(backend)
    db.dispose()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"released {released:,} in {elapsed:.2f} s, {batches} batches; load average {load}")
    for statement, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"{seconds * 1000 / batches:9.1f} ms/batch  {statement}")
    print(f"{committing * 1000 / batches:9.1f} ms/batch  COMMIT")
    rest = elapsed - sum(spent.values()) - committing
    print(f"{rest * 1000 / batches:9.1f} ms/batch  Python, fetching, parameters")
    if cpu_before is not None and cpu_after is not None:
        cpu = (cpu_after - cpu_before) * 1000 / batches
        print(f"{cpu:9.1f} ms/batch  of the database server's CPU (its backend process)")


def backend_cpu_seconds(pid: int | None) -> float | None:
    """User and system CPU seconds of a PostgreSQL backend on this host (None
    elsewhere). Steadier than the client's clock on a shared machine: it
    counts only the work the server did for the release."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--holds", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--no-statistics", action="store_true")
    args = parser.parse_args()
    with database("postgresql", "profile_release") as url:
        if args.no_statistics:
            without_statistics(url)
        seed(url, args.holds)
        if not args.no_statistics:
            vacuum_analyze(url)
        checkpoint(url)
        profile(url, args.batch_size)


if __name__ == "__main__":
    main()
