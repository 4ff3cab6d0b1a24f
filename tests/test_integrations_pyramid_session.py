"""Pyramid's own signed cookie session as a credential (``[auth.session] format = "pyramid"``):
cookies written by Pyramid's ``SignedCookieSessionFactory``, read behind both adapters."""

from __future__ import annotations

import importlib
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("pyramid")

from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

import routeguard
from routeguard import ASGIGuard, Policy, PolicyError
from routeguard.integrations.pyramid import PyramidSessionBackend, guard
from routeguard.policy.build import runtime_for
from routeguard.testing import Reply, call_asgi, call_wsgi

with warnings.catch_warnings():  # WebOb 1.8 still imports the deprecated cgi module
    warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
    config_module = importlib.import_module("pyramid.config")
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.response import Response
from pyramid.session import SignedCookieSessionFactory

SECRET = "pyramid-session-tests-secret-0123456789abcdef-0123456789abcdef!!"
OTHER = "another-pyramid-session-secret-0123456789abcdef-0123456789abcde"
ORIGIN = {"Origin": "http://testserver"}
FORM = "application/x-www-form-urlencoded"
RULES = [
    {"path": "/public/**", "access": "public"},
    {"path": "/login", "methods": ["POST"], "access": "public"},
    {"path": "/logout", "methods": ["POST"], "access": "public"},
    {"path": "/admin", "roles": ["admin"]},
    {"path": "/api/**", "access": "authenticated"},
]
USERS = {"alice": ["user"], "root": ["admin"]}


def policy(**session: Any) -> Policy:
    return Policy(rules=RULES, auth={"session": {"format": "pyramid", "secret_env": "RG_PYRAMID_SECRET", **session}})


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_PYRAMID_SECRET", SECRET)
    monkeypatch.setenv("RG_PYRAMID_OTHER", OTHER)


def pyramid_app(secret: str = SECRET, **factory: Any) -> Any:
    """A Pyramid app with its own session: /login and /mint write it, /logout revokes and clears."""

    def login(request: Any) -> Response:
        name = request.POST["username"]
        request.session.invalidate()
        request.session.update({"user_id": name, "roles": USERS[name]})
        return HTTPSeeOther(location="/api/me")

    def mint(request: Any) -> Response:
        request.session.update(json.loads(request.body))
        return Response("minted")

    def logout(request: Any) -> Response:
        routeguard.logout(request.environ)
        request.session.invalidate()
        return HTTPSeeOther(location="/public/bye")

    def me(request: Any) -> Any:  # touching the session makes Pyramid reissue its cookie
        return {"subject": request.identity.subject, "session_user": request.session.get("user_id")}

    def page(request: Any) -> Response:
        return Response("page")

    with config_module.Configurator(session_factory=SignedCookieSessionFactory(secret, **factory)) as config:
        config.include("routeguard.integrations.pyramid")
        for name, path, view, renderer in [("login", "/login", login, None), ("mint", "/mint", mint, None),
                                           ("logout", "/logout", logout, None), ("me", "/api/me", me, "json"),
                                           ("admin", "/admin", page, None), ("public", "/public/{x}", page, None)]:
            config.add_route(name, path)
            config.add_view(view, route_name=name, renderer=renderer)
        return config.make_wsgi_app()


def session_cookie(reply: Reply) -> str:
    """``session=<value>`` from the Set-Cookie Pyramid's factory wrote."""
    found = [v.split(";")[0] for k, v in reply.raw_headers if k.lower() == "set-cookie" and v.startswith("session=")]
    assert len(found) == 1, reply.raw_headers
    return found[0]


def mint(data: dict[str, Any], secret: str = SECRET, at: float | None = None, **factory: Any) -> str:
    """The cookie Pyramid's ``SignedCookieSessionFactory`` writes for ``data`` (at time ``at``)."""
    app = pyramid_app(secret, **factory)
    with pytest.MonkeyPatch.context() as mp:
        if at is not None:
            mp.setattr(time, "time", lambda: at)
        reply = call_wsgi(app, "POST", "/mint", body=json.dumps(data).encode())
    return session_cookie(reply)


def tamper(cookie: str) -> str:
    """One character of the signed value changed (its HMAC no longer matches)."""
    at = len(cookie) // 2
    return cookie[:at] + ("A" if cookie[at] != "A" else "B") + cookie[at + 1:]


def starlette_app() -> Any:
    async def me(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"subject": request.scope["routeguard.identity"].subject})

    async def page(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"page": request.url.path})

    async def logout(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"revoked": (await routeguard.alogout(request.scope)).revoked})

    return Starlette(routes=[Route("/api/me", me), Route("/admin", page), Route("/public/{x}", page),
                             Route("/logout", logout, methods=["POST"])])


Send = Callable[..., Reply]


@pytest.fixture(params=["wsgi", "asgi"])
def send(request: pytest.FixtureRequest) -> Send:
    """One request through the guard: WSGIGuard around Pyramid, or ASGIGuard around Starlette."""
    if request.param == "wsgi":
        wsgi = guard(pyramid_app(), policy())
        return lambda method, target, headers=None, **kw: call_wsgi(wsgi, method, target, headers, **kw)
    asgi = ASGIGuard(starlette_app(), policy=policy())
    return lambda method, target, headers=None, **kw: call_asgi(asgi, method, target, headers, **kw)


