"""Cursor pagination (API.md: ``?limit=`` 1–500 and an opaque ``?cursor=``).

A cursor is the sort key of the last item served, so a page is one indexed range
scan ("keyset" pagination) however deep the client goes, and rows inserted
meanwhile never shift a page.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from service.domain.errors import BadRequest

#: ``<microseconds since 1970 UTC>.<item id as 32 hex digits>``: every string
#: of this form is a position (so a client or a fuzzer cannot make one that
#: half-parses); it stays opaque to clients all the same.
CURSOR_PATTERN = r"^[0-9]{1,16}\.[0-9a-f]{32}$"

_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def encode(at: datetime, item_id: uuid.UUID) -> str:
    return f"{(at - _EPOCH) // _MICROSECOND}.{item_id.hex}"


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise BadRequest("the cursor is not one this service issued", code="invalid_cursor")
    micros, hex_id = cursor.split(".")
    return _EPOCH + int(micros) * _MICROSECOND, uuid.UUID(hex=hex_id)
