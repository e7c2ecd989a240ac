"""Pure-SQL ceilings: what PostgreSQL alone does on this machine, measured in the run.

The performance issue states two targets relative to a plain-SQL ledger, and
measured them on a faster machine (2.5x, roughly) than the one the benchmarks
run on. An absolute figure alone therefore cannot say whether the service is
close to what the database allows; each benchmark also measures its ceiling in
the same run, on the same PostgreSQL, and reports the ratio.

Two ceilings, each in its own throwaway database (``bench_ceiling_*``) with its
own plain tables — not the service's migrations: no foreign keys, no triggers,
no idempotency, no policy or calendar, nothing but the rows a ledger must write.

``transfer_ceiling`` — a pure-SQL ledger doing one transfer per transaction.
    A PL/pgSQL function ``transfer(from, to, amount)`` locks both balance rows
    in id order (``SELECT ... FOR UPDATE``, so concurrent transfers cannot
    deadlock), inserts one entry and two postings, and updates both balances.
    ``pgbench`` calls it from a few clients over TCP with prepared statements:
    one round trip and one commit (one WAL flush) per transfer, with no
    application in between. It is the yardstick of the batch deposit target
    ("≥ 10,000 deposits/s, three times the pure-SQL one-transfer-per-transaction
    rate"): what the service's batching must beat is the per-transaction commit
    this ceiling pays on every transfer.

``release_ceiling`` — one set-based statement pair releasing N holds.
    N due holds in a plain table; a PL/pgSQL procedure claims a batch (``ORDER
    BY release_at LIMIT batch FOR UPDATE SKIP LOCKED``, like the service's
    job), marks it released and inserts two postings per hold in one
    data-modifying CTE, commits, and loops until nothing is due. It is the least
    work releasing N holds can cost in PostgreSQL with the same batching: the
    yardstick of "1,000,000 holds in ≤ 20 s" (about 2x the ceiling where the
    issue was measured).

Run alone (prints, does not record): ``python -m bench.ceiling_sql --holds 100000``.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import PG_ADMIN, empty_database

#: Accounts in the transfer ceiling: as many as the batch deposit benchmark spreads over.
ACCOUNTS = 1000
#: Opening balance of each ceiling account: large enough that no transfer is refused.
OPENING_BALANCE = 1_000_000_000

PGBENCH_MISSING = (
    "pgbench not found (it measures the pure-SQL ceilings). On Debian 12 it ships with "
    "the server package: apt-get install postgresql-15 (the binary lands in "
    "/usr/lib/postgresql/15/bin); elsewhere, set LEDGER_BENCH_PGBENCH to a pgbench binary."
)


class PgbenchMissing(RuntimeError):
    """Raised when no pgbench binary can be found; the message says how to get one."""


def find_pgbench() -> str | None:
    """The pgbench binary, or None.

    Debian keeps it in ``/usr/lib/postgresql/NN/bin`` (not on PATH; ``/usr/bin/pgbench``
    is at most postgresql-client-common's wrapper), so look where ``pg_config`` says the
    server binaries are, then in the newest Debian version directory, then on PATH.
    """
    override = os.environ.get("LEDGER_BENCH_PGBENCH")
    if override:
        return override if os.access(override, os.X_OK) else None
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if bindir:
            candidates.append(str(Path(bindir) / "pgbench"))
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pgbench"),
        key=lambda path: _version(Path(path).parent.parent.name),
        reverse=True,
    )
    on_path = shutil.which("pgbench")
    if on_path:
        candidates.append(on_path)
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def pgbench() -> str:
    """The pgbench binary; raises ``PgbenchMissing`` with install hints if there is none."""
    found = find_pgbench()
    if found is None:
        raise PgbenchMissing(PGBENCH_MISSING)
    return found


# --- transfer ceiling --------------------------------------------------------------------

TRANSFER_SCHEMA = [
    "CREATE TABLE balances (id integer PRIMARY KEY, balance bigint NOT NULL)",
    "CREATE TABLE entries (id uuid PRIMARY KEY, posted_at timestamptz NOT NULL)",
    """CREATE TABLE postings (
        entry_id uuid NOT NULL,
        line smallint NOT NULL,
        account integer NOT NULL,
        amount bigint NOT NULL,
        PRIMARY KEY (entry_id, line)
    )""",
    """CREATE FUNCTION transfer(p_from integer, p_to integer, p_amount bigint)
    RETURNS uuid LANGUAGE plpgsql AS $$
    DECLARE
        v_entry uuid := gen_random_uuid();
    BEGIN
        -- Both rows, lowest id first: concurrent transfers queue instead of deadlocking.
        PERFORM 1 FROM balances WHERE id IN (p_from, p_to) ORDER BY id FOR UPDATE;
        INSERT INTO entries (id, posted_at) VALUES (v_entry, now());
        INSERT INTO postings (entry_id, line, account, amount)
        VALUES (v_entry, 1, p_from, -p_amount), (v_entry, 2, p_to, p_amount);
        UPDATE balances SET balance = balance - p_amount WHERE id = p_from;
        UPDATE balances SET balance = balance + p_amount WHERE id = p_to;
        RETURN v_entry;
    END
    $$""",
]

#: One transfer per pgbench transaction; ``to`` is drawn so that it never equals ``from``.
TRANSFER_SCRIPT = """\\set from random(1, {accounts})
\\set to 1 + (:from + random(0, {accounts} - 2)) % {accounts}
\\set amount random(1, 10000)
SELECT transfer(:from, :to, :amount);
"""


def transfer_ceiling(
    url: str = PG_ADMIN, seconds: int = 10, clients: int = 4, *, accounts: int = ACCOUNTS
) -> dict[str, Any]:
    """Transfers/s of the pure-SQL ledger (one transfer per transaction) under pgbench.

    ``url`` names any database on the PostgreSQL server to measure (the admin URL
    or a benchmark's own database): the ceiling creates and drops its own database
    there, so it never shares tables or statistics with the service under test.
    pgbench runs ``-n -c clients -j min(2, clients) -T seconds -M prepared`` over TCP.
    """
    binary = pgbench()
    with empty_database("ceiling_transfer", url) as db_url:
        engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for statement in TRANSFER_SCHEMA:
                conn.execute(text(statement))
            conn.execute(
                text(
                    "INSERT INTO balances (id, balance) "
                    "SELECT g, :opening FROM generate_series(1, :n) AS g"
                ),
                {"n": accounts, "opening": OPENING_BALANCE},
            )
            conn.execute(text("ANALYZE"))
            conn.execute(text("CHECKPOINT"))
        engine.dispose()
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
            handle.write(TRANSFER_SCRIPT.format(accounts=accounts))
            script = handle.name
        threads = min(2, clients)
        try:
            out = _run_pgbench(
                binary,
                db_url,
                [
                    *("-n", "-f", script, "-M", "prepared"),
                    *("-c", str(clients), "-j", str(threads), "-T", str(seconds)),
                ],
            )
        finally:
            os.unlink(script)
        figures = parse_pgbench(out)
        _check_transfers(db_url, int(figures["transactions"]), accounts)
    return {
        "tps": figures["tps"],
        "latency_avg_ms": figures["latency_avg_ms"],
        "transactions": int(figures["transactions"]),
        "failed": int(figures["failed"]),
        "clients": clients,
        "seconds": seconds,
        "settings": f"pgbench -M prepared -c{clients} -j{threads} -T{seconds}, {accounts} accounts",
    }


def _check_transfers(db_url: str, transactions: int, accounts: int) -> None:
    """Every counted transaction wrote its entry and two postings, and money was conserved.

    A guard against measuring something cheaper than a transfer (a script that
    errors out early, a function that returns before writing).
    """
    engine = create_engine(db_url)
    with engine.connect() as conn:
        entries, postings, total = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM postings), "
                "(SELECT sum(balance) FROM balances)"
            )
        ).one()
    engine.dispose()
    # pgbench counts only transactions that finished before -T ran out; one per
    # client may still have committed after it stopped counting.
    if not transactions <= entries <= transactions + 64 or postings != 2 * entries:
        raise RuntimeError(
            f"transfer ceiling: {transactions} transactions but {entries} entries, "
            f"{postings} postings"
        )
    if total != accounts * OPENING_BALANCE:
        raise RuntimeError(f"transfer ceiling: balances sum to {total}, not conserved")


def _run_pgbench(binary: str, db_url: str, args: list[str]) -> str:
    """Run pgbench against ``db_url`` over TCP; its stdout (the summary)."""
    url = make_url(db_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    done = subprocess.run(
        [
            binary,
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            *args,
            url.database or "postgres",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


_PGBENCH_FIGURES = {
    # PostgreSQL 14+ prints "without initial connection time"; 13 and older
    # "excluding connections establishing". Both leave connecting out.
    "tps": r"^tps = ([\d.]+) \((?:without initial connection time|excluding connections)",
    "latency_avg_ms": r"^latency average = ([\d.]+) ms",
    "transactions": r"^number of transactions actually processed: (\d+)",
    "failed": r"^number of failed transactions: (\d+)",
}


def parse_pgbench(out: str) -> dict[str, float]:
    """tps (without connection time), average latency, transactions and failures."""
    figures: dict[str, float] = {}
    for name, pattern in _PGBENCH_FIGURES.items():
        match = re.search(pattern, out, re.MULTILINE)
        if match:
            figures[name] = float(match.group(1))
        elif name == "failed":  # PostgreSQL < 15 does not count failures: it aborts
            figures[name] = 0.0
        else:
            raise RuntimeError(f"pgbench output has no {name}:\n{out}")
    return figures


# --- release ceiling ---------------------------------------------------------------------

RELEASE_SCHEMA = [
    """CREATE TABLE c_holds (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL,
        amount bigint NOT NULL,
        status text NOT NULL,
        release_at timestamptz NOT NULL
    )""",
    "CREATE INDEX c_holds_due ON c_holds (status, release_at)",
    """CREATE TABLE c_postings (
        entry_id uuid NOT NULL,
        line smallint NOT NULL,
        account_id uuid NOT NULL,
        amount bigint NOT NULL,
        PRIMARY KEY (entry_id, line)
    )""",
    # One transaction per batch, as the service's job: claim, mark, post, commit.
    # The entry id is the hold id (as in the service), so a hold cannot post twice.
    """CREATE PROCEDURE c_release_due(p_batch integer)
    LANGUAGE plpgsql AS $$
    DECLARE
        v_rows bigint;
    BEGIN
        LOOP
            WITH claimed AS (
                SELECT id FROM c_holds
                WHERE status = 'held' AND release_at <= now()
                ORDER BY release_at
                LIMIT p_batch
                FOR UPDATE SKIP LOCKED
            ), released AS (
                UPDATE c_holds AS h SET status = 'released'
                FROM claimed
                WHERE h.id = claimed.id
                RETURNING h.id, h.account_id, h.amount
            )
            INSERT INTO c_postings (entry_id, line, account_id, amount)
            SELECT id, 1, account_id, -amount FROM released  -- debit Held
            UNION ALL
            SELECT id, 2, account_id, amount FROM released;  -- credit Available
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            EXIT WHEN v_rows = 0;
            COMMIT;
        END LOOP;
    END
    $$""",
]

RELEASE_SEED = """
INSERT INTO c_holds (id, account_id, amount, status, release_at)
SELECT gen_random_uuid(),
       ('00000000-0000-4000-8000-' || lpad(mod(g, :accounts)::text, 12, '0'))::uuid,
       1000,
       'held',
       now() - interval '1 day' + g * interval '1 millisecond'
FROM generate_series(1, :holds) AS g
"""


def release_ceiling(
    holds: int = 100_000, batch: int = 10_000, *, url: str = PG_ADMIN
) -> dict[str, Any]:
    """Seconds for a set-based SQL procedure to release ``holds`` due holds.

    Seeding (one ``INSERT ... SELECT FROM generate_series``), ANALYZE and a
    CHECKPOINT come before the clock, so the timed part is only the release:
    ``CALL c_release_due(batch)``, batches of ``batch`` holds, one commit each.
    """
    with empty_database("ceiling_release", url) as db_url:
        engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for statement in RELEASE_SCHEMA:
                conn.execute(text(statement))
            conn.execute(text(RELEASE_SEED), {"holds": holds, "accounts": ACCOUNTS})
            conn.execute(text("ANALYZE"))
            conn.execute(text("CHECKPOINT"))
            started = time.perf_counter()
            # AUTOCOMMIT: CALL runs outside a transaction block, so the COMMITs
            # inside the procedure are allowed.
            conn.execute(text("CALL c_release_due(:batch)"), {"batch": batch})
            elapsed = time.perf_counter() - started
            released, postings = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM c_holds WHERE status = 'released'), "
                    "(SELECT count(*) FROM c_postings)"
                )
            ).one()
        engine.dispose()
    if (released, postings) != (holds, 2 * holds):
        raise RuntimeError(f"release ceiling released {released} holds, {postings} postings")
    return {
        "holds": holds,
        "seconds": elapsed,
        "holds_per_s": holds / elapsed,
        "batch_size": batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="pgbench duration")
    parser.add_argument("--clients", type=int, default=4, help="pgbench clients")
    parser.add_argument("--holds", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()
    print("transfer:", transfer_ceiling(PG_ADMIN, args.seconds, args.clients), flush=True)
    print("release:", release_ceiling(args.holds, args.batch_size), flush=True)


if __name__ == "__main__":
    main()
