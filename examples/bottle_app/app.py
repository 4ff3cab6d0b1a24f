"""Bottle example: routeguard's server-side sessions for browsers, bearer tokens for the API;
the identity is ``request.environ["routeguard.identity"]`` (``current_identity()``)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import bottle
from bottle import HTTPResponse, request

import routeguard
from examples.demo_users import LOGIN_PAGE, check_password, issue_token, page, use_dev_secrets
from routeguard.integrations.bottle import current_identity, guard

use_dev_secrets()  # development defaults for APP_JWT_SECRET / APP_STORE_URL when unset
policy = routeguard.Policy.from_toml(Path(__file__).with_name("routeguard.toml"))
bottle_app = bottle.Bottle()


@bottle_app.get("/")
def home() -> str:
    who = current_identity()
    greeting = f"Signed in as {html.escape(who.subject)}." if who else "Not signed in."
    return page("routeguard Bottle example", f"<p>{greeting}</p>")


@bottle_app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@bottle_app.get("/login")
def login_form() -> str:
    target = routeguard.safe_next(request.query.get("next")) or "/"
    return LOGIN_PAGE.format(error="", action="/login", next=html.escape(target))


@bottle_app.post("/login")
def login() -> Any:
    user = check_password(request.forms.get("username", ""), request.forms.get("password", ""))
    if user is None:
        target = html.escape(routeguard.safe_next(request.forms.get("next")) or "/")
        form = LOGIN_PAGE.format(error="<p id='error'>Wrong user or password.</p>", action="/login", next=target)
        return HTTPResponse(form, status=401)
    result = routeguard.login(request.environ, user.name, roles=user.roles, tenants=user.tenants,
                              next=request.forms.get("next"))
    response = HTTPResponse(status=303, headers={"Location": result.location})
    for name, value in result.headers:  # Set-Cookie with the new session id
        response.add_header(name, value)
    return response


@bottle_app.post("/logout")
def logout() -> Any:
    result = routeguard.logout(request.environ)
    response = HTTPResponse(status=303, headers={"Location": "/login"})
    for name, value in result.headers:
        response.add_header(name, value)
    return response


@bottle_app.post("/api/token")
def token() -> Any:
    try:
        body = json.loads(request.body.read() or b"{}")
    except ValueError:
        body = {}
    user = check_password(str(body.get("username", "")), str(body.get("password", "")))
    if user is None:
        return HTTPResponse({"error": "invalid_grant"}, status=400)
    return {"access_token": issue_token(user), "token_type": "Bearer", "expires_in": 900}


@bottle_app.get("/api/me")
def me() -> dict[str, Any]:
    who = current_identity()
    assert who is not None  # the policy requires authentication on /api/**
    return {"username": who.subject, "subject": who.subject, "roles": sorted(who.roles), "backend": who.backend}


@bottle_app.get("/dashboard")
def dashboard() -> str:
    who = current_identity()
    return page("Dashboard", f"<p id='who'>Hello {html.escape(who.subject if who else '?')}.</p>")


@bottle_app.get("/admin")
def admin() -> str:
    return page("Admin", "<p id='admin'>Only admins see this.</p>")


app = guard(bottle_app, policy)  # serve this one: the guard outside Bottle
