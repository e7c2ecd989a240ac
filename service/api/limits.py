"""Limits on what a request body may be, checked before anything parses it.

API.md: request bodies over 1 MiB are refused with 413, and JSON nested deeper
than 32 levels with 400. Python's ``json`` module parses recursively, so a body
of 100,000 opening brackets raises ``RecursionError`` inside the parser (a 500);
the depth is therefore measured first, without recursion: strings are cut out
(a bracket inside a string is text, not nesting), then the running sum of
``+1`` per opening and ``-1`` per closing bracket is taken at C speed.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate

from flask import Request

from service.domain.errors import BadRequest

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_BRACKETS = b"[{]}"
#: Opening brackets become the signed byte +1, closing ones -1, all else goes.
_STEP = bytes.maketrans(_BRACKETS, b"\x01\x01\xff\xff")
_NOT_BRACKET = bytes(b for b in range(256) if b not in _BRACKETS)


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (0 for a scalar).

    Escapes go first (so ``\\"`` is no quote), then every other quote-delimited
    run is a string and is dropped; what is left of the brackets is summed.
    Malformed input still gets a number (the parser refuses it afterwards).
    All steps run in C: a body of 1,000 batch deposits costs about a millisecond.
    """
    if b"\\" in raw:
        raw = _ESCAPE.sub(b"", raw)
    outside = b"".join(raw.split(b'"')[::2])
    steps = array("b", outside.translate(_STEP, _NOT_BRACKET))
    return max(0, max(accumulate(steps), default=0))


def check_json_body(request: Request) -> None:
    """Refuse a JSON body nested deeper than :data:`MAX_JSON_DEPTH` (400
    ``json_too_deep``). The size limit is Flask's ``MAX_CONTENT_LENGTH``: reading
    a larger body raises 413 before this sees it."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return
    if json_depth(request.get_data(cache=True)) > MAX_JSON_DEPTH:
        raise BadRequest(
            f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels",
            code="json_too_deep",
        )
