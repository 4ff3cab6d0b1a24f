"""The configurations the suite compares: each an app from :mod:`.apps` plus a prebuilt request.

Every guarded configuration makes the same decision on the same request: the same token (or
session cookie) for user ``alice`` with role ``admin`` reaches ``GET /admin/reports/42``, which
needs role ``admin``; ``GET /health`` is public. :func:`check_decisions` proves it before
anything is timed: the admin credential gets 200, a credential without the role gets 403, no
credential and a forged one are refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from routeguard import ASGIGuard, Policy, WSGIGuard

from .apps import (
    ADMIN_ROLE,
    PROTECTED,
    PUBLIC,
    RULES,
    CasbinJWTMiddleware,
    SessionRoleCheck,
    fastapi_app,
    fastapi_dependency_app,
    flask_app,
    flask_before_request_app,
    starlette_app,
    starlette_auth_app,
)
from .calls import Scope, bearer, cookie, http_scope, run_asgi_once, run_wsgi_once, wsgi_environ
from .floor import FloorASGI, FloorWSGI

JWT_SECRET = "benchmark-jwt-secret-0123456789abcdef-0123456789abcdef"
SESSION_SECRET = "benchmark-session-secret-0123456789abcdef"


# -- credentials ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """Tokens and cookies shared by every configuration."""

    hs256_admin: str
    hs256_user: str
    rs256_admin: str
    rs256_user: str
    rs256_public_pem: str
    session_admin: str
    session_user: str


def _claims(roles: list[str]) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "alice", "roles": roles, "iat": now, "exp": now + 3600, "jti": f"bench-{'-'.join(roles)}"}


def make_credentials() -> Credentials:
    """Fresh tokens (valid for an hour) and session cookies written by Starlette itself."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return Credentials(
        hs256_admin=jwt.encode(_claims([ADMIN_ROLE]), JWT_SECRET, algorithm="HS256"),
        hs256_user=jwt.encode(_claims(["user"]), JWT_SECRET, algorithm="HS256"),
        rs256_admin=jwt.encode(_claims([ADMIN_ROLE]), private, algorithm="RS256"),
        rs256_user=jwt.encode(_claims(["user"]), private, algorithm="RS256"),
        rs256_public_pem=pem,
        session_admin=_starlette_session_cookie([ADMIN_ROLE]),
        session_user=_starlette_session_cookie(["user"]),
    )


def _starlette_session_cookie(roles: list[str]) -> str:
    """The cookie Starlette's SessionMiddleware writes after a login (not a hand-made imitation)."""

    async def login(request: Request) -> Response:
        request.session.update({"user_id": "alice", "roles": roles})
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/login", login)], middleware=[Middleware(SessionMiddleware, secret_key=SESSION_SECRET)]
    )
    status, headers = run_asgi_once(app, http_scope("GET", "/login"))
    assert status == 200
    for name, value in headers:
        if name == b"set-cookie" and value.startswith(b"session="):
            return value.split(b";", 1)[0].split(b"=", 1)[1].decode()
    raise RuntimeError("SessionMiddleware wrote no cookie")


# -- routeguard ------------------------------------------------------------------------------------
def hs256_policy() -> Policy:
    return Policy(
        login_url="/login",
        auth={
            "bearer": {"algorithms": ["HS256"], "secret": JWT_SECRET},
            "session": {"format": "starlette", "secret": SESSION_SECRET},
        },
        rules=RULES,
    )


def rs256_policy(public_pem: str) -> Policy:
    return Policy(login_url="/login", auth={"bearer": {"algorithms": ["RS256"], "public_key": public_pem}}, rules=RULES)


Check = tuple[dict[str, Any], set[int]]  # a request and the statuses that prove the decision


def forge(signed: str) -> str:
    """``signed`` (a JWT or a signed cookie) with one character of its signature changed."""
    head, _, signature = signed.rpartition(".")
    middle = len(signature) // 2
    swapped = "B" if signature[middle] == "A" else "A"
    return f"{head}.{signature[:middle]}{swapped}{signature[middle + 1:]}"


# -- the configurations ------------------------------------------------------------------------------
@dataclass
class Config:
    """One measured configuration: how to call it, what it is compared with, and its decisions."""

    name: str
    label: str
    kind: str  # "asgi" | "wsgi"
    app: Any
    request: dict[str, Any]
    base: str | None = None  # the bare app it is compared with
    peer: str | None = None  # the alternative a user would pick instead
    # (request, expected status) pairs proving the decision, checked before timing
    checks: list[Check] = field(default_factory=list)


