"""Cursor pagination (API.md: ``?limit=`` 1–500 and an opaque ``?cursor=``).

A cursor is the sort key of the last item served, so a page is one indexed range
scan ("keyset" pagination) however deep the client goes, and rows inserted
meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

from service.domain.errors import BadRequest


def encode(at: datetime, item_id: uuid.UUID) -> str:
    raw = json.dumps([at.isoformat(), str(item_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, item_id = json.loads(raw)
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(item_id)
    except (ValueError, TypeError) as exc:
        raise BadRequest(
            "the cursor is not one this service issued", code="invalid_cursor"
        ) from exc
