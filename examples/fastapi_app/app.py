"""FastAPI example: HTML login with a session cookie, a JSON API with bearer tokens, an admin
area and a tenant-scoped area, all decided by routeguard.toml before the app runs."""

from __future__ import annotations

import html
import os
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.middleware.sessions import SessionMiddleware

import routeguard
from examples.demo_users import LOGIN_PAGE, check_password, issue_token, page, use_dev_secrets
from routeguard.integrations.fastapi import current_identity, document, require

use_dev_secrets()  # development defaults for APP_JWT_SECRET / APP_SESSION_SECRET when unset
policy = routeguard.Policy.from_toml(Path(__file__).with_name("routeguard.toml"))

app = FastAPI(title="routeguard FastAPI example")
app.add_middleware(SessionMiddleware, secret_key=os.environ["APP_SESSION_SECRET"], same_site="lax")
app.add_middleware(routeguard.ASGIGuard, policy=policy)  # added last: the outermost layer


@app.exception_handler(routeguard.ServiceUnavailableError)
async def unavailable(request: Request, exc: routeguard.ServiceUnavailableError) -> JSONResponse:
    # A logout (routeguard.LogoutError) or login that could not reach the store: 503, and the
    # session cookie is left alone (the server would still accept it). The client retries.
    return JSONResponse({"error": "Service Unavailable"}, status_code=503, headers={"Retry-After": "5"})


def identity(request: Request) -> routeguard.Identity | None:
    return request.scope.get("routeguard.identity")


@app.get("/", response_class=HTMLResponse)
def home(request: Request) -> str:
    who = identity(request)
    greeting = f"Signed in as {html.escape(who.subject)}." if who else "Not signed in."
    return page("routeguard example", f"<p>{greeting}</p><ul><li><a href='/dashboard'>Dashboard</a></li>"
                "<li><a href='/admin'>Admin</a></li><li><a href='/orgs/acme/projects'>acme projects</a></li></ul>")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/login", response_class=HTMLResponse)
def login_form(next: str = "/") -> str:
    return LOGIN_PAGE.format(error="", action="/login", next=html.escape(routeguard.safe_next(next) or "/"))


@app.post("/login", response_model=None)
async def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")) -> Any:
    user = check_password(username, password)
    if user is None:
        # Counted per client and per username: over [throttle] limits the guard answers this
        # form's POSTs with 429 before they reach this view.
        await routeguard.alogin_failed(request.scope, username)
        form = LOGIN_PAGE.format(error="<p id='error'>Wrong user or password.</p>", action="/login",
                                 next=html.escape(routeguard.safe_next(next) or "/"))
        return HTMLResponse(form, status_code=401)
    result = await routeguard.alogin(request.scope, user.name, next=next, username=username)
    request.session.clear()
    # A fresh random value per login: no two logins ever share a cookie, so a cookie revoked at
    # logout cannot come back byte for byte from a login within the same second.
    request.session.update({"user_id": user.name, "roles": list(user.roles), "tenants": list(user.tenants),
                            "sid": secrets.token_urlsafe(16)})
    return RedirectResponse(result.location, status_code=303)


@app.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    await routeguard.alogout(request.scope)  # this cookie is refused from now on, on every worker (or 503)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@app.post("/api/logout")
async def api_logout(request: Request) -> dict[str, bool]:
    result = await routeguard.alogout(request.scope)  # the token is denied until it expires (or 503)
    return {"revoked": result.revoked}


@app.post("/api/token")
async def token(request: Request) -> JSONResponse:
    username = ""
    try:
        body = await request.json()
        username = str(body.get("username", ""))
        user = check_password(username, str(body.get("password", "")))
    except (ValueError, AttributeError):
        user = None
    if user is None:
        await routeguard.alogin_failed(request.scope, username)  # [throttle] login_paths: 429 when over
        return JSONResponse({"error": "invalid_grant"}, status_code=400)
    await routeguard.alogin(request.scope, user.name, username=username)  # resets the username's failures
    return JSONResponse({"access_token": issue_token(user), "token_type": "Bearer", "expires_in": 900})


@app.get("/api/me")
def me(who: Annotated[routeguard.Identity | None, Depends(current_identity)]) -> dict[str, Any]:
    if who is None:  # unreachable: the policy requires authentication on /api/**
        return {}
    return {"subject": who.subject, "username": who.subject, "roles": sorted(who.roles),
            "tenants": sorted(who.tenants), "backend": who.backend}


@app.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request) -> str:
    who = identity(request)
    name = html.escape(who.subject) if who else "?"
    return page("Dashboard", f"<p id='who'>Hello {name}.</p>"
                "<form method='post' action='/logout'><button id='logout'>Sign out</button></form>")


@app.get("/admin", response_class=HTMLResponse)
@app.get("/admin/", response_class=HTMLResponse, include_in_schema=False)
def admin() -> str:
    return page("Admin", "<p id='admin'>Only admins see this.</p>")


@app.get("/admin/users", dependencies=[Depends(require(roles=["admin"]))])  # the guard decided already
def admin_users() -> dict[str, list[str]]:
    from examples.demo_users import USERS

    return {"users": sorted(USERS)}


@app.get("/orgs/{org_id}/projects")
def projects(org_id: str) -> dict[str, Any]:
    return {"org": org_id, "projects": [f"{org_id}-website", f"{org_id}-billing"]}


document(app, policy)  # after the routes: /docs shows what each route needs, "Authorize" sends a bearer token
