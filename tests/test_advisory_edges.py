"""Named regression tests for issue 10's edge cases (pyjwt's test_advisory.py style).

RG-2026-12  WSGIGuard did not recognise an ``Upgrade: websocket`` request as a handshake: a
            flask-sock websocket accepted a cross-site handshake carrying the victim's cookie.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from routeguard import ASGIGuard, Policy, WSGIGuard
from routeguard.testing import asgi_scope, session_cookie, wsgi_environ

from . import edges_apps
from .support import bearer, free_port, require, token

ROOT = Path(__file__).resolve().parents[1]

# -- RG-2026-12: cross-site websocket hijacking through WSGIGuard ------------------------------

WS_POLICY = edges_apps.WEBSOCKET_POLICY + """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"
"""
VICTIM = {"Cookie": "session=" + session_cookie(edges_apps.SECRET, {"user_id": "victim"}, format="flask")}
HANDSHAKE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def _wsgi_handshake(headers: dict[str, str], method: str = "GET") -> tuple[str, list[str]]:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["routeguard.identity"].subject)
        start_response("101 Switching Protocols", [])
        return []

    guard = WSGIGuard(app, policy=Policy.from_toml_string(WS_POLICY))
    status: list[str] = []
    b"".join(guard(wsgi_environ(method, "/ws", headers), lambda s, h, exc=None: status.append(s)))
    return status[0][:3], seen


def _asgi_handshake(headers: dict[str, str]) -> tuple[str, list[str]]:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["routeguard.identity"].subject)
        await send({"type": "websocket.accept"})

    sent: list[Any] = []

    async def receive() -> dict[str, str]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    guard = ASGIGuard(app, policy=Policy.from_toml_string(WS_POLICY))
    asyncio.run(guard(asgi_scope("GET", "/ws", headers, kind="websocket"), receive, send))
    return ("101" if sent[0]["type"] == "websocket.accept" else "403"), seen


@pytest.mark.parametrize(("headers", "status", "subject"), [
    pytest.param({**VICTIM, "Origin": "http://evil.example"}, "403", None, id="cookie-cross-origin"),
    pytest.param({**VICTIM, "Sec-Fetch-Site": "cross-site"}, "403", None, id="cookie-sec-fetch-cross-site"),
    pytest.param({**VICTIM, "Sec-Fetch-Site": "same-site", "Origin": "http://testserver"}, "403", None,
                 id="cookie-same-site-is-not-same-origin"),
    pytest.param({**VICTIM, "Origin": "http://testserver"}, "101", "victim", id="cookie-same-origin"),
    pytest.param({**VICTIM, "Sec-Fetch-Site": "same-origin"}, "101", "victim", id="cookie-sec-fetch-same-origin"),
    pytest.param({**bearer(token("alice")), "Origin": "http://evil.example"}, "101", "alice",
                 id="bearer-is-not-forgeable"),
    pytest.param({"Origin": "http://evil.example"}, "401", None, id="anonymous"),
])
def test_rg_2026_12_websocket_handshake_origin_check_on_both_adapters(headers, status, subject):
    wsgi_status, wsgi_seen = _wsgi_handshake({**HANDSHAKE, **headers})
    asgi_status, asgi_seen = _asgi_handshake({**HANDSHAKE, **headers})
    assert wsgi_status == status
    assert wsgi_seen == ([subject] if subject else [])
    assert asgi_status == ("403" if status == "401" else status)  # a refused handshake closes on ASGI
    assert asgi_seen == wsgi_seen


@pytest.mark.parametrize("upgrade", ["websocket", "WebSocket", "h2c, websocket"])
def test_rg_2026_12_any_websocket_upgrade_is_a_handshake(upgrade):
    assert _wsgi_handshake({**VICTIM, "Upgrade": upgrade, "Origin": "http://evil.example"})[0] == "403"


def test_rg_2026_12_handshake_keeps_its_real_method():
    # A POST dressed as a handshake is judged (and CSRF-checked) as a POST, never as a GET.
    policy = Policy.from_toml_string(WS_POLICY + '[[rules]]\npath = "/gets"\nmethods = ["GET"]\naccess = "public"\n')
    guard = WSGIGuard(lambda environ, start_response: [], policy=policy)
    status: list[str] = []
    environ = wsgi_environ("POST", "/gets", {**HANDSHAKE})
    b"".join(guard(environ, lambda s, h, exc=None: status.append(s)))
    assert status[0].startswith("401")  # no rule for POST /gets: default deny


@pytest.mark.slow
def test_rg_2026_12_flask_sock_on_gunicorn_refuses_cross_site_handshake(tmp_path):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    require(importlib.util.find_spec("gunicorn") is not None, "gunicorn")
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "4", "--workers", "1",
         "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2", "tests.edges_apps:websocket_app()"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"ws://127.0.0.1:{port}/ws"
    try:
        _wait_for(port, proc)
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin="http://evil.example", additional_headers=VICTIM, open_timeout=10)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers={**VICTIM, "Sec-Fetch-Site": "cross-site"}, open_timeout=10)
        assert refused.value.response.status_code == 403
        with connect(url, origin=f"http://127.0.0.1:{port}", additional_headers=VICTIM,  # type: ignore[arg-type]
                     open_timeout=10) as socket:
            assert socket.recv(timeout=10) == "secret data of victim"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start")
