"""Production server: gunicorn running the Flask app.

``gthread`` workers: each worker process serves ``threads`` requests at once.
A long poll on the event feed (``GET /v1/events?wait=30``) holds its thread
while it waits (no database connection: one listener per process wakes it),
so with sync workers six waiting readers would take every worker of a small
deployment and deposits would queue behind them. With threads, waiting readers
hold threads, and deposits are answered by the others: 64 per worker by
default, since gunicorn does not spread connections evenly between workers and
API.md promises deposits answered at once with fifty readers waiting. The cost is measured
in docs/performance.md (deposit throughput with sync and gthread workers).

The benchmarks serve their ceiling app through :func:`run` too, so both are
measured under the same settings.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from gunicorn.app.base import BaseApplication

from service.config import DEFAULT_SERVER_THREADS
from service.metrics import MULTIPROC_DIR

#: Marks a metrics directory ``ledger serve`` made itself (and so removes).
_OWNED_DIR = "LEDGER_OWNED_METRICS_DIR"


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, load: Callable[[], Any], options: dict[str, Any]) -> None:
        self._load = load
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load()


def _freeze_startup_objects(worker: Any) -> None:
    """Move everything the app built at start-up (routes, schemas, statement
    caches) out of the collector's reach: a full collection then only walks
    what requests allocate, which keeps its pauses out of the latency tail."""
    gc.freeze()


def _forget_worker_metrics(server: Any, worker: Any) -> None:
    """An exited worker's gauges stop counting (its counters still do: they
    are totals of requests it served)."""
    if os.environ.get(MULTIPROC_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def options(
    *,
    host: str,
    port: int,
    workers: int,
    threads: int = DEFAULT_SERVER_THREADS,
    access_log: bool = False,
) -> dict[str, Any]:
    """``threads`` 1 means gunicorn's sync workers (one request at a time)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync" if threads <= 1 else "gthread",
        "threads": max(threads, 1),
        "accesslog": "-" if access_log else None,
        "timeout": 60,
        "keepalive": 5,
        "post_worker_init": _freeze_startup_objects,
        "child_exit": _forget_worker_metrics,
    }


def _reexec_with_metrics_dir(argv: list[str]) -> NoReturn:
    """Start this command again with a fresh metrics directory in its environment.

    prometheus_client decides at import whether samples are shared through
    files, and the ``ledger`` command has imported it already: only a new
    process image (same pid, so signals still reach the server) gets it right.
    """
    directory = tempfile.mkdtemp(prefix="ledger-metrics-")
    env = {**os.environ, MULTIPROC_DIR: directory, _OWNED_DIR: directory}
    os.execve(sys.executable, [sys.executable, "-m", "service.cli", *argv], env)


@contextmanager
def shared_metrics(argv: list[str]) -> Iterator[Path]:
    """Run the server with prometheus_client's multiprocess mode, so a scrape of
    ``/metrics`` answered by any worker reports all of them.

    ``PROMETHEUS_MULTIPROC_DIR`` set by the operator is used (emptied of a
    previous run's samples first); unset, a fresh temporary directory is made
    for this server start and removed when it stops. ``argv`` is the command's
    arguments, to start it again when the directory had to be made.
    """
    value = os.environ.get(MULTIPROC_DIR)
    if not value:
        _reexec_with_metrics_dir(argv)
    directory = Path(value)
    owned = os.environ.pop(_OWNED_DIR, None) == value
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        if stale.name.split("_")[-1] != f"{os.getpid()}.db":
            stale.unlink()
    try:
        yield directory
    finally:
        if owned:
            shutil.rmtree(directory, ignore_errors=True)


def run(
    *,
    host: str,
    port: int,
    workers: int,
    threads: int = DEFAULT_SERVER_THREADS,
    access_log: bool = False,
    load: Callable[[], Any] | None = None,
) -> None:
    if load is None:
        from service.api import create_app

        load = create_app
    config = options(host=host, port=port, workers=workers, threads=threads, access_log=access_log)
    _Gunicorn(load, config).run()
