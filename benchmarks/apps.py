"""The apps under test: the inner apps every configuration protects, and the peers, i.e. what
users hand-write today (Starlette AuthenticationMiddleware, a FastAPI dependency, a Flask
``before_request`` hook, pycasbin in an ASGI middleware, SessionMiddleware plus a role check).

Each peer makes the same decision as routeguard's policy (:data:`RULES`): ``GET /health`` is
public, ``/admin/**`` needs role ``admin``; the credentials are the same pyjwt tokens and the
same Starlette session cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException
from flask import Flask, abort
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
    requires,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .calls import ASGIApp, Scope
from .scaling import casbin_enforcer

PROTECTED = "/admin/reports/42"
PUBLIC = "/health"
ADMIN_ROLE = "admin"

#: routeguard's policy rules; every peer below enforces the same decisions.
RULES: list[dict[str, Any]] = [
    {"path": "/health", "methods": ["GET"], "access": "public"},
    {"path": "/login", "access": "public"},
    {"path": "/admin/**", "roles": [ADMIN_ROLE]},
    {"path": "/api/**"},
]


# -- the inner apps --------------------------------------------------------------------------------
async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def starlette_app(middleware: list[Middleware] | None = None, admin_endpoint: Any = _ok) -> Starlette:
    """The app every ASGI configuration protects: a public health check and an admin report."""
    return Starlette(
        routes=[Route("/health", _ok), Route("/login", _ok), Route("/admin/reports/{report_id}", admin_endpoint)],
        middleware=middleware,
    )


def fastapi_app(dependency: Callable[..., Any] | None = None) -> FastAPI:
    """The same app in FastAPI; ``dependency`` guards the admin route when given."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    deps = [Depends(dependency)] if dependency is not None else []

    @app.get("/admin/reports/{report_id}", dependencies=deps)
    async def report(report_id: str) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app


def flask_app() -> Flask:
    app = Flask("bench")

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/admin/reports/<report_id>")
    def report(report_id: str) -> str:
        return "ok"

    return app


# -- the peers: what users hand-write today ---------------------------------------------------------
class JWTBackend(AuthenticationBackend):
    """Starlette AuthenticationBackend: pyjwt verification, roles become auth scopes."""

    def __init__(self, key: Any, algorithm: str) -> None:
        self.key = key
        self.algorithms = [algorithm]

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            claims = jwt.decode(token, self.key, algorithms=self.algorithms, options={"require": ["exp", "sub"]})
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError("invalid token") from exc
        return AuthCredentials(["authenticated", *claims.get("roles", [])]), SimpleUser(claims["sub"])


def _auth_error(conn: HTTPConnection, exc: Exception) -> Response:
    return JSONResponse({"error": "Unauthorized"}, status_code=401)


def starlette_auth_app(key: Any, algorithm: str) -> Starlette:
    """Starlette AuthenticationMiddleware + the JWT backend + ``@requires("admin")``."""

    @requires(ADMIN_ROLE)
    async def admin(request: Request) -> Response:
        return PlainTextResponse("ok")

    return starlette_app(
        middleware=[Middleware(AuthenticationMiddleware, backend=JWTBackend(key, algorithm), on_error=_auth_error)],
        admin_endpoint=admin,
    )


def fastapi_dependency_app(key: Any, algorithm: str) -> FastAPI:
    """A FastAPI dependency doing the same pyjwt check and role check."""

    async def require_admin(authorization: str | None = Header(default=None)) -> dict[str, Any]:
        if authorization is None or not authorization.lower().startswith("bearer "):
            raise HTTPException(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"})
        try:
            claims: dict[str, Any] = jwt.decode(
                authorization[7:], key, algorithms=[algorithm], options={"require": ["exp", "sub"]}
            )
        except jwt.InvalidTokenError:
            raise HTTPException(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"}) from None
        if ADMIN_ROLE not in claims.get("roles", []):
            raise HTTPException(403, "Forbidden")
        return claims

    return fastapi_app(require_admin)


class CasbinJWTMiddleware:
    """Pure ASGI middleware: pyjwt for the identity, pycasbin (RESTful keyMatch2) for the rule."""

    def __init__(self, app: ASGIApp, key: Any, algorithm: str) -> None:
        self.app = app
        self.key = key
        self.algorithms = [algorithm]
        # The routeguard policy's rules, in casbin form: subjects are roles (or anonymous).
        self.enforcer = casbin_enforcer([
            ("anonymous", "/health", "^GET$|^HEAD$"),
            ("authenticated", "/health", "^GET$|^HEAD$"),
            ("anonymous", "/login", ".*"),
            ("authenticated", "/login", ".*"),
            (ADMIN_ROLE, "/admin/*", ".*"),
            ("authenticated", "/api/*", ".*"),
        ])

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        subjects = ["anonymous"]
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    try:
                        claims = jwt.decode(
                            token, self.key, algorithms=self.algorithms, options={"require": ["exp", "sub"]}
                        )
                    except jwt.InvalidTokenError:
                        await JSONResponse({"error": "Unauthorized"}, 401)(scope, receive, send)
                        return
                    subjects = [*claims.get("roles", []), "authenticated"]
                break
        path, method = scope["path"], scope["method"]
        if any(self.enforcer.enforce(subject, path, method) for subject in subjects):
            await self.app(scope, receive, send)
            return
        status = 401 if subjects == ["anonymous"] else 403
        await JSONResponse({"error": "Unauthorized" if status == 401 else "Forbidden"}, status)(scope, receive, send)


class SessionRoleCheck:
    """Pure ASGI middleware after SessionMiddleware: the session's roles must include admin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/admin/"):
            session = scope.get("session") or {}
            if not session.get("user_id"):
                await JSONResponse({"error": "Unauthorized"}, 401)(scope, receive, send)
                return
            if ADMIN_ROLE not in session.get("roles", ()):
                await JSONResponse({"error": "Forbidden"}, 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def flask_before_request_app(key: Any, algorithm: str) -> Flask:
    """Flask with a ``before_request`` hook doing the same pyjwt check and role check."""
    app = flask_app()
    protected = {"report"}

    @app.before_request
    def check() -> None:
        if flask_request.endpoint not in protected:
            return
        header = flask_request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            abort(401)
        try:
            claims = jwt.decode(token, key, algorithms=[algorithm], options={"require": ["exp", "sub"]})
        except jwt.InvalidTokenError:
            abort(401)
        if ADMIN_ROLE not in claims.get("roles", []):
            abort(403)

    return app
