"""UUIDv7 blocks: reserved counters, their ids, and giving back the unused end."""

from __future__ import annotations

import time
from typing import Any

from service.domain import ids


def test_a_reserved_block_is_increasing_ids_after_any_made_before() -> None:
    before = ids.new_id()
    first = ids.reserve(5)
    block = [ids.at(first + i, 0) for i in range(5)]
    assert block == sorted(block)
    assert before < block[0]
    assert ids.new_id() > block[-1]


def test_the_unused_end_of_the_last_block_is_given_back(monkeypatch: Any) -> None:
    frozen = time.time_ns()
    monkeypatch.setattr(ids.time, "time_ns", lambda: frozen)
    first = ids.reserve(10_000)
    ids.give_back(first, 10_000, 2)
    after = ids.reserve(1)
    # within the same millisecond's counters, not 10,000 counters ahead
    assert first + 2 <= after < first + 1024


def test_nothing_is_given_back_once_another_block_was_reserved() -> None:
    first = ids.reserve(100)
    second = ids.reserve(1)
    ids.give_back(first, 100, 3)
    assert ids.reserve(1) > second
    assert second >= first + 100


def test_a_tail_is_the_variant_and_62_random_bits() -> None:
    """The database mints a block's ids with one tail: each is still a UUIDv7
    of RFC 9562's variant, and tails differ between blocks."""
    tails = {ids.tail() for _ in range(50)}
    assert len(tails) == 50
    for tail in tails:
        bits = int.from_bytes(tail, "big")
        assert len(tail) == 8
        assert bits >> 62 == 0b10
        assert ids.at(ids.reserve(1), bits & ((1 << 62) - 1)).variant == "specified in RFC 4122"
