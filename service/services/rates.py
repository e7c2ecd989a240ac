"""USD reference rates: what limits and the review threshold value withdrawals at.

Set by compliance (``PUT /v1/rates/{asset}``), audited, read inside the
withdrawal's own transaction. USD is the unit of account: its rate is 1 by
definition, so it needs no row, and setting it to anything else is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from service.db import rates as repo
from service.db import repositories
from service.domain.errors import NotFound, ValidationFailed
from service.domain.withdrawals import USD, parse_rate, rate_text
from service.services import reference


@dataclass(frozen=True, slots=True)
class RateView:
    asset: str
    usd: str
    updated_at: datetime | None
    updated_by: str | None


def set_rate(tx: Connection, code: str, usd: object, *, actor: str, now: datetime) -> RateView:
    """Set the USD price of a known asset (404 ``unknown_asset`` otherwise)."""
    try:
        asset = reference.asset(tx, code.upper())
    except ValidationFailed as exc:
        raise NotFound(f"unknown asset {code!r}", code="unknown_asset") from exc
    value = parse_rate(usd)
    if asset.code == USD and value != 1:
        raise ValidationFailed.field("usd", "USD is the unit of account: its rate is always 1")
    text = rate_text(value)
    repo.set_rate(tx, asset.code, text, now=now, actor=actor)
    repositories.audit(
        tx,
        at=now,
        actor=actor,
        action="rate_set",
        reason=f"{asset.code} = {text} USD",
        details={"asset": asset.code, "usd": text},
    )
    return RateView(asset.code, text, now, actor)


def list_rates(conn: Connection) -> list[RateView]:
    return [RateView(a, u, t, b) for a, u, t, b in repo.all_rates(conn)]


def usd_rates(conn: Connection, assets: Iterable[str]) -> dict[str, Decimal | None]:
    """The current rate of each asset, ``None`` where there is none (USD is 1)."""
    wanted = set(assets)
    found: dict[str, Decimal | None] = dict(repo.rates_of(conn, wanted - {USD}))
    if USD in wanted:
        found[USD] = Decimal(1)
    return {code: found.get(code) for code in wanted}
