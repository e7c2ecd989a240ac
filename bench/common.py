"""Shared benchmark plumbing: throwaway databases, servers on loopback, wrk, RSS.

Nothing here talks to anything but this machine: PostgreSQL on 127.0.0.1 and
servers bound to 127.0.0.1 on a free port.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get(
    "LEDGER_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
#: Where ``record`` keeps figures for the report; overridable so a trial run of one
#: script does not overwrite the figures of a full ``make bench``.
RESULTS = Path(os.environ.get("LEDGER_BENCH_RESULTS", ROOT / "var" / "bench-results.json"))


def postgres_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def database(kind: str, name: str) -> Iterator[str]:
    """A fresh, migrated database of ``kind`` ("postgresql" or "sqlite"), dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            migrate(url)
            yield url
        return
    with empty_database(name) as url:
        migrate(url)
        yield url


@contextlib.contextmanager
def empty_database(name: str, server_url: str = PG_ADMIN) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on ``server_url``'s server, dropped afterwards.

    ``server_url`` may name any database on that server (the admin one or a bench
    one): it is only used to issue CREATE/DROP DATABASE. Empty, because not every
    benchmark wants the service's schema: the pure-SQL ceilings bring their own.
    """
    db_name = f"bench_{name}_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    url = make_url(server_url).set(database=db_name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


def migrate(url: str) -> None:
    subprocess.run(
        [str(BIN / "ledger"), "db", "upgrade"],
        env={**os.environ, "LEDGER_DATABASE_URL": url},
        check=True,
        capture_output=True,
    )


def analyze(url: str) -> None:
    """Fresh tables can keep a sequential-scan plan as they grow: refresh statistics."""
    if url.startswith("postgresql"):
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(args: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """Start a server process and wait until ``/healthz`` answers."""
    process = subprocess.Popen(
        args,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"server did not start: {process.stderr.read() if process.stderr else ''}"
                    ) from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


WRK_REPORT = r"""
done = function(summary, latency, requests)
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "p50_us": %d, ' ..
    '"p99_us": %d, "errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def wrk(
    url: str,
    *,
    script: str,
    seconds: int,
    connections: int,
    threads: int = 2,
    args: list[str] | None = None,
) -> dict[str, float]:
    """Run wrk with ``script`` (plus the reporting hook); requests/s and latency in ms."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + WRK_REPORT)
        path = handle.name
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                path,
                url,
                "--",
                *(args or []),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(path)
    line = next(line for line in out.splitlines() if line.startswith("WRK "))
    raw = json.loads(line[4:])
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": raw["errors"] + raw["non2xx"],
    }


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def record(name: str, figures: dict[str, Any]) -> None:
    """Print ``figures`` and keep them in var/bench-results.json for the report."""
    print(f"{name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items()), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = figures
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))


def _fmt(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def api_key(url: str, role: str) -> str:
    return subprocess.run(
        [str(BIN / "ledger"), "keys", "create", "--role", role],
        env={**os.environ, "LEDGER_DATABASE_URL": url},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
