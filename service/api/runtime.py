"""What the REST layer needs per process: settings, database, key cache, clock.

Kept in ``app.extensions`` so tests can build any number of independent apps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app

from service.config import Settings
from service.db.database import Database
from service.services.keys import KeyCache


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    keys: KeyCache
    clock: Callable[[], datetime] = field(default=_utc_now)

    def now(self) -> datetime:
        return self.clock()


def runtime() -> Runtime:
    value = current_app.extensions["ledger"]
    assert isinstance(value, Runtime)
    return value
