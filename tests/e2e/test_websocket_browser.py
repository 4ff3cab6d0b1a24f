"""A browser websocket behind a bearer policy: headless Chromium offers its token as the
`bearer, <token>` subprotocol to a real uvicorn; without it the handshake is refused."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..support import JWT_SECRET, headless_chromium, require, token
from .servers import Server

pytestmark = pytest.mark.slow

CONNECT = """
const [token, done] = [arguments[0], arguments[arguments.length - 1]];
const ws = new WebSocket(location.origin.replace("http", "ws") + "/ws/feed", token ? ["bearer", token] : ["chat"]);
let answered = false;
const finish = (result) => { if (!answered) { answered = true; done(result); } };
ws.onmessage = (event) => finish({message: JSON.parse(event.data), protocol: ws.protocol});
ws.onerror = () => finish({error: true});
ws.onclose = (event) => finish({closed: event.code});
setTimeout(() => finish({timeout: true}), 8000);
"""


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require(importlib.util.find_spec("uvicorn") is not None, "uvicorn")
    os.environ.setdefault("RG_TEST_JWT_SECRET", JWT_SECRET)
    server = Server("uvicorn", "ws", [
        sys.executable, "-m", "uvicorn", "tests.e2e.ws_app:app", "--host", "127.0.0.1", "--port", "{port}",
        "--no-access-log", "--log-level", "warning",
    ], tmp_path_factory.mktemp("ws"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(ws_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with headless_chromium(Path(tmp_path_factory.mktemp("chromium"))) as driver:
        driver.get(ws_server.url + "/")
        yield driver


def connect(browser: Any, tok: str | None) -> dict[str, Any]:
    return browser.execute_async_script(CONNECT, tok)  # type: ignore[no-any-return]


def test_browser_websocket_with_token_in_subprotocol(browser: Any, ws_server: Any) -> None:
    result = connect(browser, token("alice"))
    assert result == {"message": {"subject": "alice", "subprotocols": []}, "protocol": "bearer"}, json.dumps(result)
    assert ws_server.errors() == []


@pytest.mark.parametrize(
    "tok",
    [
        pytest.param(None, id="no-token"),
        pytest.param(token("alice", ttl=-60), id="expired"),
        pytest.param(token("alice", key="another-secret-0123456789abcdef-0123456789"), id="forged"),
    ],
)
def test_browser_websocket_refused_without_a_valid_token(browser: Any, ws_server: Any, tok: Any) -> None:
    result = connect(browser, tok)
    assert "message" not in result and "timeout" not in result, result
    assert ws_server.errors() == []
