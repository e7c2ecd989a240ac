"""Cursors: what the OpenAPI pattern admits, the service reads; nothing else."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.errors import BadRequest
from service.services.pagination import CURSOR_PATTERN, decode, encode


@given(st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_cursor_of_the_documented_form_is_a_position(cursor: str) -> None:
    at, item_id = decode(cursor)
    assert at.tzinfo is not None
    assert encode(at, item_id) == cursor.split(".")[0].lstrip("0").rjust(1, "0") + "." + (
        item_id.hex
    )


@given(st.datetimes(datetime(1970, 1, 1), datetime(2286, 1, 1), timezones=st.just(UTC)), st.uuids())
def test_round_trip(at: datetime, item_id: uuid.UUID) -> None:
    cursor = encode(at, item_id)
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert decode(cursor) == (at, item_id)


@pytest.mark.parametrize("cursor", ["", "x", "1.2", "١٢.".ljust(35, "a"), "WzEsMl0"])
def test_anything_else_is_400(cursor: str) -> None:
    with pytest.raises(BadRequest) as raised:
        decode(cursor)
    assert raised.value.code == "invalid_cursor"
