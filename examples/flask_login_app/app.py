"""Flask + Flask-Login example: the app's own login (session and "remember me") is the credential
the guard reads, and ``current_user`` is the guard's identity on every allowed request."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, redirect, request
from flask_login import LoginManager, current_user, login_required, login_user, logout_user

import routeguard
from examples.demo_users import LOGIN_PAGE, check_password, issue_token, page, use_dev_secrets
from examples.flask_login_app.users import User, load_user
from routeguard.integrations.flask import RouteGuard

use_dev_secrets()  # development defaults for APP_JWT_SECRET / APP_SESSION_SECRET when unset

app = Flask(__name__)
app.secret_key = os.environ["APP_SESSION_SECRET"]
app.config["ROUTEGUARD_POLICY"] = Path(__file__).with_name("routeguard.toml")
RouteGuard(app)  # before or after LoginManager(app): either order works
login_manager = LoginManager(app)
login_manager.login_view = "login_form"  # the guard's login page too: the policy names none
login_manager.user_loader(load_user)


@app.get("/")
def home() -> str:
    greeting = f"Signed in as {html.escape(current_user.get_id())}." if current_user.is_authenticated \
        else "Not signed in."
    return page("routeguard Flask-Login example", f"<p>{greeting}</p>")


@app.get("/health")
def health() -> Any:
    return jsonify(status="ok")


@app.get("/login")
def login_form() -> str:
    target = routeguard.safe_next(request.args.get("next")) or "/"
    form = LOGIN_PAGE.format(error="", action="/login", next=html.escape(target))
    return form.replace("</form>", "<label><input type='checkbox' name='remember' id='remember'> Remember me"
                                   "</label></form>")


@app.post("/login")
def login() -> Any:
    target = routeguard.safe_next(request.form.get("next")) or "/"
    user = check_password(request.form.get("username", ""), request.form.get("password", ""))
    if user is None:
        return LOGIN_PAGE.format(error="<p id='error'>Wrong user or password.</p>", action="/login",
                                 next=html.escape(target)), 401
    login_user(User(user.name), remember=request.form.get("remember") == "on")  # Flask-Login's own
    return redirect(target, code=303)


@app.post("/logout")
def logout() -> Any:
    routeguard.logout(request.environ)  # this session cookie is refused from now on, on every worker
    logout_user()
    return redirect("/login", code=303)


@app.post("/api/token")
def token() -> Any:
    body = request.get_json(silent=True) or {}
    user = check_password(str(body.get("username", "")), str(body.get("password", "")))
    if user is None:
        return jsonify(error="invalid_grant"), 400
    return jsonify(access_token=issue_token(user), token_type="Bearer", expires_in=900)


@app.get("/api/me")
@login_required  # Flask-Login's own check agrees with the guard
def me() -> Any:
    identity = g.routeguard_identity
    return jsonify(username=current_user.get_id(), user_class=type(current_user._get_current_object()).__name__,
                   subject=identity.subject, roles=sorted(identity.roles), backend=identity.backend)


@app.get("/dashboard")
@login_required
def dashboard() -> str:
    return page("Dashboard", f"<p id='who'>Hello {html.escape(current_user.get_id())}.</p>"
                "<form method='post' action='/logout'><button id='logout'>Sign out</button></form>")


@app.get("/admin")
@app.get("/admin/")
@login_required
def admin() -> str:
    return page("Admin", "<p id='admin'>Only admins see this.</p>")
