"""``ledger serve`` as the README runs it: a real gunicorn process answering HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

LEDGER = Path(sys.executable).parent / "ledger"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_migrated_sqlite_from_another_directory(tmp_path: Path) -> None:
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "timeout": 60}
    assert subprocess.run([str(LEDGER), "db", "upgrade"], **run).returncode == 0  # type: ignore[call-overload]
    key = subprocess.run([str(LEDGER), "keys", "bootstrap"], **run).stdout.strip()  # type: ignore[call-overload]
    assert key.startswith("lk_")
    port = _free_port()
    server = subprocess.Popen(
        [str(LEDGER), "serve", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = _get(f"{base}/healthz")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert status == 200
        assert _get(f"{base}/readyz") == (200, {"status": "ready", "detail": "schema at 0005"})
        status, problem = _get(
            f"{base}/v1/accounts/{uuid.uuid4()}", {"Authorization": f"Bearer {key}"}
        )
        assert (status, problem["code"]) == (404, "account_not_found")
    finally:
        server.terminate()
        server.wait(timeout=15)
