"""The Text rule (API.md): C0 and C1 control characters and DEL are refused,
tab excepted; every other character is allowed."""

from __future__ import annotations

import sys

from schemas.fields import has_control_characters


def test_exactly_the_control_characters_but_tab_are_refused() -> None:
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        c = chr(code)
        refused = (code < 32 and c != "\t") or 127 <= code < 160
        assert has_control_characters(f"ab{c}cd") is refused, hex(code)
    assert not has_control_characters("")
