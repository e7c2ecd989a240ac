"""Waking long polls when events commit: one listener per process.

PostgreSQL: a daemon thread holds ONE connection that ``LISTEN``s on the
events channel and wakes every waiting request of the process through a
condition variable. Waiting requests hold no database connection: fifty long
polls cost one listening connection, not fifty.

Who notifies: the sequencer, when it numbered events (writers do not: see
:data:`service.db.events.CHANNEL`). While requests of this process wait, the
listener thread itself runs the sequencer every ``SEQUENCE_INTERVAL`` (one
index probe when there is nothing to number), so a committed event reaches
the waiting readers of every process within about that interval.

A notification is a hint, never the truth: waiters always re-read the feed,
and they also look again every ``poll_seconds`` (notifications are lost while
the listener reconnects). SQLite has no notifications: waiters just look
again every ``poll_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from service.db.events import CHANNEL

log = logging.getLogger("ledger.events")

#: How often the listener numbers committed events while requests wait.
SEQUENCE_INTERVAL = 0.05


class EventNotifier:
    """``wait(generation, timeout)`` blocks until a notification newer than
    ``generation`` arrives or the timeout (at most ``poll_seconds``) passes,
    and returns the newest generation."""

    def __init__(
        self, url: str, *, poll_seconds: float, sequencer: Callable[[], int] | None = None
    ) -> None:
        parsed = make_url(url)
        self._listen = parsed.get_backend_name() == "postgresql"
        self._conninfo = (
            parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            if self._listen
            else ""
        )
        self.poll_seconds = poll_seconds
        self._sequencer = sequencer
        self._waiting = 0
        self._cond = threading.Condition()
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def wait(self, generation: int, timeout: float) -> int:
        if self._listen and self._thread is None:
            self._start()
        with self._cond:
            if generation == self._generation and timeout > 0:
                self._waiting += 1
                try:
                    self._cond.wait(min(timeout, self.poll_seconds))
                finally:
                    self._waiting -= 1
            return self._generation

    def close(self) -> None:
        self._stopped.set()

    def _start(self) -> None:
        with self._cond:
            if self._thread is None:
                # Started lazily, so in the gunicorn worker after the fork.
                self._thread = threading.Thread(
                    target=self._run, name="ledger-event-listener", daemon=True
                )
                self._thread.start()

    def _wake(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def _number(self) -> bool:
        """Run the sequencer; True if it numbered events. A failure is logged
        and tried again at the next interval (waiters also poll meanwhile)."""
        if self._sequencer is None:
            return False
        try:
            return self._sequencer() > 0
        except Exception:
            log.exception("numbering events failed")
            return False

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopped.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 0.5
                    self._wake()  # anything committed while we were not listening
                    while not self._stopped.is_set():
                        waiting = self._waiting > 0
                        timeout = SEQUENCE_INTERVAL if waiting else 1.0
                        if list(conn.notifies(timeout=timeout, stop_after=1)):
                            list(conn.notifies(timeout=0.0))  # drain what else is ready
                            self._wake()
                        elif waiting and self._number():
                            self._wake()
            except psycopg.Error as exc:
                log.warning("event listener lost its connection (%s); reconnecting", exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
