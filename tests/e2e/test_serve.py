"""``ledger serve`` as the README runs it: a real gunicorn process answering HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from service.services import keys, schema_version

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


def _serve(tmp_path: Path, env: dict[str, str], workers: int) -> tuple[subprocess.Popen[str], str]:
    """``ledger serve`` on a free port, started and answering /healthz; the
    process and its base URL."""
    port = _free_port()
    server = subprocess.Popen(
        [str(LEDGER), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            assert _get(f"{base}/healthz")[0] == 200
            break
        except OSError:
            if server.poll() is not None:
                raise AssertionError(server.stderr.read() if server.stderr else "exited") from None
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
    return server, base


def _stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    server.wait(timeout=15)


def test_serve_migrated_sqlite_from_another_directory(tmp_path: Path) -> None:
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "timeout": 60}
    assert subprocess.run([str(LEDGER), "db", "upgrade"], **run).returncode == 0  # type: ignore[call-overload]
    key = subprocess.run([str(LEDGER), "keys", "bootstrap"], **run).stdout.strip()  # type: ignore[call-overload]
    assert key.startswith("lk_")
    server, base = _serve(tmp_path, env, workers=1)
    try:
        head = schema_version.head_revision()
        assert _get(f"{base}/readyz") == (200, {"status": "ready", "detail": f"schema at {head}"})
        status, problem = _get(
            f"{base}/v1/accounts/{uuid.uuid4()}", {"Authorization": f"Bearer {key}"}
        )
        assert (status, problem["code"]) == (404, "account_not_found")
    finally:
        _stop(server)


def _text(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def _healthz_count(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("ledger_http_requests_total{") and 'route="/healthz"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_of_every_worker_in_one_scrape(tmp_path: Path) -> None:
    """With two gunicorn workers, one scrape sums the requests both served; the
    metrics directory is made for this start and removed when it stops."""
    env = {
        k: v
        for k, v in {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}.items()
        if k != "PROMETHEUS_MULTIPROC_DIR"
    }
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "timeout": 60}
    assert subprocess.run([str(LEDGER), "db", "upgrade"], **run).returncode == 0  # type: ignore[call-overload]
    server, base = _serve(tmp_path, env, workers=2)
    try:
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        found = [v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
        assert found, "ledger serve did not set up a metrics directory"
        directory = Path(found[0].split(b"=", 1)[1].decode())
        assert directory.is_dir()

        sent = 1  # the /healthz that saw the server up

        def hit() -> None:
            for _ in range(10):
                assert _get(f"{base}/healthz")[0] == 200

        # Concurrent requests until both workers have served some (each keeps its
        # samples in its own file, counter_<pid>.db).
        for _ in range(20):
            threads = [threading.Thread(target=hit) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            sent += 60
            if len(list(directory.glob("counter_*.db"))) >= 2:
                break
        assert len(list(directory.glob("counter_*.db"))) == 2

        content_type, first = _text(f"{base}/metrics")
        assert content_type.startswith("text/plain; version=")
        assert content_type.lower().count("charset=") == 1, content_type
        assert _healthz_count(first) == sent
        _, second = _text(f"{base}/metrics")
        assert _healthz_count(second) == sent  # whichever worker answers
        assert "ledger_active_holds 0.0" in second
    finally:
        _stop(server)
    assert not directory.exists()


def test_a_revoked_key_is_refused_by_every_worker_within_seconds(tmp_path: Path) -> None:
    """Issue 12, item 6: a deleted key kept working for 30 s (a per-worker cache).
    ``ledger keys revoke`` must reach every server process within 5 s."""
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "timeout": 60}
    assert subprocess.run([str(LEDGER), "db", "upgrade"], **run).returncode == 0  # type: ignore[call-overload]
    create = [str(LEDGER), "keys", "create", "--role", "trading", "--name", "leaked"]
    key = subprocess.run(create, **run).stdout.strip()  # type: ignore[call-overload]
    server, base = _serve(tmp_path, env, workers=2)
    try:
        url = f"{base}/v1/hold-policies"
        headers = {"Authorization": f"Bearer {key}"}
        # Both workers answer (and cache the key) before it is revoked.
        assert {_get(url, headers)[0] for _ in range(40)} == {200}
        revoked = subprocess.run([str(LEDGER), "keys", "revoke", "leaked"], **run)  # type: ignore[call-overload]
        assert revoked.returncode == 0, revoked.stderr
        time.sleep(keys.CACHE_SECONDS + 0.5)  # the contract allows 5 s
        assert {_get(url, headers)[0] for _ in range(40)} == {401}
        listed = subprocess.run([str(LEDGER), "keys", "list"], **run).stdout  # type: ignore[call-overload]
        (line,) = [row for row in listed.splitlines() if row.startswith("leaked")]
        assert "trading" in line
        assert key not in listed
        assert line.split()[-1].endswith("Z")  # revoked, with its time
        unknown = subprocess.run([str(LEDGER), "keys", "revoke", "nobody"], **run)  # type: ignore[call-overload]
        assert unknown.returncode == 1
        assert "nobody" in unknown.stderr
        assert "Traceback" not in unknown.stderr
    finally:
        _stop(server)
