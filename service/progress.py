"""A progress line on stderr for long commands (only when stderr is a terminal)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self.started = time.perf_counter()

    def advance(self, n: int) -> None:
        self.count += n
        rate = self.count / max(time.perf_counter() - self.started, 1e-9)
        sys.stderr.write(f"\r{self.count:,} {self.what} ({rate:,.0f}/s)")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()
