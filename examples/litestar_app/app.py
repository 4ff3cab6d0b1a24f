"""Litestar example: the app's own cookie-session login, a JSON API with bearer tokens and an
admin area, decided by routeguard.toml before Litestar routes the request."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.params import FromQuery, JSONBody, URLEncodedBody
from litestar.response import Redirect

import routeguard
from examples.demo_users import LOGIN_PAGE, check_password, issue_token, page, use_dev_secrets
from routeguard.integrations.litestar import guard

use_dev_secrets()  # development defaults for APP_JWT_SECRET / APP_STORE_URL when unset
os.environ.setdefault("APP_LITESTAR_SECRET", "dev-only-litestar-secret-32bytes")  # 16, 24 or 32 bytes
policy = routeguard.Policy.from_toml(Path(__file__).with_name("routeguard.toml"))
sessions = CookieBackendConfig(secret=os.environ["APP_LITESTAR_SECRET"].encode(), secure=False, samesite="lax")
Form = URLEncodedBody[dict[str, str]]


@get("/", media_type=MediaType.HTML)
async def home(request: Request[Any, Any, Any]) -> str:
    who = request.user  # the guard's Identity, or None
    greeting = f"Signed in as {html.escape(who.subject)}." if who else "Not signed in."
    return page("routeguard Litestar example", f"<p>{greeting}</p>")


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/login", media_type=MediaType.HTML)
async def login_form(next: FromQuery[str] = "/") -> str:
    return LOGIN_PAGE.format(error="", action="/login", next=html.escape(routeguard.safe_next(next) or "/"))


@post("/login", status_code=303)
async def login(request: Request[Any, Any, Any], data: Form) -> Response[Any]:
    target = routeguard.safe_next(data.get("next")) or "/"
    user = check_password(data.get("username", ""), data.get("password", ""))
    if user is None:
        form = LOGIN_PAGE.format(error="<p id='error'>Wrong user or password.</p>", action="/login",
                                 next=html.escape(target))
        return Response(form, status_code=401, media_type=MediaType.HTML)
    request.set_session({"user_id": user.name, "roles": list(user.roles), "tenants": list(user.tenants)})
    return Redirect(target, status_code=303)


@post("/logout", status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    await routeguard.alogout(request.scope)  # this cookie is refused from now on, on every worker
    request.clear_session()
    return Redirect("/login", status_code=303)


@post("/api/token")
async def token(data: JSONBody[dict[str, Any]]) -> Response[Any]:
    user = check_password(str(data.get("username", "")), str(data.get("password", "")))
    if user is None:
        return Response({"error": "invalid_grant"}, status_code=400)
    return Response({"access_token": issue_token(user), "token_type": "Bearer", "expires_in": 900})


@get("/api/me")
async def me(request: Request[routeguard.Identity, Any, Any]) -> dict[str, Any]:
    who = request.user  # Litestar's own idiom: the guard's identity
    return {"username": who.subject, "subject": who.subject, "roles": sorted(who.roles),
            "tenants": sorted(who.tenants), "backend": who.backend,
            "auth": type(request.auth).__name__}


@get("/dashboard", media_type=MediaType.HTML)
async def dashboard(request: Request[routeguard.Identity, Any, Any]) -> str:
    return page("Dashboard", f"<p id='who'>Hello {html.escape(request.user.subject)}.</p>")


@get(["/admin", "/admin/"], media_type=MediaType.HTML)
async def admin() -> str:
    return page("Admin", "<p id='admin'>Only admins see this.</p>")


app = Litestar(route_handlers=[home, health, login_form, login, logout, token, me, dashboard, admin],
               middleware=[sessions.middleware])
guard(app, policy)  # in front of Litestar's router: every request is judged before routing
