"""The documentation a user gets with a clone: links stay inside the repository
and reach files that exist, and the README lists every file of docs/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)|<(https?://[^>]+)>")
#: Written by other parts of the work; api.md points to them already.
ELSEWHERE = {"docs/events.md", "docs/seals.md", "docs/console.md"}


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_links_stay_in_the_repository_and_resolve() -> None:
    for document in _documents():
        text = document.read_text(encoding="utf-8")
        for match in LINK.finditer(text):
            target = match.group(1) or match.group(2)
            assert not re.match(r"[a-z]+:", target), f"{document.name} links outside: {target}"
            path = (document.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(ROOT), f"{document.name} leaves the repository: {target}"
            relative = path.relative_to(ROOT).as_posix()
            assert path.exists() or relative in ELSEWHERE, f"{document.name}: {target} is missing"


def test_readme_lists_every_file_of_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for file in sorted((ROOT / "docs").iterdir()):
        assert f"docs/{file.name}" in readme, f"README does not list docs/{file.name}"


def test_readme_says_how_to_get_ledger_on_the_path() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/ledger" in readme
    assert ". .venv/bin/activate" in readme
    assert "../" not in readme
