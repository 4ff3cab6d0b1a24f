"""Pyramid and Bottle integrations, in process: each example's own login (Pyramid's signed cookie
session; routeguard's server-side sessions for Bottle), and the identity where each framework keeps it."""

from __future__ import annotations

import importlib
import itertools
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from routeguard import Identity
from routeguard.testing import mint_token, wsgi_environ

from .support import BROWSER

JWT = "wsgi-frameworks-jwt-secret-0123456789abcdef-01234567"
_addresses = itertools.count(2)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def quietly_import(name: str) -> Any:
    """Import a module whose framework still imports the deprecated ``cgi`` module (WebOb 1.8)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
        return importlib.import_module(name)


@pytest.fixture(scope="module", params=["pyramid", "bottle"])
def app(request: pytest.FixtureRequest) -> Iterator[Any]:
    pytest.importorskip(request.param)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APP_STORE_URL", "memory://")
        mp.setenv("APP_JWT_SECRET", JWT)
        yield quietly_import(f"examples.{request.param}_app.app").app


def send(app: Any, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Any:
    """One request from its own client address (failed-credential throttling is per client)."""
    n = next(_addresses)
    environ = wsgi_environ(method, path, headers=headers or {}, body=body)
    environ["REMOTE_ADDR"] = f"127.3.{n // 250}.{n % 250 + 1}"
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = int(status.split()[0])
        captured["headers"] = {k.lower(): v for k, v in response_headers}
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        captured["body"] = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return captured


def log_in(app: Any, user: str, password: str) -> dict[str, str]:
    done = send(app, "POST", "/login", FORM, f"username={user}&password={password}&next=/dashboard".encode())
    assert done["status"] == 303 and done["headers"]["location"].endswith("/dashboard")
    return {"Cookie": done["headers"]["set-cookie"].split(";")[0]}


def test_anonymous_refused_and_browser_sent_to_login(app: Any) -> None:
    assert send(app, "GET", "/api/me")["status"] == 401
    page = send(app, "GET", "/dashboard", {"Accept": BROWSER})
    assert page["status"] == 302 and page["headers"]["location"] == "/login?next=%2Fdashboard"
    assert b"Not signed in." in send(app, "GET", "/")["body"]


@pytest.mark.parametrize("user, password, admin", [
    pytest.param("alice", "alice-pass", 403, id="user"),
    pytest.param("root", "root-pass", 200, id="admin"),
])
def test_the_apps_login_is_the_credential(app: Any, user: Any, password: Any, admin: Any) -> None:
    cookie = log_in(app, user, password)
    me = send(app, "GET", "/api/me", cookie)
    assert me["status"] == 200 and f'"username": "{user}"'.encode() in me["body"]
    assert send(app, "GET", "/admin", cookie)["status"] == admin
    logged_out = send(app, "POST", "/logout", cookie)
    assert logged_out["status"] == 303
    assert send(app, "GET", "/api/me", cookie)["status"] == 401


def test_bearer_identity_reaches_the_view(app: Any) -> None:
    token = {"Authorization": "Bearer " + mint_token(JWT, subject="carol", roles=["admin"], aud="routeguard-example")}
    assert b'"username": "carol"' in send(app, "GET", "/api/me", token)["body"]
    assert send(app, "GET", "/admin", token)["status"] == 200


def test_pyramid_security_policy_reads_the_guards_identity() -> None:
    pytest.importorskip("pyramid")
    DummyRequest = quietly_import("pyramid.testing").DummyRequest

    from routeguard.integrations.pyramid import RouteGuardSecurityPolicy

    security = RouteGuardSecurityPolicy()
    who = Identity.of("alice", permissions=["reports:read"])
    request = DummyRequest(environ={"routeguard.identity": who})
    assert security.identity(request) is who and security.authenticated_userid(request) == "alice"
    assert security.permits(request, None, "reports:read")
    assert not security.permits(request, None, "reports:write")
    anonymous = DummyRequest(environ={"routeguard.identity": None})
    assert security.identity(anonymous) is None and security.authenticated_userid(anonymous) is None
    assert not security.permits(anonymous, None, "reports:read")
    forged = DummyRequest(environ={"routeguard.identity": "alice"})  # only an Identity counts
    assert security.identity(forged) is None
    assert security.remember(request, "alice") == [] and security.forget(request) == []
