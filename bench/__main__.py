"""``make bench``: every benchmark at its small default size, then the chart.

Each script also runs alone with flags for full size, e.g.
``python -m bench.release_holds --holds 1000000``. PostgreSQL on 127.0.0.1 is
required (the targets are PostgreSQL figures); nothing outside loopback is used.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from bench.ceiling_sql import PGBENCH_MISSING, find_pgbench
from bench.common import RESULTS, postgres_available

SCRIPTS = [
    ["bench.http_deposits"],
    ["bench.http_deposits", "--minutes", "5"],
    ["bench.trades"],
    ["bench.batch_deposits"],
    ["bench.release_holds", "--holds", "200000"],
    ["bench.balance_read", "--postings", "1000000"],
    ["bench.export_journal", "--postgresql"],
    ["bench.seals"],
    ["bench.events"],
]


def main() -> int:
    if not postgres_available():
        print("bench: PostgreSQL is not reachable on 127.0.0.1:5432", file=sys.stderr)
        return 1
    if shutil.which("wrk") is None:
        print("bench: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 1
    # Checked up front: batch_deposits and release_holds divide by pgbench-measured
    # ceilings, and would otherwise fail only after minutes of other benchmarks.
    if find_pgbench() is None:
        print(f"bench: {PGBENCH_MISSING}", file=sys.stderr)
        return 1
    RESULTS.unlink(missing_ok=True)
    failed = []
    for script in SCRIPTS:
        print(f"== {' '.join(script)}", flush=True)
        if subprocess.run([sys.executable, "-m", *script]).returncode != 0:
            failed.append(script[0])
    subprocess.run([sys.executable, "-m", "bench.report"], check=False)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
