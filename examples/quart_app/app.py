"""Quart example: Quart's own session login (Flask's cookie format) and bearer tokens; the
identity is ``quart.g.routeguard_identity``."""

from __future__ import annotations

import html
import os
import secrets
from pathlib import Path
from typing import Any

from quart import Quart, g, redirect, request, session

import routeguard
from examples.demo_users import LOGIN_PAGE, check_password, issue_token, page, use_dev_secrets
from routeguard.integrations.quart import RouteGuard

use_dev_secrets()  # development defaults for APP_JWT_SECRET / APP_SESSION_SECRET when unset

app = Quart(__name__)
app.secret_key = os.environ["APP_SESSION_SECRET"]
app.config["ROUTEGUARD_POLICY"] = Path(__file__).with_name("routeguard.toml")
RouteGuard(app)  # wraps app.asgi_app: every request is judged before Quart routes it


@app.get("/")
async def home() -> str:
    who = g.routeguard_identity
    greeting = f"Signed in as {html.escape(who.subject)}." if who else "Not signed in."
    return page("routeguard Quart example", f"<p>{greeting}</p>")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/login")
async def login_form() -> str:
    target = routeguard.safe_next(request.args.get("next")) or "/"
    return LOGIN_PAGE.format(error="", action="/login", next=html.escape(target))


@app.post("/login")
async def login() -> Any:
    form = await request.form
    target = routeguard.safe_next(form.get("next")) or "/"
    user = check_password(form.get("username", ""), form.get("password", ""))
    if user is None:
        return LOGIN_PAGE.format(error="<p id='error'>Wrong user or password.</p>", action="/login",
                                 next=html.escape(target)), 401
    session.clear()
    session.update({"user_id": user.name, "roles": list(user.roles), "tenants": list(user.tenants),
                    "sid": secrets.token_urlsafe(16)})  # a fresh value per login
    return redirect(target, code=303)


@app.post("/logout")
async def logout() -> Any:
    await routeguard.alogout(request.scope)  # this cookie is refused from now on, on every worker
    session.clear()
    return redirect("/login", code=303)


@app.post("/api/token")
async def token() -> Any:
    body = await request.get_json(silent=True) or {}
    user = check_password(str(body.get("username", "")), str(body.get("password", "")))
    if user is None:
        return {"error": "invalid_grant"}, 400
    return {"access_token": issue_token(user), "token_type": "Bearer", "expires_in": 900}


@app.get("/api/me")
async def me() -> dict[str, Any]:
    who = g.routeguard_identity  # the guard's identity, where Quart apps keep request state
    return {"username": who.subject, "subject": who.subject, "roles": sorted(who.roles), "backend": who.backend}


@app.get("/dashboard")
async def dashboard() -> str:
    return page("Dashboard", f"<p id='who'>Hello {html.escape(g.routeguard_identity.subject)}.</p>")


@app.get("/admin")
async def admin() -> str:
    return page("Admin", "<p id='admin'>Only admins see this.</p>")
