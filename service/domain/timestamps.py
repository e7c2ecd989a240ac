"""Timestamps on the wire: ISO 8601, always UTC with ``Z`` on output.

A time without an offset is ambiguous (whose 15:00?), so input must carry one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache


@lru_cache(maxsize=4096)
def format_utc(value: datetime) -> str:
    """``value`` as RFC 3339 UTC text. Cached: a settlement file writes the same
    few instants thousands of times (equal instants give equal text, whatever
    their offsets, so caching by equality is exact)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_aware(text: str) -> datetime:
    """Parse ISO 8601 with an offset into UTC; ``ValueError`` otherwise."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("a time zone offset is required, e.g. 2026-11-20T15:00:00Z")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside the representable range") from None
