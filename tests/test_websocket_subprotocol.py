"""Browser websockets: a bearer token offered as `Sec-WebSocket-Protocol: bearer, <token>`.

In-process ASGI handshakes here; the real browser against a real uvicorn is in
tests/e2e/test_websocket_browser.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from routeguard import ASGIGuard, Policy
from routeguard.testing import asgi_scope

from .support import token

POLICY = """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"
websocket_subprotocol = {enabled}

[[rules]]
path = "/ws/admin"
roles = ["admin"]

[[rules]]
path = "/ws/**"
"""


def handshake(offered: list[str] | None, *, choose: str | None = None, enabled: bool = True,
              path: str = "/ws/feed", extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one websocket handshake through the guard; what the app saw and what was sent."""
    seen: dict[str, Any] = {}

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        seen["subprotocols"] = list(scope["subprotocols"])
        seen["header"] = dict(scope["headers"]).get(b"sec-websocket-protocol")
        seen["subject"] = scope["routeguard.identity"].subject
        await receive()
        await send({"type": "websocket.accept", **({"subprotocol": choose} if choose else {})})

    headers = dict(extra or {})
    if offered is not None:
        headers["Sec-WebSocket-Protocol"] = ", ".join(offered)
    scope = asgi_scope("GET", path, headers, kind="websocket")
    scope["subprotocols"] = list(offered or [])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    guard = ASGIGuard(app, policy=Policy.from_toml_string(POLICY.format(enabled=str(enabled).lower())))
    asyncio.run(guard(scope, receive, send))
    return {"app": seen, "sent": sent}


def test_token_in_subprotocol_is_accepted_and_bearer_echoed() -> None:
    result = handshake(["bearer", token("alice")])
    assert result["app"] == {"subprotocols": [], "header": None, "subject": "alice"}
    assert result["sent"] == [{"type": "websocket.accept", "subprotocol": "bearer"}]


def test_the_app_keeps_its_own_subprotocols_and_choice() -> None:
    result = handshake(["chat.v2", "bearer", token("alice"), "chat.v1"], choose="chat.v1")
    assert result["app"]["subprotocols"] == ["chat.v2", "chat.v1"]
    assert result["app"]["header"] == b"chat.v2, chat.v1"
    assert result["sent"] == [{"type": "websocket.accept", "subprotocol": "chat.v1"}]


@pytest.mark.parametrize(
    ("offered", "path", "extra"),
    [
        pytest.param(None, "/ws/feed", None, id="no-token"),
        pytest.param(["chat"], "/ws/feed", None, id="other-subprotocol-only"),
        pytest.param(["bearer"], "/ws/feed", None, id="bearer-without-token"),
        pytest.param(["bearer", "not-a-jwt"], "/ws/feed", None, id="garbage-token"),
        pytest.param(["bearer", token("alice", ttl=-60)], "/ws/feed", None, id="expired"),
        pytest.param(["bearer", token("alice", key="another-secret-0123456789abcdef-0123")], "/ws/feed", None,
                     id="forged"),
        pytest.param(None, "/ws/feed?access_token=" + token("alice"), None, id="query-string-never"),
        pytest.param(["bearer", token("alice")], "/ws/admin", None, id="user-on-admin-socket"),
    ],
)
def test_handshake_refused(offered: Any, path: Any, extra: Any) -> None:
    result = handshake(offered, path=path, extra=extra)
    assert result["app"] == {}
    assert result["sent"] == [{"type": "websocket.close", "code": 1008}]


def test_admin_token_opens_the_admin_socket() -> None:
    assert handshake(["bearer", token("root", roles=("admin",))], path="/ws/admin")["app"]["subject"] == "root"


def test_subprotocol_tokens_are_ignored_unless_enabled() -> None:
    result = handshake(["bearer", token("alice")], enabled=False)
    assert result["app"] == {}
    assert result["sent"] == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        pytest.param(["bearer", "TOKEN"], None, id="only-the-token"),
        pytest.param(["chat", "bearer", "TOKEN"], "chat", id="app-subprotocol-kept"),
    ],
)
def test_wsgi_handshake_hides_the_token_from_the_app(offered: list[str], expected: str | None) -> None:
    from routeguard import WSGIGuard
    from routeguard.testing import call_wsgi

    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["protocol"] = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL")
        seen["subject"] = environ["routeguard.identity"].subject
        start_response("200 OK", [])
        return [b""]

    guard = WSGIGuard(app, policy=Policy.from_toml_string(POLICY.format(enabled="true")))
    header = ", ".join(offered).replace("TOKEN", token("alice"))
    reply = call_wsgi(guard, "GET", "/ws/feed", {"Upgrade": "websocket", "Connection": "Upgrade",
                                                 "Sec-WebSocket-Protocol": header})
    assert reply.status == 200
    assert seen == {"protocol": expected, "subject": "alice"}
    refused = call_wsgi(guard, "GET", "/ws/feed", {"Upgrade": "websocket", "Connection": "Upgrade"})
    assert refused.status == 401
