"""The canonical leaf and seal hash (service/domain/seals.py) against an
independent RFC 8785 implementation (the ``rfc8785`` package)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from service.domain.seals import leaf, leaf_of_parts, make_seal, posting_parts, seal_hash

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def as_object(
    entry_id: str,
    entry_type: str,
    posted_at: str,
    reference: str,
    postings: list[tuple[str, str, str]],
) -> dict[str, object]:
    return {
        "entry_id": entry_id,
        "type": entry_type,
        "posted_at": posted_at,
        "reference": reference,
        "postings": [{"account": a, "asset": s, "amount": m} for a, s, m in postings],
    }


def test_a_deposit_leaf_is_exactly_its_canonical_json() -> None:
    args = (
        "01a22dbf-040f-72e5-9dc2-64e2d2815bab",
        "deposit",
        "2026-11-20T20:00:00.250000Z",
        "card:ref-é",
        [("Assets:Clearing:Card", "USD", "1.00"), ("Liabilities:Customers:x:Held", "USD", "-1.00")],
    )
    expected = (
        '{"entry_id":"01a22dbf-040f-72e5-9dc2-64e2d2815bab","posted_at":"2026-11-20T20:00:00.250000Z",'
        '"postings":[{"account":"Assets:Clearing:Card","amount":"1.00","asset":"USD"},'
        '{"account":"Liabilities:Customers:x:Held","amount":"-1.00","asset":"USD"}],'
        '"reference":"card:ref-é","type":"deposit"}'
    ).encode()
    assert leaf(*args) == expected
    assert rfc8785.dumps(as_object(*args)) == expected


@given(
    TEXT,
    TEXT,
    st.lists(
        st.tuples(TEXT, TEXT, st.from_regex(r"-?[0-9]{1,5}\.[0-9]{2}", fullmatch=True)), max_size=4
    ),
)
def test_leaf_is_rfc8785_for_any_text(
    entry_type: str, reference: str, postings: list[tuple[str, str, str]]
) -> None:
    args = ("e", entry_type, "2026-01-01T00:00:00Z", reference, postings)
    assert leaf(*args) == rfc8785.dumps(as_object(*args))
    assert json.loads(leaf(*args)) == as_object(*args)


@given(
    TEXT,
    TEXT,
    st.lists(
        st.tuples(TEXT, TEXT, st.from_regex(r"-?[0-9]{1,5}\.[0-9]{2}", fullmatch=True)), max_size=4
    ),
)
def test_the_sealers_leaf_from_posting_parts_is_the_same_leaf(
    entry_type: str, reference: str, postings: list[tuple[str, str, str]]
) -> None:
    """The sealer's fast path (posting text made once per account and asset)
    writes byte for byte the leaf of :func:`leaf`, hence RFC 8785."""
    written = []
    for account, asset, amount in postings:
        before, after = posting_parts(account, asset)
        written.append(before + amount + after)
    args = ("e", entry_type, "2026-01-01T00:00:00Z", reference)
    assert leaf_of_parts(*args, written) == leaf(*args, postings)
    assert leaf_of_parts(*args, written) == rfc8785.dumps(as_object(*args, postings))


def test_seal_hash_is_sha256_of_the_canonical_json_of_the_other_fields() -> None:
    at = datetime(2026, 11, 30, 18, 0, 1, 5, tzinfo=UTC)
    seal = make_seal(2, 10, "ab" * 32, "cd" * 32, at)
    body = {
        "number": 2,
        "entries": 10,
        "root": "ab" * 32,
        "previous": "cd" * 32,
        "sealed_at": "2026-11-30T18:00:01.000005Z",
    }
    assert seal.hash == hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    first = make_seal(1, 1, "ab" * 32, None, at)
    assert first.hash == seal_hash(1, 1, "ab" * 32, None, at)
    assert b'"previous":null' in rfc8785.dumps({**body, "previous": None})
