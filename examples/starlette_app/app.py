"""Starlette example: Starlette's own session login and bearer tokens; ``request.user`` and
``@requires`` see the guard's identity (ASGIGuard fills ``scope["user"]`` and ``scope["auth"]``)."""

from __future__ import annotations

import html
import os
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

import routeguard
from examples.demo_users import LOGIN_PAGE, check_password, issue_token, page, use_dev_secrets

use_dev_secrets()  # development defaults for APP_JWT_SECRET / APP_SESSION_SECRET when unset
policy = routeguard.Policy.from_toml(Path(__file__).with_name("routeguard.toml"))


async def home(request: Request) -> Response:
    greeting = f"Signed in as {html.escape(request.user.display_name)}." if request.user.is_authenticated \
        else "Not signed in."
    return HTMLResponse(page("routeguard Starlette example", f"<p>{greeting}</p>"))


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def login_form(request: Request) -> Response:
    target = routeguard.safe_next(request.query_params.get("next")) or "/"
    return HTMLResponse(LOGIN_PAGE.format(error="", action="/login", next=html.escape(target)))


async def login(request: Request) -> Response:
    form = await request.form()
    target = routeguard.safe_next(str(form.get("next") or "")) or "/"
    user = check_password(str(form.get("username") or ""), str(form.get("password") or ""))
    if user is None:
        body = LOGIN_PAGE.format(error="<p id='error'>Wrong user or password.</p>", action="/login",
                                 next=html.escape(target))
        return HTMLResponse(body, status_code=401)
    request.session.clear()
    request.session.update({"user_id": user.name, "roles": list(user.roles), "tenants": list(user.tenants),
                            "sid": secrets.token_urlsafe(16)})  # a fresh value per login
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    await routeguard.alogout(request.scope)  # this cookie is refused from now on, on every worker
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def token(request: Request) -> Response:
    try:
        body = await request.json()
        user = check_password(str(body.get("username", "")), str(body.get("password", "")))
    except (ValueError, AttributeError):
        user = None
    if user is None:
        return JSONResponse({"error": "invalid_grant"}, status_code=400)
    return JSONResponse({"access_token": issue_token(user), "token_type": "Bearer", "expires_in": 900})


@requires("authenticated")  # Starlette's own check agrees with the guard
async def me(request: Request) -> Response:
    who = request.user  # the guard's Identity
    return JSONResponse({"username": who.display_name, "subject": who.subject, "roles": sorted(who.roles),
                         "scopes": request.auth.scopes, "backend": who.backend})


@requires("authenticated")
async def dashboard(request: Request) -> Response:
    return HTMLResponse(page("Dashboard", f"<p id='who'>Hello {html.escape(request.user.display_name)}.</p>"))


@requires("admin")  # a role is a Starlette auth scope too
async def admin(request: Request) -> Response:
    return HTMLResponse(page("Admin", "<p id='admin'>Only admins see this.</p>"))


app = Starlette(
    routes=[
        Route("/", home), Route("/health", health),
        Route("/login", login_form), Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]), Route("/api/token", token, methods=["POST"]),
        Route("/api/me", me), Route("/dashboard", dashboard), Route("/admin", admin),
    ],
    middleware=[
        Middleware(routeguard.ASGIGuard, policy=policy),  # first: the outermost layer
        Middleware(SessionMiddleware, secret_key=os.environ["APP_SESSION_SECRET"], same_site="lax"),
    ],
)
