"""Serve the ceiling app with the service's own gunicorn settings."""

from __future__ import annotations

import argparse

from bench.ceiling_app import make_app
from service.server import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8, help="per worker; 1 = sync workers")
    args = parser.parse_args()
    run(
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        load=make_app,
    )
