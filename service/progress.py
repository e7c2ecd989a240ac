"""Progress of the long commands (release, export, verify): a tqdm bar on stderr.

stdout carries the command's result (JSON or CSV) and nothing else, so the bar
goes to stderr only. It is shown when stderr is a terminal, or when asked for
with ``--progress``; with a total it gives the rate and the time left.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm


def wanted(flag: bool | None) -> bool:
    """``--progress``/``--no-progress`` if given, else whether stderr is a terminal."""
    return sys.stderr.isatty() if flag is None else flag


@contextmanager
def bar(unit: str, *, total: int | None, enabled: bool) -> Iterator[Any]:
    """A bar counting ``unit`` up to ``total`` (``None``: count and rate only)."""
    with tqdm(
        total=total,
        unit=f" {unit}",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.5,
    ) as progress:
        yield progress
