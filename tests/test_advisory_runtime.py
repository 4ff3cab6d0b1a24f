"""Named regression tests for the runtime advisories (test_advisory.py style).

RG-2026-14  A rejected session cookie (revoked, logged out, expired, bad signature) still
            reached the app: its own ``request.session`` / Flask ``session`` held the victim on
            public routes, and beside the attacker's own bearer token a protected route ran
            with guard identity = attacker and app session = victim.
RG-2026-16  Sync hooks (check, identity loader, membership, custom backends) ran on the event
            loop under ASGIGuard: one slow lookup stalled every client.
RG-2026-21  A custom backend that read a cookie skipped the CSRF check unless it set an
            undocumented ``cookie_based = True``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import routeguard
from routeguard import ASGIGuard, Identity, Policy, WSGIGuard
from routeguard.policy.settings import HooksConfig
from routeguard.testing import Reply, call_asgi, call_wsgi

from .support import SESSION_SECRET, bearer, token

POLICY = """
login_url = "/login"

[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"

[auth.session]
format = "{format}"
secret_env = "RG_TEST_SESSION_SECRET"
max_age = 3600

[[rules]]
path = "/login"
access = "public"

[[rules]]
path = "/logout"
methods = ["POST"]
access = "public"

[[rules]]
path = "/whoami"
access = "public"

[[rules]]
path = "/me"
"""


def starlette_session_app() -> Any:
    """A Starlette app that keeps its own login in ``request.session`` (SessionMiddleware)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def login(request: Any) -> Any:
        request.session["user_id"] = (await request.json())["user"]
        return JSONResponse({"ok": True})

    async def logout(request: Any) -> Any:
        result = await routeguard.alogout(request.scope)
        request.session.clear()
        return JSONResponse({"revoked": result.revoked})

    async def whoami(request: Any) -> Any:
        identity = request.scope["routeguard.identity"]
        return JSONResponse({"session": request.session.get("user_id"),
                             "identity": identity.subject if identity else None,
                             "cookies": sorted(request.cookies)})

    return Starlette(
        routes=[Route("/login", login, methods=["POST"]), Route("/logout", logout, methods=["POST"]),
                Route("/whoami", whoami), Route("/me", whoami)],
        middleware=[Middleware(SessionMiddleware, secret_key=SESSION_SECRET, max_age=3600)],
    )


def flask_session_app() -> Any:
    """A Flask app that keeps its own login in ``flask.session``."""
    from flask import Flask, jsonify, request, session

    app = Flask("runtime-advisories")
    app.secret_key = SESSION_SECRET

    @app.post("/login")
    def login() -> Any:
        session["user_id"] = request.get_json()["user"]
        return jsonify(ok=True)

    @app.post("/logout")
    def logout() -> Any:
        result = routeguard.logout(request.environ)
        session.clear()
        return jsonify(revoked=result.revoked)

    def whoami() -> Any:
        identity = request.environ["routeguard.identity"]
        return jsonify(session=session.get("user_id"), identity=identity.subject if identity else None,
                       cookies=sorted(request.cookies))

    app.add_url_rule("/whoami", "whoami", whoami)
    app.add_url_rule("/me", "me", whoami)
    return app


class SessionApp:
    """One framework's session app behind the guard, and a cookie jar of one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        policy = Policy.from_toml_string(POLICY.format(format="starlette" if kind == "asgi" else "flask"))
        if kind == "asgi":
            self.app: Any = ASGIGuard(starlette_session_app(), policy=policy)
        else:
            self.app = WSGIGuard(flask_session_app().wsgi_app, policy=policy)

    def send(self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Reply:
        call = call_asgi if self.kind == "asgi" else call_wsgi
        return call(self.app, method, target, headers or {}, body=body)

    def login(self, user: str) -> str:
        """The session cookie (``session=...``) the app itself writes at login."""
        reply = self.send("POST", "/login", {"Content-Type": "application/json"}, f'{{"user": "{user}"}}'.encode())
        assert reply.status == 200, reply.body
        cookie = next(v for k, v in reply.raw_headers if k.lower() == "set-cookie" and v.startswith("session="))
        return cookie.split(";", 1)[0]


KINDS = [pytest.param("asgi", id="starlette"), pytest.param("wsgi", id="flask")]


@pytest.mark.parametrize("kind", KINDS)
def test_rg_2026_14_logged_out_cookie_never_reaches_the_app_session(kind: str) -> None:
    app = SessionApp(kind)
    stolen = app.login("victim")
    before = app.send("GET", "/whoami", {"Cookie": f"{stolen}; theme=dark"}).json()
    assert before == {"session": "victim", "identity": "victim", "cookies": ["session", "theme"]}
    assert app.send("POST", "/logout", {"Cookie": stolen}).json() == {"revoked": True}

    # The replayed cookie: refused on a protected route, and gone from the app's session on a
    # public one, while the request's other cookies still reach the app.
    assert app.send("GET", "/me", {"Cookie": stolen}).status == 401
    after = app.send("GET", "/whoami", {"Cookie": f"theme=dark; {stolen}"}).json()
    assert after == {"session": None, "identity": None, "cookies": ["theme"]}


@pytest.mark.parametrize("kind", KINDS)
def test_rg_2026_14_attacker_token_beside_victim_cookie_is_refused(kind: str) -> None:
    app = SessionApp(kind)
    victim = app.login("victim")
    attacker = bearer(token("mallory"))
    # Both credentials verify but name different subjects: refused, never "guard = attacker,
    # app session = victim".
    mixed = app.send("GET", "/me", {**attacker, "Cookie": victim})
    assert mixed.status == 401 and mixed.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    public = app.send("GET", "/whoami", {**attacker, "Cookie": victim}).json()
    assert public == {"session": None, "identity": None, "cookies": []}
    # The same with the victim's cookie revoked: the valid attacker token does not carry it through.
    app.send("POST", "/logout", {"Cookie": victim})
    assert app.send("GET", "/me", {**attacker, "Cookie": victim}).status == 401
    assert app.send("GET", "/whoami", {**attacker, "Cookie": victim}).json()["session"] is None
    # Credentials that agree on the subject pass, and the app keeps its session.
    alice = app.login("alice")
    agreed = app.send("GET", "/me", {**bearer(token("alice")), "Cookie": alice})
    assert agreed.status == 200 and agreed.json()["session"] == "alice"
    assert app.send("GET", "/me", attacker).json()["identity"] == "mallory"


def _forged(kind: str, case: str) -> str:
    from routeguard.testing import session_cookie

    fmt = "starlette" if kind == "asgi" else "flask"
    data = {"user_id": "victim"}
    if case == "expired":
        return "session=" + session_cookie(SESSION_SECRET, data, format=fmt, signed_at=time.time() - 7200)
    if case == "bad-signature":
        return "session=" + session_cookie("another-secret-0123456789abcdef", data, format=fmt)
    valid = session_cookie(SESSION_SECRET, data, format=fmt)
    return f"session={valid}; session={session_cookie(SESSION_SECRET, {'user_id': 'other'}, format=fmt)}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", ["expired", "bad-signature", "duplicate"])
def test_rg_2026_14_rejected_cookie_is_stripped_on_public_routes(kind: str, case: str) -> None:
    app = SessionApp(kind)
    cookie = _forged(kind, case)
    assert app.send("GET", "/me", {"Cookie": cookie}).status == 401
    seen = app.send("GET", "/whoami", {"Cookie": f"{cookie}; lang=en"}).json()
    assert seen == {"session": None, "identity": None, "cookies": ["lang"]}


def test_rg_2026_14_report_mode_also_withholds_rejected_cookies() -> None:
    policy = Policy.from_toml_string('mode = "report"\n' + POLICY.format(format="starlette"))
    app = ASGIGuard(starlette_session_app(), policy=policy)
    bad = "session=" + _forged("asgi", "bad-signature").split("=", 1)[1]
    reply = call_asgi(app, "GET", "/me", {"Cookie": bad})
    assert reply.status == 200 and reply.json()["session"] is None and reply.json()["cookies"] == []


def test_rg_2026_14_cookie_stripping_keeps_other_cookies() -> None:
    from routeguard.core.request import without_cookies

    header = 'a=1; session=x; b="q;session=y"; session =z;c=3'
    kept = without_cookies(header, ("session",))
    assert kept == 'a=1; b="q;c=3'  # every ";"-split pair named session is gone, quoted or not
    assert without_cookies(header, ("*",)) == ""
    assert without_cookies("session=x", ("session",)) == ""


class CookieBackend:
    """A custom backend that reads its own cookie through the request view."""

    name = "remember-me"

    def __init__(self, read: str = "cookie") -> None:
        self.read = read

    def authenticate(self, request: Any) -> Identity | None:
        if self.read == "cookie":
            value = request.cookie("remember")
        else:  # parses the raw header itself
            raw = request.headers.get("cookie") or ""
            value = next((p.split("=", 1)[1] for p in raw.split("; ") if p.startswith("remember=")), None)
        if value is None:
            return None
        if value != "good":
            raise routeguard.AuthenticationError("unknown remember-me cookie")
        return Identity.of("remembered")


class HeaderBackend:
    name = "header"

    def authenticate(self, request: Any) -> Identity | None:
        return Identity.of("header-user") if request.headers.get("x-user") == "ok" else None


def _custom_policy(*backends: Any, **extra: Any) -> Policy:
    return Policy(rules=[routeguard.Rule(path="/public/**", access="public"), routeguard.Rule(path="/**")],
                  auth=routeguard.AuthConfig(custom=list(backends)), **extra)


def _app(kind: str, policy: Policy) -> Any:
    from .support import flask_app, starlette_app

    if kind == "asgi":
        asgi = ASGIGuard(starlette_app(), policy=policy)
        return lambda *a, **kw: call_asgi(asgi, *a, **kw)
    wsgi = WSGIGuard(flask_app().wsgi_app, policy=policy)
    return lambda *a, **kw: call_wsgi(wsgi, *a, **kw)


CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize(
    ("backend", "headers", "csrf"),
    [
        pytest.param(CookieBackend(), {"Cookie": "remember=good"}, True, id="reads-cookie"),
        pytest.param(CookieBackend("raw"), {"Cookie": "remember=good"}, True, id="parses-raw-cookie-header"),
        pytest.param(HeaderBackend(), {"X-User": "ok", "Cookie": "remember=good"}, False, id="header-only"),
    ],
)
def test_rg_2026_21_custom_backend_reading_a_cookie_gets_the_csrf_check(
    kind: str, backend: Any, headers: dict[str, str], csrf: bool
) -> None:
    send = _app(kind, _custom_policy(backend))
    assert send("POST", "/api/x", headers).status == 200  # same site (no Origin): allowed
    cross = send("POST", "/api/x", {**headers, **CROSS_SITE})
    assert cross.status == (403 if csrf else 200)
    assert send("GET", "/api/x", {**headers, **CROSS_SITE}).status == 200  # safe methods pass


class Declared(HeaderBackend):
    cookie_based = True


class OptedOut(CookieBackend):
    cookie_based = False  # the cookie alone is not the credential (documented opt-out)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_21_declared_cookie_based_overrides_detection(kind: str) -> None:
    declared = _app(kind, _custom_policy(Declared()))
    assert declared("POST", "/api/x", {"X-User": "ok", **CROSS_SITE}).status == 403
    opted_out = _app(kind, _custom_policy(OptedOut()))
    assert opted_out("POST", "/api/x", {"Cookie": "remember=good", **CROSS_SITE}).status == 200


def _echo(kind: str, policy: Policy) -> Any:
    """The guard in front of an app that answers with the Cookie header it received."""
    import json

    if kind == "asgi":
        async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
            cookies = [v.decode() for k, v in scope["headers"] if k == b"cookie"]
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": json.dumps(cookies).encode()})

        guarded = ASGIGuard(asgi_app, policy=policy)
        return lambda *a, **kw: call_asgi(guarded, *a, **kw)

    def wsgi_app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [])
        cookie = environ.get("HTTP_COOKIE")
        return [json.dumps([cookie] if cookie is not None else []).encode()]

    wsgi_guarded = WSGIGuard(wsgi_app, policy=policy)
    return lambda *a, **kw: call_wsgi(wsgi_guarded, *a, **kw)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize(
    ("backend", "cookie", "app_sees"),
    [
        pytest.param(CookieBackend(), "remember=forged; other=1", ["other=1"], id="named-read"),
        pytest.param(CookieBackend("raw"), "remember=forged; other=1", [], id="raw-header-read-withholds-all"),
        pytest.param(CookieBackend(), "remember=good; other=1", ["remember=good; other=1"], id="accepted"),
        pytest.param(CookieBackend(), "other=1", ["other=1"], id="no-credential"),
    ],
)
def test_rg_2026_14_custom_backend_rejected_cookie_is_withheld(
    kind: str, backend: Any, cookie: str, app_sees: list[str]
) -> None:
    send = _echo(kind, _custom_policy(backend))
    assert send("GET", "/public/x", {"Cookie": cookie}).json() == app_sees


# -- RG-2026-16 and issue 12 item 8: hooks off the event loop, under a deadline ------------------

async def _acall(app: Any, method: str, target: str, headers: dict[str, str] | None = None) -> Reply:
    """One request to an ASGI app on the running loop (so several can run concurrently)."""
    import asyncio

    from routeguard.testing import asgi_scope

    messages: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(asgi_scope(method, target, headers), receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    pairs = [(k.decode(), v.decode()) for k, v in start["headers"]]
    return Reply(start["status"], dict(pairs), body, pairs)


def _thread_app(threads: dict[str, int], release: Any = None) -> Any:
    import threading

    async def app(scope: Any, receive: Any, send: Any) -> None:
        threads["app"] = threading.get_ident()  # the event loop's thread
        if release is not None and scope["path"] == "/public/release":
            release.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def _hook_policy(**settings: Any) -> Policy:
    hooks = HooksConfig(**settings.pop("hooks", {}))
    rules = settings.pop("rules", [routeguard.Rule(path="/public/**", access="public"), routeguard.Rule(path="/**")])
    return Policy(rules=rules, hooks=hooks, **settings)


def test_rg_2026_16_sync_hooks_run_off_the_event_loop_async_hooks_on_it() -> None:
    import asyncio
    import threading

    threads: dict[str, int] = {}

    def load_user(subject: str) -> dict[str, Any]:
        threads["loader"] = threading.get_ident()
        return {"roles": ["user"]}

    async def member(identity: Identity, tenant: str) -> bool:
        threads["membership"] = threading.get_ident()
        return True

    def check(identity: Identity, params: dict[str, str]) -> bool:
        threads["check"] = threading.get_ident()
        return True

    class SyncBackend(HeaderBackend):
        def authenticate(self, request: Any) -> Identity | None:
            threads["backend"] = threading.get_ident()
            return super().authenticate(request)

    policy = _hook_policy(
        auth=routeguard.AuthConfig(custom=[SyncBackend()], identity_loader=load_user),
        tenant_membership=member,
        rules=[routeguard.Rule(path="/orgs/{org}/**", tenant="org", check=check)],
    )
    guarded = ASGIGuard(_thread_app(threads), policy=policy)
    reply = asyncio.run(_acall(guarded, "GET", "/orgs/acme/x", {"X-User": "ok"}))
    assert reply.status == 200
    loop = threads["app"]
    assert {name: threads[name] == loop for name in ("backend", "loader", "check", "membership")} == {
        "backend": False, "loader": False, "check": False, "membership": True}


def test_rg_2026_16_the_loop_keeps_serving_while_a_sync_hook_blocks() -> None:
    import asyncio
    import threading

    release = threading.Event()

    def check(identity: Identity, params: dict[str, str]) -> bool:
        # Blocks until another request, served meanwhile by the same loop, sets the event. On
        # the loop itself this would deadlock; the bound only ends the test if it did.
        return release.wait(30)

    policy = _hook_policy(
        auth=routeguard.AuthConfig(custom=[HeaderBackend()]),
        hooks={"timeout": 60},
        rules=[routeguard.Rule(path="/public/**", access="public"), routeguard.Rule(path="/slow", check=check)],
    )
    guarded = ASGIGuard(_thread_app({}, release), policy=policy)

    async def both() -> list[int]:
        slow = asyncio.ensure_future(_acall(guarded, "GET", "/slow", {"X-User": "ok"}))
        await asyncio.sleep(0)  # the slow request is in its hook before the other one starts
        other = await _acall(guarded, "GET", "/public/release")
        return [other.status, (await slow).status]

    assert asyncio.run(both()) == [200, 200]
    assert release.is_set()


class Blocking:
    """Hooks that never answer in time: sync ones wait on an event the test sets at the end."""

    def __init__(self) -> None:
        import threading

        self.event = threading.Event()

    def sync(self, *args: Any) -> Any:
        self.event.wait(30)
        return True

    async def never(self, *args: Any) -> Any:
        import asyncio

        await asyncio.Event().wait()


HOOKS = ["identity_loader", "tenant_membership", "check", "backend"]


def _blocking_policy(where: str, hook: Any) -> Policy:
    backend: Any = HeaderBackend()
    if where == "backend":
        class Slow:
            name = "slow"
            authenticate = staticmethod(hook)

        backend = Slow()
    return _hook_policy(
        auth=routeguard.AuthConfig(custom=[backend], identity_loader=hook if where == "identity_loader" else None),
        tenant_membership=hook if where == "tenant_membership" else None,
        hooks={"timeout": 0.2, "threads": 4},
        rules=[routeguard.Rule(path="/public/**", access="public"),
               routeguard.Rule(path="/orgs/{org}/**", tenant="org" if where == "tenant_membership" else None,
                               check=hook if where == "check" else None)],
    )


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize("style", ["sync", "async"])
@pytest.mark.parametrize("where", HOOKS)
def test_hook_timeout_is_a_503_and_is_logged(kind: str, style: str, where: str, caplog: Any) -> None:
    blocking = Blocking()
    policy = _blocking_policy(where, blocking.sync if style == "sync" else blocking.never)
    send = _app(kind, policy)
    try:
        with caplog.at_level("WARNING", logger="routeguard"):
            reply = send("GET", "/orgs/other/x", {"X-User": "ok"})
        assert reply.status == 503 and reply.json() == {"error": "Service Unavailable"}
        assert any("timed out" in r.getMessage() or "no answer within" in r.getMessage() for r in caplog.records)
        if where == "backend":  # a public page never needs a hook
            assert send("GET", "/public/x", {"X-User": "ok"}).status == 200
    finally:
        blocking.event.set()


def test_hook_timeout_from_toml_and_bounded_abandoned_threads() -> None:
    import asyncio

    blocking = Blocking()
    policy = Policy.from_toml_string('[hooks]\ntimeout = 0.2\nthreads = 1\n[[rules]]\npath = "/**"\n')
    assert (policy.hooks.timeout, policy.hooks.threads) == (0.2, 1)
    policy = _blocking_policy("check", blocking.sync).model_copy(
        update={"hooks": HooksConfig(timeout=0.2, threads=1)})
    guarded = ASGIGuard(_thread_app({}), policy=policy)
    runner = guarded.guard.hooks
    try:
        assert asyncio.run(_acall(guarded, "GET", "/orgs/acme/x", {"X-User": "ok"})).status == 503
        # The one hook thread still runs the abandoned call: the next call is refused at once
        # instead of starting another thread.
        assert runner._abandoned == 1
        assert asyncio.run(_acall(guarded, "GET", "/orgs/acme/x", {"X-User": "ok"})).status == 503
        assert runner._abandoned == 1
    finally:
        blocking.event.set()


def test_builtin_backends_run_inline_custom_ones_as_hooks() -> None:
    from routeguard.runtime.guard import Guard
    from routeguard.runtime.hooks import HookedBackend

    guard = Guard(Policy.from_toml_string(POLICY.format(format="starlette")))
    assert [type(b).__name__ for b in guard.backends] == ["BearerBackend", "SessionCookieBackend"]
    custom = Guard(_custom_policy(HeaderBackend(), Declared()))
    assert [(type(b), b.name, b.cookie_based) for b in custom.backends] == [  # type: ignore[attr-defined]
        (HookedBackend, "header", None), (HookedBackend, "header", True)]
