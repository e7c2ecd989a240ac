"""What the REST layer needs per process: settings, database, key cache, clock.

Kept in ``app.extensions`` so tests can build any number of independent apps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from threading import Lock

from flask import current_app

from service.config import Settings
from service.db.database import Database
from service.services import events
from service.services.events import EventNotifier
from service.services.keys import KeyCache

_export_db_lock = Lock()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    keys: KeyCache
    clock: Callable[[], datetime] = field(default=_utc_now)
    #: The database exports read (a replica when LEDGER_EXPORT_DATABASE_URL is
    #: set); made on first use, once per app.
    export_db: Database | None = None
    #: Wakes the feed's long polls (one listener per process, made on first use).
    notifier: EventNotifier | None = None

    def now(self) -> datetime:
        return self.clock()

    def export_database(self) -> Database:
        if self.export_db is None:
            with _export_db_lock:
                if self.export_db is None:
                    url = self.settings.export_database_url
                    self.export_db = (
                        Database(url, pool_size=self.settings.pool_size)
                        if url and url != self.db.url
                        else self.db
                    )
        return self.export_db

    def event_notifier(self) -> EventNotifier:
        if self.notifier is None:
            with _export_db_lock:
                if self.notifier is None:
                    self.notifier = events.notifier(self.db, self.settings.event_poll_seconds)
        return self.notifier


def runtime() -> Runtime:
    value = current_app.extensions["ledger"]
    assert isinstance(value, Runtime)
    return value