def build_configs(creds: Credentials) -> list[Config]:
    """Every ASGI and WSGI configuration of the suite, in table order."""
    rs_key = serialization.load_pem_public_key(creds.rs256_public_pem.encode())
    hs_policy, rs_policy = hs256_policy(), rs256_policy(creds.rs256_public_pem)

    def s(path: str, headers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        return http_scope("GET", path, headers or [])

    def e(path: str, headers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        return wsgi_environ("GET", path, headers or [])

    def token_checks(make: Callable[..., dict[str, Any]], admin: str, user: str) -> list[Check]:
        return [
            (make(PROTECTED, bearer(admin)), {200}),
            (make(PROTECTED, bearer(user)), {403}),
            (make(PROTECTED), {401, 403}),  # refused (Starlette's @requires answers 403)
            (make(PROTECTED, bearer(forge(admin))), {401}),
        ]

    async def raw_app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    bare = starlette_app()
    configs = [
        # The bare apps get the same request as the guarded ones (token included, ignored), so
        # the only difference measured is the guard.
        Config("asgi.raw", "bare ASGI callable (reference)", "asgi", raw_app, s(PROTECTED, bearer(creds.hs256_admin))),
        Config("asgi.starlette", "bare Starlette app, /admin/reports/42", "asgi", bare,
               s(PROTECTED, bearer(creds.hs256_admin))),
        Config("asgi.starlette.public", "bare Starlette app, /health", "asgi", bare, s(PUBLIC)),
        Config(
            "asgi.routeguard.public", "routeguard, public route", "asgi", ASGIGuard(starlette_app(), policy=hs_policy),
            s(PUBLIC), base="asgi.starlette.public", checks=[(s(PUBLIC), {200}), (s(PUBLIC, bearer("junk")), {200})],
        ),
        Config(
            "asgi.routeguard.hs256", "routeguard, HS256 token, role rule", "asgi",
            ASGIGuard(starlette_app(), policy=hs_policy), s(PROTECTED, bearer(creds.hs256_admin)),
            base="asgi.starlette", peer="asgi.starlette_auth.hs256",
            checks=token_checks(s, creds.hs256_admin, creds.hs256_user),
        ),
        Config(
            "asgi.routeguard.rs256", "routeguard, RS256 token, role rule", "asgi",
            ASGIGuard(starlette_app(), policy=rs_policy), s(PROTECTED, bearer(creds.rs256_admin)),
            base="asgi.starlette", peer="asgi.starlette_auth.rs256",
            checks=token_checks(s, creds.rs256_admin, creds.rs256_user),
        ),
        Config(
            "asgi.routeguard.session", "routeguard, Starlette session cookie, role rule", "asgi",
            ASGIGuard(starlette_app(), policy=hs_policy), s(PROTECTED, cookie(creds.session_admin)),
            base="asgi.starlette", peer="asgi.starlette_session",
            checks=[
                (s(PROTECTED, cookie(creds.session_admin)), {200}),
                (s(PROTECTED, cookie(creds.session_user)), {403}),
                (s(PROTECTED, cookie(forge(creds.session_admin))), {401}),
            ],
        ),
        Config(
            "asgi.starlette_auth.hs256", "Starlette AuthenticationMiddleware + pyjwt HS256 + @requires", "asgi",
            starlette_auth_app(JWT_SECRET, "HS256"), s(PROTECTED, bearer(creds.hs256_admin)), base="asgi.starlette",
            checks=token_checks(s, creds.hs256_admin, creds.hs256_user),
        ),
        Config(
            "asgi.starlette_auth.rs256", "Starlette AuthenticationMiddleware + pyjwt RS256 + @requires", "asgi",
            starlette_auth_app(rs_key, "RS256"), s(PROTECTED, bearer(creds.rs256_admin)), base="asgi.starlette",
            checks=token_checks(s, creds.rs256_admin, creds.rs256_user),
        ),
        Config("asgi.fastapi", "bare FastAPI app", "asgi", fastapi_app(), s(PROTECTED, bearer(creds.hs256_admin))),
        Config(
            "asgi.fastapi.dependency.hs256", "FastAPI dependency: pyjwt HS256 + role check", "asgi",
            fastapi_dependency_app(JWT_SECRET, "HS256"), s(PROTECTED, bearer(creds.hs256_admin)), base="asgi.fastapi",
            checks=token_checks(s, creds.hs256_admin, creds.hs256_user),
        ),
        Config(
            "asgi.routeguard.fastapi.hs256", "routeguard on FastAPI, HS256 token, role rule", "asgi",
            ASGIGuard(fastapi_app(), policy=hs_policy), s(PROTECTED, bearer(creds.hs256_admin)), base="asgi.fastapi",
            peer="asgi.fastapi.dependency.hs256", checks=token_checks(s, creds.hs256_admin, creds.hs256_user),
        ),
        Config(
            "asgi.casbin.hs256", "pycasbin keyMatch2 middleware + pyjwt HS256", "asgi",
            CasbinJWTMiddleware(starlette_app(), JWT_SECRET, "HS256"), s(PROTECTED, bearer(creds.hs256_admin)),
            base="asgi.starlette", checks=token_checks(s, creds.hs256_admin, creds.hs256_user),
        ),
        Config(
            "asgi.starlette_session", "Starlette SessionMiddleware + role check", "asgi",
            starlette_app(
                middleware=[Middleware(SessionMiddleware, secret_key=SESSION_SECRET), Middleware(SessionRoleCheck)]
            ),
            s(PROTECTED, cookie(creds.session_admin)), base="asgi.starlette",
            checks=[
                (s(PROTECTED, cookie(creds.session_admin)), {200}),
                (s(PROTECTED, cookie(creds.session_user)), {403}),
                (s(PROTECTED, cookie(forge(creds.session_admin))), {401}),
            ],
        ),
    ]

    configs += [
        Config(
            "asgi.floor.public", "lower bound: minimal Python guard, public route", "asgi",
            FloorASGI(starlette_app(), hs_policy, JWT_SECRET), s(PUBLIC), base="asgi.starlette.public",
            checks=[(s(PUBLIC), {200})],
        ),
        Config(
            "asgi.floor.hs256", "lower bound: minimal Python guard, repeated token", "asgi",
            FloorASGI(starlette_app(), hs_policy, JWT_SECRET), s(PROTECTED, bearer(creds.hs256_admin)),
            base="asgi.starlette", peer="asgi.starlette_auth.hs256",
            checks=token_checks(s, creds.hs256_admin, creds.hs256_user),
        ),
    ]

    bare_flask = flask_app()
    guarded_flask = flask_app()
    guarded_flask.wsgi_app = WSGIGuard(guarded_flask.wsgi_app, policy=hs256_policy())  # type: ignore[method-assign]
    public_flask = flask_app()
    public_flask.wsgi_app = WSGIGuard(public_flask.wsgi_app, policy=hs256_policy())  # type: ignore[method-assign]
    floor_flask = flask_app()
    floor_flask.wsgi_app = FloorWSGI(floor_flask.wsgi_app, hs_policy, JWT_SECRET)  # type: ignore[method-assign]
    configs += [
        Config("wsgi.flask", "bare Flask app, /admin/reports/42", "wsgi", bare_flask,
               e(PROTECTED, bearer(creds.hs256_admin))),
        Config("wsgi.flask.public", "bare Flask app, /health", "wsgi", bare_flask, e(PUBLIC)),
        Config(
            "wsgi.routeguard.public", "routeguard on Flask, public route", "wsgi", public_flask, e(PUBLIC),
            base="wsgi.flask.public", checks=[(e(PUBLIC), {200})],
        ),
        Config(
            "wsgi.routeguard.hs256", "routeguard on Flask, HS256 token, role rule", "wsgi", guarded_flask,
            e(PROTECTED, bearer(creds.hs256_admin)), base="wsgi.flask", peer="wsgi.flask_before_request.hs256",
            checks=token_checks(e, creds.hs256_admin, creds.hs256_user),
        ),
        Config(
            "wsgi.flask_before_request.hs256", "Flask before_request: pyjwt HS256 + role check", "wsgi",
            flask_before_request_app(JWT_SECRET, "HS256"), e(PROTECTED, bearer(creds.hs256_admin)), base="wsgi.flask",
            checks=token_checks(e, creds.hs256_admin, creds.hs256_user),
        ),
        Config(
            "wsgi.floor.hs256", "lower bound: minimal Python guard on Flask, repeated token", "wsgi", floor_flask,
            e(PROTECTED, bearer(creds.hs256_admin)), base="wsgi.flask",
            checks=token_checks(e, creds.hs256_admin, creds.hs256_user),
        ),
    ]
    return configs


def check_decisions(configs: list[Config]) -> None:
    """Prove every configuration decides the same way before anything is timed."""
    for config in configs:
        for request, expected in [(config.request, {200}), *config.checks]:
            if config.kind == "asgi":
                status, _ = run_asgi_once(config.app, request)
            else:
                status = run_wsgi_once(config.app, request)
            if status not in expected:
                where = request.get("path") or request.get("PATH_INFO")
                raise AssertionError(f"{config.name}: {where} answered {status}, expected {sorted(expected)}")
