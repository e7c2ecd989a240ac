"""What a journal seal commits to (API.md, Journal seals): leaves and seal hashes.

**Leaf** of an entry: the UTF-8 bytes of the canonical JSON of
``{"entry_id", "type", "posted_at", "reference", "postings": [{"account",
"asset", "amount"}, ...]}``: keys sorted, no whitespace, non-ASCII characters
as they are (RFC 8785, JCS, which for data made only of strings, arrays and
objects with ASCII keys is exactly ``json.dumps(..., sort_keys=True,
separators=(",", ":"), ensure_ascii=False)``). The values are those of
``journal.csv`` for the entry, rendered by the same functions: the id as
canonical UUID text, ``posted_at`` as UTC ISO 8601 with ``Z``, the account
name, the asset code, ``amount`` signed (debit positive) with exactly the
asset's scale; postings in ``journal.csv`` order (their line). Text is the
stored text: the ``'`` that ``journal.csv`` puts before a value a
spreadsheet would run as a formula is a spreadsheet guard, not part of the
value, and a leaf must tell ``=x`` from ``'=x``.

**Seal**: ``{"number", "entries", "root", "previous", "sealed_at", "hash"}``,
``hash`` = SHA-256 of the canonical JSON of the other five fields.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.domain.timestamps import format_utc

_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def json_string(value: str) -> str:
    """``value`` as a JSON string in canonical form (RFC 8785 §3.2.2.2: only
    ``"``, ``\\`` and control characters are escaped)."""
    if _NEEDS_ESCAPE.search(value) is None:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value`` (strings, integers, null, lists,
    objects with ASCII keys: the only kinds seals use)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _Names(dict[str, str]):
    """:func:`json_string` memoized for values repeated on many leaves (account
    names, asset codes, entry types); bounded."""

    LIMIT = 100_000

    def __missing__(self, key: str) -> str:
        if len(self) >= self.LIMIT:
            self.clear()
        value = self[key] = json_string(key)
        return value


_names = _Names()

#: One posting of a leaf: account name, asset code, signed amount text.
LeafPosting = tuple[str, str, str]


def posting_parts(account: str, asset: str) -> tuple[str, str]:
    """The text of one posting of a leaf around its amount: the posting is
    ``before + amount + after``. The same for every posting of an account in an
    asset, so the sealer makes it once per pair rather than once per posting."""
    return f'{{"account":{json_string(account)},"amount":"', f'","asset":{json_string(asset)}}}'


def leaf_of_parts(
    entry_id: str, entry_type: str, posted_at: str, reference: str, postings: Sequence[str]
) -> bytes:
    """The leaf of one entry whose postings are already written out (each one
    ``before + amount + after`` of :func:`posting_parts`, in line order)."""
    return (
        f'{{"entry_id":"{entry_id}","posted_at":"{posted_at}","postings":[{",".join(postings)}],'
        f'"reference":{json_string(reference)},"type":{_names[entry_type]}}}'
    ).encode()


def leaf(
    entry_id: str, entry_type: str, posted_at: str, reference: str, postings: Sequence[LeafPosting]
) -> bytes:
    """The leaf of one entry, from its ``journal.csv`` values (see the module
    docstring). Written out by hand because it runs for every entry sealed or
    verified; equal to :func:`canonical_json` of the same object (tested)."""
    names = _names
    lines = [
        f'{{"account":{names[account]},"amount":"{amount}","asset":{names[asset]}}}'
        for account, asset, amount in postings
    ]
    return leaf_of_parts(entry_id, entry_type, posted_at, reference, lines)


@dataclass(frozen=True, slots=True)
class Seal:
    number: int
    entries: int
    root: str
    previous: str | None
    sealed_at: datetime
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "entries": self.entries,
            "root": self.root,
            "previous": self.previous,
            "sealed_at": format_utc(self.sealed_at),
            "hash": self.hash,
        }


def seal_hash(
    number: int, entries: int, root: str, previous: str | None, sealed_at: datetime
) -> str:
    """SHA-256 (hex) of the canonical JSON of a seal's five other fields."""
    body = {
        "number": number,
        "entries": entries,
        "root": root,
        "previous": previous,
        "sealed_at": format_utc(sealed_at),
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def make_seal(
    number: int, entries: int, root: str, previous: str | None, sealed_at: datetime
) -> Seal:
    return Seal(
        number,
        entries,
        root,
        previous,
        sealed_at,
        seal_hash(number, entries, root, previous, sealed_at),
    )
