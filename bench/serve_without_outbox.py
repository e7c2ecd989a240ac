"""``ledger serve`` with the deposit's outbox insert removed, for
bench/events.py only: the same code as the service except that a deposit
writes no ``deposit.settled`` event (no event rows, no JSON payload, no
notification), so the outbox's cost is measured against the same build."""

from __future__ import annotations

import argparse
from typing import Any

from service.services import events


def _no_rows(*_args: Any, **_kwargs: Any) -> list[dict[str, Any]]:
    return []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    events.deposit_rows = _no_rows  # type: ignore[assignment]
    from service.server import run

    run(host="127.0.0.1", port=args.port, workers=args.workers, threads=args.threads)


if __name__ == "__main__":
    main()
