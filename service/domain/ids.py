"""Identifiers: UUIDv7 (RFC 9562) for everything the ledger creates.

Why v7 and not v4: the first 48 bits are the Unix time in milliseconds, so new
rows land at the right-hand edge of B-tree indexes (no random page splits) and
sorting by id follows creation order, which journal exports rely on. Why not a
database sequence: keys minted by any process on any host need no global
counter, so the schema can be sharded by account (DESIGN.md section 7).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


def new_id() -> uuid.UUID:
    """A fresh UUIDv7, strictly increasing within this process."""
    return new_ids(1)[0]


def new_ids(n: int) -> list[uuid.UUID]:
    """``n`` fresh UUIDv7s, strictly increasing within this process, with one
    lock and one read of the random source.

    48-bit millisecond time, then 12 bits of sub-millisecond counter space
    (starting at a random point below 1,024): an id in the same millisecond
    as the last is one more than it; then 62 random bits."""
    global _last
    if n <= 0:
        return []
    noise = os.urandom(10 * n)
    with _lock:
        ms = time.time_ns() // 1_000_000
        first = (ms << 12) | int.from_bytes(noise[:2], "big") & 0x3FF
        if first <= _last:
            first = _last + 1
        _last = first + n - 1
    ids = []
    mask = (1 << 62) - 1
    for i in range(n):
        candidate = first + i
        ms, counter = candidate >> 12, candidate & 0xFFF
        rand_b = int.from_bytes(noise[2 + 8 * i : 10 + 8 * i], "big") & mask
        value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
        ids.append(uuid.UUID(int=value))
    return ids
