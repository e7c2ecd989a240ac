"""The hand-written settlement-file loader is the schema's load, or steps aside.

:func:`schemas.money.load_deposit_batch` loads a valid ``POST
/v1/deposits/batch`` body without marshmallow and returns ``None`` for
anything else, so that the schema answers (its errors are the contract).
Compared here with marshmallow's own load of :class:`DepositBatchSchema` on
generated bodies, valid and invalid: whenever the loader answers, the schema
accepts the body and loads the same values; whenever the schema refuses it,
the loader steps aside.
"""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.money import DepositBatchSchema, load_deposit_batch

_SCHEMA = DepositBatchSchema()

_valid_items = st.fixed_dictionaries(
    {
        "account_id": st.uuids().map(str),
        "method": st.sampled_from(["card", "paypal", "bank_transfer", "crypto"]),
        "asset": st.from_regex(r"[A-Za-z0-9]{1,16}", fullmatch=True),
        "amount": st.from_regex(r"0*[1-9][0-9]{0,9}(\.[0-9]{1,8})?", fullmatch=True),
        "external_ref": st.text(st.characters(codec="utf-8"), min_size=1, max_size=255),
    },
    optional={
        "settled_at": st.one_of(
            st.none(),
            st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
            st.just("2026-11-20T15:00:00Z"),
        )
    },
)
#: What a field may carry instead: other spellings of valid values, and
#: invalid ones of every JSON type.
_other_values: dict[str, st.SearchStrategy[Any]] = {
    "account_id": st.one_of(
        st.uuids().map(lambda u: u.hex),
        st.uuids().map(lambda u: str(u).upper()),
        st.uuids().map(lambda u: "{" + str(u) + "}"),
        st.uuids().map(lambda u: "urn:uuid:" + str(u)),
        st.text(max_size=40),
    ),
    "method": st.sampled_from(["CARD", "", "Card", "wire"]),
    "asset": st.one_of(st.sampled_from(["U$D", "", "A" * 17, "É", "usd "]), st.text(max_size=17)),
    "amount": st.one_of(
        st.from_regex(r"[0-9]{1,12}(\.[0-9]{0,10})?", fullmatch=True),
        st.sampled_from(["0", "0.00", "-1", "1e3", " 1", "1,00", "NaN", "Infinity", "", "1."]),
        st.text(max_size=12),
    ),
    "external_ref": st.one_of(st.just(""), st.text(min_size=250, max_size=260), st.text()),
    "settled_at": st.one_of(
        st.sampled_from(
            [
                "2026-11-20T15:00:00",
                "2026-11-20",
                "20261120T150000Z",
                "2026-02-30T15:00:00Z",
                "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:59:59-23:59",
            ]
        ),
        st.text(max_size=30),
    ),
}
_anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.lists(st.none()))


@st.composite
def _items(draw: st.DrawFn) -> Any:
    item: dict[str, Any] = dict(draw(_valid_items))
    for name in draw(st.lists(st.sampled_from([*_other_values, "extra"]), max_size=2)):
        if name == "extra":
            item["extra"] = 1
        elif draw(st.booleans()):
            item.pop(name, None)
        else:
            item[name] = draw(st.one_of(_other_values[name], _anything))
    return item


_bodies = st.one_of(
    st.fixed_dictionaries({"deposits": st.lists(_items(), min_size=1, max_size=3)}),
    st.fixed_dictionaries(
        {"deposits": st.lists(_items(), max_size=2)}, optional={"other": _anything}
    ),
    st.just({"deposits": []}),
    st.just({"deposits": {}}),
    st.just([]),
)


def _schema_load(body: Any) -> Any:
    """Marshmallow's load, without the hand-written path."""
    return marshmallow.Schema.load(_SCHEMA, body)


@settings(max_examples=400)
@given(_bodies)
def test_the_loader_is_the_schema_or_steps_aside(body: Any) -> None:
    fast = load_deposit_batch(body)
    try:
        expected = _schema_load(body)
    except marshmallow.ValidationError:
        assert fast is None
        return
    if fast is not None:
        assert fast == expected
        assert [list(item) for item in fast["deposits"]] == [
            list(item) for item in expected["deposits"]
        ]


def test_a_valid_file_is_loaded_by_hand_with_the_schemas_values() -> None:
    body = {
        "deposits": [
            {
                "account_id": str(uuid.uuid4()),
                "method": "card",
                "asset": "usd",
                "amount": "25.00",
                "external_ref": f"ref-{i}\twith tab",
                **({"settled_at": "2026-11-20T15:00:00+01:00"} if i % 2 else {}),
            }
            for i in range(1000)
        ]
    }
    fast = load_deposit_batch(body)
    assert fast is not None
    assert fast == _schema_load(body)
    assert _SCHEMA.load(body) == fast


def test_an_invalid_file_gets_the_schemas_errors() -> None:
    item = {"account_id": "x", "method": "card", "asset": "USD", "amount": "1", "external_ref": "a"}
    body = {"deposits": [item]}
    assert load_deposit_batch(body) is None
    with pytest.raises(marshmallow.ValidationError) as raised:
        _SCHEMA.load(body)
    assert raised.value.messages == {"0": {"account_id": ["Not a valid UUID."]}}