@pytest.mark.parametrize("user, admin", [pytest.param("alice", 403, id="user"), pytest.param("root", 200, id="admin")])
def test_pyramid_session_is_the_credential_and_its_roles_decide(send: Send, user: str, admin: int) -> None:
    cookie = {"Cookie": mint({"user_id": user, "roles": USERS[user]})}
    me = send("GET", "/api/me", cookie)
    assert me.status == 200 and json.loads(me.body)["subject"] == user
    assert send("GET", "/admin", cookie).status == admin
    assert send("GET", "/api/me").status == 401  # and without it: anonymous


@pytest.mark.parametrize("cookie", [
    pytest.param(lambda: tamper(mint({"user_id": "alice", "roles": ["user"]})), id="tampered"),
    pytest.param(lambda: mint({"user_id": "root", "roles": ["admin"]}, secret=OTHER), id="wrong-secret"),
    pytest.param(lambda: mint({"user_id": "root", "roles": ["admin"]}, salt="other."), id="other-salt"),
    pytest.param(lambda: mint({"user_id": "root", "roles": ["admin"]}, at=time.time() - 1201), id="expired"),
    pytest.param(lambda: "session=not-a-pyramid-session", id="garbage"),
])
def test_a_session_that_does_not_verify_is_401_and_public_pages_ignore_it(send: Send, cookie: Any) -> None:
    stale = {"Cookie": cookie()}
    refused = send("GET", "/admin", stale)
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert send("GET", "/public/page", stale).status == 200


def test_session_within_pyramids_timeout_is_accepted_and_max_age_is_the_timeout(send: Send) -> None:
    recent = {"Cookie": mint({"user_id": "alice"}, at=time.time() - 1100)}
    assert send("GET", "/api/me", recent).status == 200
    shorter = ASGIGuard(starlette_app(), policy=policy(max_age=1000))
    assert call_asgi(shorter, "GET", "/api/me", recent).status == 401


def test_session_without_a_user_is_anonymous(send: Send) -> None:
    reply = send("GET", "/api/me", {"Cookie": mint({"cart": [1]})})
    assert reply.status == 401 and reply.headers["www-authenticate"] == "Bearer"


def test_logged_out_session_is_refused(send: Send) -> None:
    cookie = {"Cookie": mint({"user_id": "alice"}), **ORIGIN}
    other = {"Cookie": mint({"user_id": "alice"})}  # the same user's session in another browser
    assert send("GET", "/api/me", cookie).status == 200
    assert send("POST", "/logout", cookie).status in (200, 303)
    assert send("GET", "/api/me", cookie).status == 401
    assert send("GET", "/api/me", other).status == 200


def test_logout_refuses_every_copy_pyramid_reissued_but_not_a_new_login() -> None:
    app = guard(pyramid_app(), policy())
    past = time.time() - 100
    with pytest.MonkeyPatch.context() as mp:  # logged in 100 s ago
        mp.setattr(time, "time", lambda: past)
        first = session_cookie(call_wsgi(app, "POST", "/login", {"Content-Type": FORM}, body=b"username=root"))
    me = call_wsgi(app, "GET", "/api/me", {"Cookie": first})
    assert me.status == 200 and json.loads(me.body) == {"subject": "root", "session_user": "root"}
    reissued = session_cookie(me)  # Pyramid wrote the session again: same creation time, accessed now
    assert reissued != first
    done = call_wsgi(app, "POST", "/logout", {"Cookie": reissued, **ORIGIN})
    assert done.status == 303
    for copy in (first, reissued):
        assert call_wsgi(app, "GET", "/api/me", {"Cookie": copy}).status == 401
    again = call_wsgi(app, "POST", "/login", {"Content-Type": FORM, "Cookie": reissued, **ORIGIN},
                      body=b"username=alice")  # the stale cookie rides along to the public login
    assert again.status == 303
    me = call_wsgi(app, "GET", "/api/me", {"Cookie": session_cookie(again)})
    assert me.status == 200 and json.loads(me.body)["subject"] == "alice"


def test_salt_hashalg_and_older_secrets_follow_the_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    custom = policy(salt="my.app.", hashalg="sha256", fallback_secret_envs=["RG_PYRAMID_OTHER"])
    app = ASGIGuard(starlette_app(), policy=custom)
    for cookie in (mint({"user_id": "alice"}, salt="my.app.", hashalg="sha256"),
                   mint({"user_id": "alice"}, secret=OTHER, salt="my.app.", hashalg="sha256")):
        assert call_asgi(app, "GET", "/api/me", {"Cookie": cookie}).status == 200
    default_cookie = {"Cookie": mint({"user_id": "alice"})}
    assert call_asgi(app, "GET", "/api/me", default_cookie).status == 401


@pytest.mark.parametrize("auth, message", [
    pytest.param({"session": {"format": "pyramid"}}, "secret_env or secret", id="no-secret"),
    pytest.param({"session": {"format": "starlette", "secret_env": "RG_PYRAMID_SECRET", "salt": "x"}},
                 "salt: only for format = 'pyramid'", id="salt-elsewhere"),
    pytest.param({"session": {"format": "pyramid", "secret_env": "RG_PYRAMID_SECRET", "hashalg": "md5"}},
                 "hashalg", id="unknown-hashalg"),
])
def test_bad_pyramid_session_config_is_a_load_error(auth: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        ASGIGuard(starlette_app(), policy=Policy(rules=RULES, auth=auth))


def test_format_builds_the_pyramid_backend() -> None:
    (backend,) = runtime_for(policy()).backends
    assert isinstance(backend, PyramidSessionBackend) and backend.cookie_based is True
    assert backend.timeout == 1200
