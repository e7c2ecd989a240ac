"""The scheduler: a separate long-running process that runs the release job.

Never run inside web workers: with N gunicorn workers there would be N
schedulers, and a request-serving process should not stall on a batch job.
Several schedulers on several hosts are harmless (the release is
exactly-once), but one is enough. Each run also forgets idempotency responses
past their retention (``LEDGER_IDEMPOTENCY_RETENTION_DAYS``, 30). SIGTERM or
SIGINT stops it between runs, or interrupts the wait; a run in progress
finishes its current batch transaction first.

It also seals the journal every ``seal_interval`` seconds
(``LEDGER_SEAL_INTERVAL_S``, 60): in its own transaction, beside the write
path, so deposits never wait for it; several schedulers seal in turn, never
twice the same entry (:mod:`service.services.seals`).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from datetime import UTC, datetime
from types import FrameType

from service.db.database import Database
from service.services.holds import release_due_holds
from service.services.seals import seal
from service.services.transaction import forget_old_responses

log = logging.getLogger("ledger.scheduler")


class Scheduler:
    def __init__(
        self,
        db: Database,
        *,
        interval: float,
        batch_size: int,
        retention_days: int = 30,
        seal_interval: float = 60.0,
    ) -> None:
        self.db = db
        self.interval = interval
        self.batch_size = batch_size
        self.retention_days = retention_days
        self.seal_interval = seal_interval
        self._stop = threading.Event()

    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        log.info("stopping (signal %s)", signum)
        self._stop.set()

    def run_once(self) -> None:
        now = datetime.now(UTC)
        try:
            summary = release_due_holds(self.db, as_of=now, now=now, batch_size=self.batch_size)
            log.info("release run %s", json.dumps(summary.as_dict()))
            with self.db.write() as tx:
                forgotten = forget_old_responses(tx, now, self.retention_days)
            if forgotten:
                log.info(
                    "forgot %d idempotency responses older than %d days",
                    forgotten,
                    self.retention_days,
                )
        except Exception:  # a failed run is logged and retried at the next interval
            log.exception("release run failed")

    def seal_once(self) -> None:
        try:
            made = seal(self.db, datetime.now(UTC))
            if made is not None:
                log.info("sealed %s", json.dumps(made.as_dict()))
        except Exception:  # a failed seal is logged and retried at the next interval
            log.exception("seal failed")

    def run(self) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info(
            "scheduler started, interval %.1fs, seal interval %.1fs",
            self.interval,
            self.seal_interval,
        )
        next_release = next_seal = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_release:
                self.run_once()
                next_release = time.monotonic() + self.interval
            if now >= next_seal:
                self.seal_once()
                next_seal = time.monotonic() + self.seal_interval
            self._stop.wait(max(0.0, min(next_release, next_seal) - time.monotonic()))
        log.info("scheduler stopped")
