"""The deposits' hand-written JSON is the schema's dump, byte for byte.

The deposit routes and the ``deposit.settled`` event answer with the text of
:func:`schemas.money.new_deposit_json` instead of ``DepositSchema().dump``;
the contract (API.md) is still the schema, so both are compared on generated
deposits: same keys in the same order, same texts.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.money import DepositSchema
from service.db import deposits as deposits_repo
from service.db import events as events_repo
from service.db import ledger
from service.domain.holds import Method
from service.domain.ids import new_id, new_ids
from service.domain.money import MAX_MINOR, Amount, Asset
from service.domain.rules import deposit_entry
from service.domain.timestamps import format_utc
from service.services import deposits
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


def test_a_card_deposit_dumps_as_the_contract_shows() -> None:
    """One fixed example of the schema's dump, so a change of the contract and
    of the hand-written JSON at once is seen too."""
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
    assert json.dumps(DepositSchema().dump(view), separators=(",", ":")) == (
        '{"id":"00000000-0000-0000-0000-000000000001",'
        '"account_id":"00000000-0000-0000-0000-000000000003","method":"card","asset":"USD",'
        '"amount":"10.00","status":"settled","settled_at":"2026-11-20T15:00:00Z",'
        '"external_ref":"ref-1","hold":{"id":"00000000-0000-0000-0000-000000000002",'
        '"deposit_id":"00000000-0000-0000-0000-000000000001","method":"card","asset":"USD",'
        '"amount":"10.00","status":"active","placed_at":"2026-11-20T15:00:00Z",'
        '"release_at":"2026-11-23T15:00:00Z","released_at":null,'
        '"lots":[{"asset":"USD","amount":"10.00","status":"active"}]}}'
    )


# -- what record_deposits makes without views: its dumps and its rows ---------------

_methods = st.sampled_from(list(Method))
_texts_any = st.text(st.characters(codec="utf-8"), max_size=40)


@st.composite
def _planned(draw: st.DrawFn) -> deposits._Planned:
    asset = draw(_assets)
    held = draw(st.booleans())
    return deposits._Planned(
        deposit_id=draw(st.uuids()),
        entry_id=draw(st.uuids()),
        hold_id=draw(st.uuids()) if held else None,
        account_id=draw(st.uuids()),
        method=draw(_methods),
        amount=Amount.from_minor(draw(st.integers(min_value=1, max_value=MAX_MINOR)), asset),
        settled_at=draw(_times),
        external_ref=draw(_texts_any),
        release_at=draw(_times) if held else None,
        days=draw(st.integers(min_value=1, max_value=30)) if held else 0,
    )


@given(st.lists(_planned(), min_size=1, max_size=4), _times)
def test_a_recorded_deposits_json_is_the_dump_of_its_view(
    planned: list[deposits._Planned], now: datetime
) -> None:
    """The response's text and the event's data, written out, are json.dumps of
    the schema's dump of the deposit's view, as the API and events.md define them."""
    responses, event_data = deposits._texts(planned, now)
    for p, response, data in zip(planned, responses, event_data, strict=True):
        dumped = DepositSchema().dump(deposits._view(p, now))
        assert response == json.dumps(dumped)
        assert data == json.dumps(dumped, separators=(",", ":"), ensure_ascii=False)


def test_a_recorded_deposit_with_odd_texts_is_escaped_as_json_does() -> None:
    asset = Asset('U"S\\D\u00e9', 2)
    now = datetime(2026, 11, 20, 15, 0, 0, 123456, tzinfo=UTC)
    for ref in ['a"b\\c', "tab\there", "\u00e9\u2028\U0001f600", "x" * 255, "</script>"]:
        for held in (True, False):
            p = deposits._Planned(
                uuid.UUID(int=1),
                uuid.UUID(int=2),
                uuid.UUID(int=3) if held else None,
                uuid.UUID(int=4),
                Method.PAYPAL,
                Amount.from_minor(-5, asset),
                now,
                ref,
                now + timedelta(days=3) if held else None,
                3 if held else 0,
            )
            dumped = DepositSchema().dump(deposits._view(p, now))
            (response,), (data,) = deposits._texts([p], now)
            assert response == json.dumps(dumped)
            assert data == json.dumps(dumped, separators=(",", ":"), ensure_ascii=False)


@given(st.lists(_planned(), min_size=1, max_size=4), _times)
def test_a_recorded_deposits_rows_are_the_posting_rules_entry(
    planned: list[deposits._Planned], now: datetime
) -> None:
    columns = deposits._columns(planned, now)
    _rows, entry_rows, hold_rows, posting_rows = (deposits_repo.as_rows(c) for c in columns)
    entries = [
        deposit_entry(
            account_id=p.account_id,
            method=p.method,
            amount=p.amount,
            hold_id=p.hold_id,
            reference=f"{p.method.value}:{p.external_ref}",
            posted_at=now,
            entry_id=p.entry_id,
        )
        for p in planned
    ]
    assert entry_rows == ledger.entry_rows(entries)
    assert posting_rows == ledger.posting_rows(entries)
    assert [h["id"] for h in hold_rows] == [p.hold_id for p in planned if p.hold_id]


@given(
    st.sampled_from(["deposit.settled", "hold.released", 'odd "type"\u2028']),
    st.dictionaries(_texts_any, st.one_of(_texts_any, st.integers(), st.none()), max_size=4),
    st.none() | st.uuids(),
    _times,
)
def test_an_event_body_is_the_encoders_text(
    type_: str, data: dict[str, Any], account_id: uuid.UUID | None, at: datetime
) -> None:
    row = events_repo.row(type_, data, account_id=account_id, occurred_at=at)
    body = {
        "id": str(row["id"]),
        "type": type_,
        "occurred_at": format_utc(at),
        "account_id": None if account_id is None else str(account_id),
        "data": data,
    }
    assert row["body"] == json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def test_ids_in_bulk_increase_like_one_at_a_time() -> None:
    ids = [new_id(), *new_ids(5000), new_id(), *new_ids(1), new_id()]
    assert ids == sorted(ids, key=lambda u: u.int)
    assert len(set(ids)) == len(ids)
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert new_ids(0) == []
