"""The scheduler process: releases due holds periodically, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from service.db.database import Database
from tests.integration.test_release import hold_statuses, make_held_deposits

LEDGER = Path(sys.executable).parent / "ledger"


def test_scheduler_releases_due_holds_and_stops_on_sigterm(db: Database) -> None:
    # settled early in November 2026: due days before any real "now" this test runs at
    make_held_deposits(db, 3, accounts_count=1, settled=datetime(2026, 11, 2, 15, tzinfo=UTC))
    process = subprocess.Popen(
        [str(LEDGER), "scheduler", "--interval", "0.2"],
        env={**os.environ, "LEDGER_DATABASE_URL": db.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while hold_statuses(db) != {"released": 3} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hold_statuses(db) == {"released": 3}
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "scheduler stopped" in output
    assert '"released": 3' in output
