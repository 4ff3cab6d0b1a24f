"""The decision log under real servers: uvicorn (ASGI) and gunicorn with two worker processes
(WSGI) appending to one file; every request is one whole JSON line with the app's status."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from routeguard.testing import mint_token
from tests.migration_apps.own_router import answer
from tests.support import free_port, require

ROOT = Path(__file__).resolve().parent.parent
SECRET = "servers-test-secret-0123456789abcdef0123"
POLICY = """
mode = "report"
decision_log = "decisions.jsonl"

[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_MIGRATION_SECRET"

[[rules]]
path = "/health"
access = "public"
"""
REQUESTS = [("GET", "/health"), ("GET", "/users/1"), ("PUT", "/users/2"), ("GET", "/admin/stats"),
            ("GET", "/reports/2024"), ("GET", "/nowhere")]


def command(kind: str, port: int) -> list[str]:
    if kind == "asgi":
        return [sys.executable, "-m", "uvicorn", "--factory", "tests.migration_apps.served:asgi", "--host",
                "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
            "--graceful-timeout", "2", "tests.migration_apps.served:wsgi()"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_decision_log_under_a_real_server(tmp_path: Path, kind: str) -> None:
    import httpx

    require(importlib.util.find_spec("uvicorn" if kind == "asgi" else "gunicorn") is not None, kind)
    policy = tmp_path / "routeguard.toml"
    policy.write_text(POLICY)
    env = {**os.environ, "RG_TEST_MIGRATION_POLICY": str(policy), "RG_TEST_MIGRATION_SECRET": SECRET}
    port = free_port()
    out = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(command(kind, port), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    token = mint_token(SECRET, roles=["user"])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                httpx.get(base + "/probe", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)

        def send(i: int) -> int:
            method, path = REQUESTS[i % len(REQUESTS)]
            headers = {"Authorization": f"Bearer {token}"} if i % 2 else {}
            return httpx.request(method, base + path, headers=headers, timeout=10).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(send, range(120)))
        log = tmp_path / "decisions.jsonl"
        deadline = time.monotonic() + 20

        def requests_logged() -> list[dict[str, object]]:  # every line is whole JSON; startup probes aside
            lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
            return [line for line in lines if line["path"] != "/probe"]

        while len(requests_logged()) < 120 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # nothing more arrives
        lines = requests_logged()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        out.close()
    assert len(lines) == 120
    assert token not in log.read_text()

    class Who:
        roles = ("user",)

    expected = sorted((m, p, answer(m, p, Who() if i % 2 else None))
                      for i, (m, p) in ((i, REQUESTS[i % len(REQUESTS)]) for i in range(120)))
    assert sorted(statuses) == sorted(s for _, _, s in expected)
    assert sorted((e["method"], e["path"], e["status"]) for e in lines) == expected
    assert {e["outcome"] for e in lines if e["path"] == "/users/1"} == {"forbidden"}  # no rule: would refuse
    assert all(e["report_only"] for e in lines if e["outcome"] != "allow")
