"""Keyset pagination, newest first: the one way every list of the API pages.

A page is ordered by (time, id) descending and the next one starts strictly
after the last row served — never an OFFSET, so a page costs the same however
deep it is and rows written meanwhile neither repeat nor vanish.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select


def newest_first(
    query: Select[Any],
    at: ColumnElement[Any],
    id_: ColumnElement[Any],
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Select[Any]:
    """``query`` ordered by (``at``, ``id_``) descending, limited to ``limit``
    rows strictly older than ``after`` (the last row served) when given."""
    if after is not None:
        last_at, last_id = after
        query = query.where((at < last_at) | ((at == last_at) & (id_ < last_id)))
    return query.order_by(at.desc(), id_.desc()).limit(limit)
