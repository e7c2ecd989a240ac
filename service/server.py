"""Production server: gunicorn running the Flask app.

Sync workers: each handles one request at a time, which suits short database
transactions and gave steadier throughput than threads on small machines. The
benchmarks serve their ceiling app through :func:`run` too, so both are measured
under the same settings.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication


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


def options(*, host: str, port: int, workers: int, access_log: bool = False) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync",
        "accesslog": "-" if access_log else None,
        "timeout": 60,
        "keepalive": 5,
        "post_worker_init": _freeze_startup_objects,
    }


def run(
    *,
    host: str,
    port: int,
    workers: int,
    access_log: bool = False,
    load: Callable[[], Any] | None = None,
) -> None:
    if load is None:
        from service.api import create_app

        load = create_app
    _Gunicorn(load, options(host=host, port=port, workers=workers, access_log=access_log)).run()
