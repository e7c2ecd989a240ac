"""Production server: gunicorn running the Flask app.

Sync workers: each handles one request at a time, which suits short database
transactions and gave steadier throughput than threads on small machines.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from service.api import create_app


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app()


def run(*, host: str, port: int, workers: int) -> None:
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "sync",
            "accesslog": "-",
            "timeout": 60,
            "keepalive": 5,
        }
    ).run()
