"""The auditor's script in docs/seals.md, extracted and run as a separate
process against a real proof (and against a tampered one)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

from service.db.database import Database
from service.services import seals
from tests.api.test_seals import entry_ids, seal_everything
from tests.e2e.test_cli import deposit, new_account

DOC = Path(__file__).resolve().parents[2] / "docs" / "seals.md"


def script() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_the_documented_script_checks_a_real_proof(db: Database, tmp_path: Path) -> None:
    account = new_account(db)
    for _ in range(5):
        deposit(db, account)
    seal_everything(db)
    checker = tmp_path / "check_proof.py"
    checker.write_text(script(), encoding="utf-8")
    for entry_id in entry_ids(db):
        proof = seals.proof(db, uuid.UUID(entry_id))
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(proof), encoding="utf-8")
        ok = subprocess.run(
            [sys.executable, str(checker), str(path), proof["seal"]["hash"]],
            capture_output=True,
            text=True,
        )
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith(f"OK: entry {entry_id} (deposit)")
    forged = dict(proof)
    forged["leaf"] = base64.b64encode(
        base64.b64decode(proof["leaf"]).replace(b"card:", b"cash:")
    ).decode()
    path.write_text(json.dumps(forged), encoding="utf-8")
    bad = subprocess.run([sys.executable, str(checker), str(path)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "FAIL" in bad.stderr
    path.write_text(json.dumps(proof), encoding="utf-8")
    other = subprocess.run(
        [sys.executable, str(checker), str(path), "0" * 64], capture_output=True, text=True
    )
    assert other.returncode == 1
    assert "not the seal hash you hold" in other.stderr
