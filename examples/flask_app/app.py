"""Flask example: the same site as the FastAPI example, guarded by WSGIGuard."""

from __future__ import annotations

import html
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, redirect, request, session

import routeguard
from examples.demo_users import LOGIN_PAGE, USERS, check_password, issue_token, page, use_dev_secrets

use_dev_secrets()  # development defaults for APP_JWT_SECRET / APP_SESSION_SECRET when unset

policy = routeguard.Policy.from_toml(Path(__file__).with_name("routeguard.toml"))

app = Flask(__name__)
app.secret_key = os.environ["APP_SESSION_SECRET"]
app.wsgi_app = routeguard.WSGIGuard(app.wsgi_app, policy=policy)  # type: ignore[method-assign]


@app.errorhandler(routeguard.ServiceUnavailableError)
def unavailable(exc: routeguard.ServiceUnavailableError) -> Any:
    # A logout (routeguard.LogoutError) or login that could not reach the store: 503, and the
    # session cookie is left alone (the server would still accept it). The client retries.
    return jsonify(error="Service Unavailable"), 503, {"Retry-After": "5"}


def identity() -> routeguard.Identity | None:
    return request.environ.get("routeguard.identity")


@app.get("/")
def home() -> str:
    who = identity()
    greeting = f"Signed in as {html.escape(who.subject)}." if who else "Not signed in."
    return page("routeguard example", f"<p>{greeting}</p><ul><li><a href='/dashboard'>Dashboard</a></li>"
                "<li><a href='/admin'>Admin</a></li><li><a href='/orgs/acme/projects'>acme projects</a></li></ul>")


@app.get("/health")
def health() -> Any:
    return jsonify(status="ok")


@app.get("/login")
def login_form() -> str:
    target = routeguard.safe_next(request.args.get("next")) or "/"
    return LOGIN_PAGE.format(error="", action="/login", next=html.escape(target))


@app.post("/login")
def login() -> Any:
    username = request.form.get("username", "")
    user = check_password(username, request.form.get("password", ""))
    if user is None:
        # Counted per client and per username: over [throttle] limits the guard answers this
        # form's POSTs with 429 before they reach this view.
        routeguard.login_failed(request.environ, username)
        target = routeguard.safe_next(request.form.get("next")) or "/"
        form = LOGIN_PAGE.format(error="<p id='error'>Wrong user or password.</p>", action="/login",
                                 next=html.escape(target))
        return form, 401
    result = routeguard.login(request.environ, user.name, next=request.form.get("next"), username=username)
    session.clear()
    # A fresh random value per login: no two logins ever share a cookie, so a cookie revoked at
    # logout cannot come back byte for byte from a login within the same second.
    session.update({"user_id": user.name, "roles": list(user.roles), "tenants": list(user.tenants),
                    "sid": secrets.token_urlsafe(16)})
    return redirect(result.location, code=303)


@app.post("/logout")
def logout() -> Any:
    routeguard.logout(request.environ)  # this cookie is refused from now on, on every worker (or 503)
    session.clear()
    return redirect("/login", code=303)


@app.post("/api/logout")
def api_logout() -> Any:
    result = routeguard.logout(request.environ)  # the token is denied until it expires (or 503)
    return jsonify(revoked=result.revoked)


@app.post("/api/token")
def token() -> Any:
    body = request.get_json(silent=True) or {}
    username = str(body.get("username", ""))
    user = check_password(username, str(body.get("password", "")))
    if user is None:
        routeguard.login_failed(request.environ, username)  # [throttle] login_paths: 429 when over
        return jsonify(error="invalid_grant"), 400
    routeguard.login(request.environ, user.name, username=username)  # resets the username's failures
    return jsonify(access_token=issue_token(user), token_type="Bearer", expires_in=900)


@app.get("/api/me")
def me() -> Any:
    who = identity()
    if who is None:  # unreachable: the policy requires authentication on /api/**
        return jsonify({})
    return jsonify(subject=who.subject, roles=sorted(who.roles), tenants=sorted(who.tenants), backend=who.backend)


@app.get("/dashboard")
def dashboard() -> str:
    who = identity()
    name = html.escape(who.subject) if who else "?"
    return page("Dashboard", f"<p id='who'>Hello {name}.</p>"
                "<form method='post' action='/logout'><button id='logout'>Sign out</button></form>")


@app.get("/admin")
@app.get("/admin/")
def admin() -> str:
    return page("Admin", "<p id='admin'>Only admins see this.</p>")


@app.get("/admin/users")
def admin_users() -> Any:
    return jsonify(users=sorted(USERS))


@app.get("/orgs/<org_id>/projects")
def projects(org_id: str) -> Any:
    return jsonify(org=org_id, projects=[f"{org_id}-website", f"{org_id}-billing"])
