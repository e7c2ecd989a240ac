"""The layers' boundaries (README, Architecture): use cases build no SQL, and the
REST layer reaches the database only through use cases."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"

#: What a use case may take from SQLAlchemy: the caller's connection (its type).
_SERVICES_MAY_IMPORT = {("sqlalchemy", "Connection")}

#: The REST layer holds the Database (it opens the unit of work), nothing else of it.
_API_MAY_IMPORT = {("service.db.database", "Database")}


def _imports(path: Path) -> set[tuple[str, str]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {(node.module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {(alias.name, "") for alias in node.names}
    return found


@pytest.mark.parametrize("path", sorted((SERVICE / "services").glob("*.py")), ids=lambda p: p.name)
def test_use_cases_build_no_sql(path: Path) -> None:
    sql = {
        (module, name)
        for module, name in _imports(path)
        if module.startswith("sqlalchemy") or module == "service.db.tables"
    }
    assert sql <= _SERVICES_MAY_IMPORT, f"{path.name}: {sorted(sql - _SERVICES_MAY_IMPORT)}"


@pytest.mark.parametrize("path", sorted((SERVICE / "api").glob("*.py")), ids=lambda p: p.name)
def test_the_rest_layer_goes_through_use_cases(path: Path) -> None:
    db = {
        (module, name)
        for module, name in _imports(path)
        if module == "service.db" or module.startswith("service.db.")
    }
    assert db <= _API_MAY_IMPORT, f"{path.name}: {sorted(db - _API_MAY_IMPORT)}"
