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
    if n <= 0:
        return []
    first = reserve(n)
    noise = os.urandom(8 * n)
    mask = (1 << 62) - 1
    return [at(first + i, int.from_bytes(noise[8 * i : 8 * i + 8], "big") & mask) for i in range(n)]


def reserve(n: int) -> int:
    """Reserve ``n`` consecutive counters (time in milliseconds and the 12-bit
    sub-millisecond counter, as one number) and return the first: the ids
    ``at(first)`` to ``at(first + n - 1)`` are then this process's, increasing.
    The database mints a batch's ids from such a block
    (:func:`service.db.dialect.pg_uuid7`), so none travel as parameters."""
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        first = (ms << 12) | int.from_bytes(os.urandom(2), "big") & 0x3FF
        if first <= _last:
            first = _last + 1
        _last = first + n - 1
    return first


def give_back(first: int, reserved: int, used: int) -> None:
    """Return the unused end of a block from :func:`reserve` (``used`` of its
    ``reserved`` counters were taken), if no block was reserved since: a lazy
    release reserves a whole batch's worth for the one or two holds it finds,
    and the ids' clock should not run ahead of the real one by 2.4 ms (10,000
    counters at 4,096 a millisecond) each time."""
    global _last
    with _lock:
        if _last == first + reserved - 1:
            _last = first + used - 1


def tail() -> bytes:
    """The low 8 bytes of a UUIDv7, its variant and 62 random bits, for the
    ids the database mints from one block of :func:`reserve`: drawing them once
    per block, not once per id, saved the release job 1 µs an event. The
    counters already make the block's ids distinct and increasing; the bits
    keep apart two processes whose blocks overlap (their clocks met within
    the same millisecond), as they keep apart any two ids of Python's."""
    return at(0, int.from_bytes(os.urandom(8), "big") >> 2).bytes[8:]


def at(counter: int, random_bits: int) -> uuid.UUID:
    """The UUIDv7 of a reserved counter, with 62 random bits."""
    ms, sub = counter >> 12, counter & 0xFFF
    value = (ms << 80) | (0x7 << 76) | (sub << 64) | (0b10 << 62) | random_bits
    return uuid.UUID(int=value)
