"""The hand-written deposit dump is the schema's dump, byte for byte.

The deposit routes and the ``deposit.settled`` event answer with
:func:`schemas.money.dump_deposit` instead of ``DepositSchema().dump``; the
contract (API.md) is still the schema, so both are compared on generated
deposits: same keys in the same order, same texts.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from schemas.money import (
    DepositBatchResultSchema,
    DepositSchema,
    dump_deposit,
    dump_deposit_batch,
)
from service.domain.money import MAX_MINOR, Amount, Asset
from service.services.views import DepositView, HoldView, LotView

_assets = st.builds(
    Asset,
    code=st.from_regex(r"[A-Z0-9]{1,16}", fullmatch=True),
    scale=st.integers(min_value=0, max_value=8),
)
_zones = st.one_of(
    st.just(UTC),
    st.builds(
        timezone,
        st.timedeltas(min_value=timedelta(hours=-23, minutes=59), max_value=timedelta(hours=23)),
    ),
)
_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=_zones
)
_texts = st.text(max_size=40)


@st.composite
def _amounts(draw: st.DrawFn, asset: Asset) -> Amount:
    return Amount.from_minor(draw(st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR)), asset)


@st.composite
def _deposits(draw: st.DrawFn) -> DepositView:
    asset = draw(_assets)
    amount = draw(_amounts(asset))
    deposit_id = draw(st.uuids())
    hold = None
    if draw(st.booleans()):
        lots = tuple(
            LotView(lot_asset.code, draw(_amounts(lot_asset)), draw(_texts))
            for lot_asset in draw(st.lists(_assets, max_size=3))
        )
        hold = HoldView(
            id=draw(st.uuids()),
            deposit_id=deposit_id,
            method=draw(_texts),
            asset=asset.code,
            amount=amount,
            status=draw(_texts),
            placed_at=draw(_times),
            release_at=draw(_times),
            released_at=draw(st.none() | _times),
            lots=lots,
        )
    return DepositView(
        id=deposit_id,
        account_id=draw(st.uuids()),
        method=draw(_texts),
        asset=asset.code,
        amount=amount,
        status=draw(_texts),
        settled_at=draw(_times),
        external_ref=draw(_texts),
        hold=hold,
    )


@given(_deposits())
def test_dump_deposit_is_the_schemas_dump(view: DepositView) -> None:
    expected = DepositSchema().dump(view)
    got = dump_deposit(view)
    assert got == expected
    assert json.dumps(got) == json.dumps(expected)


@given(st.lists(_deposits(), max_size=5))
def test_dump_deposit_batch_is_the_schemas_dump(views: list[DepositView]) -> None:
    result = {"deposits": views}
    assert json.dumps(dump_deposit_batch(result)) == json.dumps(
        DepositBatchResultSchema().dump(result)
    )


def test_a_card_deposit_dumps_as_the_contract_shows() -> None:
    """One fixed example, so a change of both dumps at once is seen too."""
    usd = Asset("USD", 2)
    amount = Amount(Decimal("10.00"), usd)
    at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    deposit_id, hold_id, account = (uuid.UUID(int=n) for n in (1, 2, 3))
    view = DepositView(
        id=deposit_id,
        account_id=account,
        method="card",
        asset="USD",
        amount=amount,
        status="settled",
        settled_at=at,
        external_ref="ref-1",
        hold=HoldView(
            id=hold_id,
            deposit_id=deposit_id,
            method="card",
            asset="USD",
            amount=amount,
            status="active",
            placed_at=at,
            release_at=at + timedelta(days=3),
            released_at=None,
            lots=(LotView("USD", amount, "active"),),
        ),
    )
    assert json.dumps(dump_deposit(view), separators=(",", ":")) == (
        '{"id":"00000000-0000-0000-0000-000000000001",'
        '"account_id":"00000000-0000-0000-0000-000000000003","method":"card","asset":"USD",'
        '"amount":"10.00","status":"settled","settled_at":"2026-11-20T15:00:00Z",'
        '"external_ref":"ref-1","hold":{"id":"00000000-0000-0000-0000-000000000002",'
        '"deposit_id":"00000000-0000-0000-0000-000000000001","method":"card","asset":"USD",'
        '"amount":"10.00","status":"active","placed_at":"2026-11-20T15:00:00Z",'
        '"release_at":"2026-11-23T15:00:00Z","released_at":null,'
        '"lots":[{"asset":"USD","amount":"10.00","status":"active"}]}}'
    )
