"""One scenario table through both adapters, plus what is specific to each."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from routeguard import ASGIGuard, Identity, Policy, Rule, WSGIGuard
from routeguard.asgi import request_from_scope
from routeguard.testing import asgi_scope, call_asgi, call_wsgi, wsgi_environ
from routeguard.wsgi import request_from_environ

from .support import BROWSER, bearer, cookie, flask_app, starlette_app, token

ADMIN = bearer(token("root", roles=("admin",)))
USER = bearer(token("alice", roles=("user",)))
OTHER_TENANT = bearer(token("gina", roles=("user",), tenants=("globex",)))
READER = bearer(token("rita", roles=("user",), permissions=["reports:read"]))
EXPIRED = bearer(token(ttl=-120))
FORGED = bearer(token(key="forged-secret-0123456789abcdef-0123456789abcdef"))
ALG_NONE = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290Iiwicm9sZXMiOlsiYWRtaW4iXX0."}
USER_COOKIE = cookie({"user_id": "carol", "roles": ["user"], "tenants": ["acme"]})
ADMIN_COOKIE = cookie({"user_id": "dave", "roles": ["admin"]})
BAD_COOKIE = cookie({"user_id": "eve", "roles": ["admin"]}, secret="not-the-app-secret-0123456789abcdef")
EMPTY_COOKIE = cookie({"theme": "dark"})

MATRIX = [
    # (method, target, headers, status)
    ("GET", "/health", {}, 200),
    ("GET", "/login", EXPIRED, 200),
    ("GET", "/public/app.css", BAD_COOKIE, 200),
    ("GET", "/api/items", {}, 401),
    ("GET", "/api/items", USER, 200),
    ("GET", "/api/items", USER_COOKIE, 200),
    ("GET", "/api/items", EMPTY_COOKIE, 401),
    ("GET", "/api/items", EXPIRED, 401),
    ("GET", "/api/items", FORGED, 401),
    ("GET", "/api/items", ALG_NONE, 401),
    ("GET", "/api/items", BAD_COOKIE, 401),
    ("GET", "/admin", {}, 401),
    ("GET", "/admin", USER, 403),
    ("GET", "/admin", ADMIN, 200),
    ("GET", "/admin/users", USER_COOKIE, 403),
    ("GET", "/admin/users", ADMIN_COOKIE, 200),
    ("GET", "/secret/plans", USER, 404),
    ("GET", "/secret/plans", {}, 401),
    ("GET", "/secret/plans", ADMIN, 200),
    ("GET", "/orgs/acme/projects", USER, 200),
    ("GET", "/orgs/acme/projects", OTHER_TENANT, 403),
    ("GET", "/orgs/acme/projects", USER_COOKIE, 200),
    ("GET", "/orgs/globex/projects", USER_COOKIE, 403),
    ("GET", "/reports/q1", USER, 403),
    ("GET", "/reports/q1", READER, 200),
    ("DELETE", "/api/items/7", USER, 403),
    ("DELETE", "/api/items/7", ADMIN, 200),
    ("GET", "/api/items/7", USER, 200),
    ("GET", "/archive/2020", ADMIN, 403),
    ("GET", "/other", {}, 401),
    ("GET", "/other", ADMIN, 403),
    ("POST", "/health", {}, 401),
    ("HEAD", "/health", {}, 200),
    ("HEAD", "/api/items", {}, 401),
    ("GET", "/admin/..%2fapi", ADMIN, 400),
    ("GET", "/public/%2e%2e/admin", ADMIN, 400),
]


@pytest.mark.parametrize(("method", "target", "headers", "status"), MATRIX,
                         ids=[f"{m} {t} #{i}" for i, (m, t, _, _) in enumerate(MATRIX)])
def test_access_matrix(send: Any, method: Any, target: Any, headers: Any, status: int) -> None:
    reply = send(method, target, headers)
    assert reply.status == status
    if status == 200 and method != "HEAD":
        assert reply.json()["path"] == target  # the app itself answered
    elif status != 200:
        assert "no-store" in reply.headers["cache-control"]
        assert reply.headers["vary"] == "Accept"
        if method != "HEAD":
            body = reply.json()
            assert body == {"error": {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                                      404: "Not Found"}[status]}


def test_identity_reaches_the_app(send: Any) -> None:
    assert send("GET", "/api/x", USER).json()["subject"] == "alice"
    assert send("GET", "/api/x", USER_COOKIE).json()["subject"] == "carol"
    assert send("GET", "/health", USER).json()["subject"] == "alice"  # valid creds on public: identity set
    assert send("GET", "/health", EXPIRED).json()["subject"] is None


def test_challenges(send: Any) -> None:
    assert send("GET", "/api/x").headers["www-authenticate"] == "Bearer"
    assert send("GET", "/api/x", EXPIRED).headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert send("GET", "/api/x", BAD_COOKIE).headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert "www-authenticate" not in send("GET", "/admin", USER).headers


def test_head_refusals_have_no_body(send: Any) -> None:
    reply = send("HEAD", "/api/items")
    assert reply.status == 401 and reply.body == b""
    assert int(reply.headers["content-length"]) > 0


@pytest.mark.parametrize(("method", "status"), [("GET", 302), ("HEAD", 302), ("POST", 303), ("DELETE", 303)])
def test_browser_redirects_to_login_with_next(send: Any, method: Any, status: int) -> None:
    reply = send(method, "/api/items?page=2&sort=name", {"Accept": BROWSER})
    assert reply.status == status
    location = urlsplit(reply.headers["location"])
    assert location.path == "/login" and not location.netloc
    assert parse_qs(location.query)["next"] == ["/api/items?page=2&sort=name"]
    assert "no-store" in reply.headers["cache-control"]


def test_browser_with_bad_credentials_is_redirected_too(send: Any) -> None:
    assert send("GET", "/api/items", {"Accept": BROWSER, **EXPIRED}).status == 302


def test_browser_refusals_are_html_without_reflection(send: Any) -> None:
    for target, headers, status in [("/admin/<script>", USER, 403), ("/secret/x", USER, 404),
                                    ("/public/..%2f<b>", {}, 400)]:
        reply = send("GET", target, {"Accept": BROWSER, **headers})
        assert reply.status == status
        assert reply.headers["content-type"].startswith("text/html")
        assert b"<script>" not in reply.body and b"<b>" not in reply.body
        assert str(status).encode() in reply.body


@pytest.mark.parametrize(("accept", "browser"), [
    ("application/json", False), ("*/*", False), ("", False), ("application/json, text/html;q=0.5", False),
    ("text/html", True), (BROWSER, True), ("text/html;q=0.5, application/json;q=0.9", False),
    ("text/*", True), ("text/html, application/json", False),
])
def test_accept_negotiation(send: Any, accept: Any, browser: Any) -> None:
    reply = send("GET", "/api/x", {"Accept": accept} if accept else {})
    assert reply.status == (302 if browser else 401)


def test_next_survives_encoding_and_is_dropped_when_unsafe(send: Any) -> None:
    reply = send("GET", "/api/caf%C3%A9?q=a%26b", {"Accept": BROWSER})
    assert parse_qs(urlsplit(reply.headers["location"]).query)["next"] == ["/api/caf%C3%A9?q=a%26b"]


def test_websocket_matches_rules_on_asgi() -> None:
    policy = Policy(rules=[Rule(path="/ws/admin", roles=["admin"]), Rule(path="/ws/{org}", tenant="org")],
                    auth={"bearer": {"algorithms": ["HS256"], "secret_env": "RG_TEST_JWT_SECRET", "audience": "tests"}})
    accepted = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        accepted.append(scope["routeguard.identity"].subject)
        await receive()
        await send({"type": "websocket.accept"})

    guard = ASGIGuard(app, policy=policy)

    def connect(path: Any, headers: Any, extensions: Any=None) -> Any:
        scope = asgi_scope("GET", path, headers, kind="websocket", extensions=extensions)
        sent = []

        async def receive() -> Any:
            return {"type": "websocket.connect"}

        async def send(message: Any) -> None:
            sent.append(message)

        asyncio.run(guard(scope, receive, send))
        return sent

    assert connect("/ws/admin", ADMIN) == [{"type": "websocket.accept"}]
    assert accepted == ["root"]
    assert connect("/ws/admin", USER) == [{"type": "websocket.close", "code": 1008}]
    assert connect("/ws/globex", USER) == [{"type": "websocket.close", "code": 1008}]
    denied = connect("/ws/admin", {}, extensions={"websocket.http.response": {}})
    assert denied[0]["type"] == "websocket.http.response.start" and denied[0]["status"] == 401
    assert json.loads(denied[1]["body"]) == {"error": "Unauthorized"}
    forbidden = connect("/ws/globex", {"Accept": BROWSER, **USER}, extensions={"websocket.http.response": {}})
    assert forbidden[0]["status"] == 403 and json.loads(forbidden[1]["body"]) == {"error": "Forbidden"}
    assert accepted == ["root"]


def test_lifespan_and_unknown_scopes_pass_through(policy: Any) -> None:
    seen = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    guard = ASGIGuard(app, policy=policy)
    asyncio.run(guard({"type": "lifespan", "asgi": {"version": "3.0"}}, None, None))  # type: ignore[arg-type]
    asyncio.run(guard({"type": "custom"}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan", "custom"]


def test_starlette_request_user_and_requires(policy: Any) -> None:
    from starlette.applications import Starlette
    from starlette.authentication import requires
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    @requires("admin")
    async def admin_only(request: Any) -> Any:
        return JSONResponse({"user": request.user.display_name, "scopes": request.auth.scopes})

    async def anyone(request: Any) -> Any:
        return JSONResponse({"authenticated": request.user.is_authenticated})

    app = ASGIGuard(Starlette(routes=[Route("/api/admin-only", admin_only), Route("/health", anyone)]), policy=policy)
    ok = call_asgi(app, "GET", "/api/admin-only", ADMIN)
    assert ok.status == 200
    assert ok.json()["user"] == "root"
    assert "admin" in ok.json()["scopes"] and "authenticated" in ok.json()["scopes"]
    assert call_asgi(app, "GET", "/api/admin-only", USER).status == 403  # starlette's own @requires
    assert call_asgi(app, "GET", "/health").json() == {"authenticated": False}
    assert call_asgi(app, "GET", "/health", USER).json() == {"authenticated": True}


def test_wsgi_returns_the_apps_iterable_and_close_reaches_it(policy: Any) -> None:
    closed = []

    class Body:
        def __iter__(self) -> Iterator[Any]:
            yield b"hello"

        def close(self) -> None:
            closed.append(True)

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    guard = WSGIGuard(app, policy=policy)
    environ = wsgi_environ("GET", "/health")
    result = guard(environ, lambda *a: None)
    assert isinstance(result, Body)
    reply = call_wsgi(guard, "GET", "/health")
    assert reply.body == b"hello" and closed == [True]
    assert environ["routeguard.identity"] is None


@pytest.mark.parametrize(("target", "prefix"), [
    ("/api/items", "/app"), ("/admin/users/", "/app"), ("/", "/app"), ("/a%20b/c", "/mount/x"), ("/public/x", ""),
    ("/public/..%2fadmin", "/app"), ("/caf%C3%A9", "/app"),
])
def test_both_adapters_judge_the_same_path(target: Any, prefix: Any) -> None:
    scope = asgi_scope("GET", target, root_path=prefix)
    environ = wsgi_environ("GET", target, script_name=prefix)
    a, w = request_from_scope(scope), request_from_environ(environ)
    assert (a.path, a.prefix, a.raw_path, a.query) == (w.path, w.prefix, w.raw_path, w.query)


def test_mounted_app_judges_the_path_below_the_prefix(policy: Any) -> None:
    asgi = ASGIGuard(starlette_app(), policy=policy)
    reply = call_asgi(asgi, "GET", "/api/items", {"Accept": BROWSER}, root_path="/app")
    assert reply.status == 302
    location = urlsplit(reply.headers["location"])
    assert location.path == "/app/login"
    assert parse_qs(location.query)["next"] == ["/app/api/items"]
    wsgi = WSGIGuard(flask_app().wsgi_app, policy=policy)
    reply = call_wsgi(wsgi, "GET", "/api/items", {"Accept": BROWSER}, script_name="/app")
    assert urlsplit(reply.headers["location"]).path == "/app/login"
    assert call_wsgi(wsgi, "GET", "/health", script_name="/app").status == 200


def test_wsgi_invalid_utf8_path_is_rejected_even_without_raw_uri(policy: Any) -> None:
    environ = wsgi_environ("GET", "/public/x")
    environ["PATH_INFO"] = b"/public/\xff.css".decode("latin-1")
    del environ["RAW_URI"]
    started: dict[str, Any] = {}
    body = WSGIGuard(lambda e, s: [b"app"], policy=policy)(environ, lambda status, headers: started.update(s=status))
    assert started["s"].startswith("400") and b"app" not in b"".join(body)


class Exploding:
    name = "exploding"

    def authenticate(self, request: Any) -> None:
        raise RuntimeError("boom Bearer secret-token-value")


def test_backend_crash_refuses_never_allows(send: Any, policy: Any, caplog: pytest.LogCaptureFixture) -> None:
    guard_policy = Policy(rules=[Rule(path="/api/**"), Rule(path="/health", access="public")],
                          auth={"custom": [Exploding()]})
    from .support import sender

    for kind in ("asgi", "wsgi"):
        s = sender(kind, guard_policy)
        reply = s("GET", "/api/x", USER)
        assert reply.status == 401
        assert 'error="invalid_token"' in reply.headers["www-authenticate"]
        assert s("GET", "/health").status == 200
    assert "secret-token-value" not in caplog.text


def test_engine_crash_refuses_with_503(
    policy: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from routeguard.core.engine import Engine

    from .support import sender

    for kind in ("asgi", "wsgi"):
        s = sender(kind, policy)
        monkeypatch.setattr(Engine, "authorize", lambda *a: 1 / 0)
        reply = s("GET", "/health", USER)
        assert reply.status == 503
        assert reply.json() == {"error": "Service Unavailable"}
        monkeypatch.undo()
    assert "ZeroDivisionError" in caplog.text


def test_identity_in_scope_is_none_for_anonymous_public(policy: Any) -> None:
    captured = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        captured.update(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    call_asgi(ASGIGuard(app, policy=policy), "GET", "/health")
    assert captured["routeguard.identity"] is None
    assert captured["user"].is_authenticated is False
    call_asgi(ASGIGuard(app, policy=policy), "GET", "/health", ADMIN)
    assert isinstance(captured["routeguard.identity"], Identity)
    assert captured["user"] is captured["routeguard.identity"]
