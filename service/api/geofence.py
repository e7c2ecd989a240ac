"""The geofence on money movements (API.md, Geofence), shared by every route
that moves money: deposits, trades, withdrawals, final withdrawals, chargebacks.

Runs before the movement's own transaction: a request from a blocked country
flags an active account ``read_only`` (committed, audited) and is refused with
403 ``jurisdiction_blocked``. Needs ``@moves_money`` (which reads the country).
"""

from __future__ import annotations

import uuid

from flask import g

from service.api.auth import current_key
from service.api.runtime import runtime
from service.services.compliance import guard_jurisdiction


def guard(*account_ids: uuid.UUID) -> None:
    """Refuse the request from a blocked country, flagging every account it names."""
    rt = runtime()
    guard_jurisdiction(
        rt.db,
        account_ids,
        g.client_country,
        blocked=rt.settings.blocked_countries,
        actor=current_key().name,
        now=rt.now(),
    )
