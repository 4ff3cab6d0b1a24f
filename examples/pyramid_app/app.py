"""Pyramid example: Pyramid's own signed cookie session for browsers (``format = "pyramid"``),
bearer tokens for the API; ``request.identity`` is the guard's identity through routeguard's
security policy."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response
from pyramid.session import SignedCookieSessionFactory

import routeguard
from examples.demo_users import LOGIN_PAGE, check_password, issue_token, page, use_dev_secrets
from routeguard.integrations.pyramid import guard

use_dev_secrets()  # development defaults for APP_JWT_SECRET / APP_SESSION_SECRET / APP_STORE_URL when unset
policy = routeguard.Policy.from_toml(Path(__file__).with_name("routeguard.toml"))


def home(request: Request) -> Response:
    who = request.identity
    greeting = f"Signed in as {html.escape(who.subject)}." if who else "Not signed in."
    return Response(page("routeguard Pyramid example", f"<p>{greeting}</p>"))


def health(request: Request) -> Any:
    return {"status": "ok"}


def login_form(request: Request) -> Response:
    target = routeguard.safe_next(request.params.get("next")) or "/"
    return Response(LOGIN_PAGE.format(error="", action="/login", next=html.escape(target)))


def login(request: Request) -> Response:
    user = check_password(request.POST.get("username", ""), request.POST.get("password", ""))
    if user is None:
        target = html.escape(routeguard.safe_next(request.POST.get("next")) or "/")
        form = LOGIN_PAGE.format(error="<p id='error'>Wrong user or password.</p>", action="/login", next=target)
        return Response(form, status=401)
    request.session.invalidate()  # Pyramid's own session: the guard reads it (format = "pyramid")
    request.session.update({"user_id": user.name, "roles": list(user.roles), "tenants": list(user.tenants)})
    return HTTPSeeOther(location=routeguard.safe_next(request.POST.get("next")) or "/")


def logout(request: Request) -> Response:
    routeguard.logout(request.environ)  # this session is refused from now on, on every worker
    request.session.invalidate()
    return HTTPSeeOther(location="/login")


def token(request: Request) -> Response:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = {}
    user = check_password(str(body.get("username", "")), str(body.get("password", "")))
    if user is None:
        return Response(json_body={"error": "invalid_grant"}, status=400)
    return Response(json_body={"access_token": issue_token(user), "token_type": "Bearer", "expires_in": 900})


def me(request: Request) -> Any:
    who = request.identity  # Pyramid's own idiom: the guard's identity
    return {"username": request.authenticated_userid, "subject": who.subject, "roles": sorted(who.roles),
            "backend": who.backend}


def dashboard(request: Request) -> Response:
    return Response(page("Dashboard", f"<p id='who'>Hello {html.escape(request.authenticated_userid)}.</p>"))


def admin(request: Request) -> Response:
    return Response(page("Admin", "<p id='admin'>Only admins see this.</p>"))


def make_app() -> Any:
    sessions = SignedCookieSessionFactory(os.environ["APP_SESSION_SECRET"], httponly=True,
                                          secure=False)  # plain-HTTP development server only
    with Configurator(session_factory=sessions) as config:
        config.include("routeguard.integrations.pyramid")  # request.identity from the guard
        for name, path, view, method, renderer in [
            ("home", "/", home, "GET", None), ("health", "/health", health, "GET", "json"),
            ("login_form", "/login", login_form, "GET", None), ("login", "/login", login, "POST", None),
            ("logout", "/logout", logout, "POST", None), ("token", "/api/token", token, "POST", None),
            ("me", "/api/me", me, "GET", "json"), ("dashboard", "/dashboard", dashboard, "GET", None),
            ("admin", "/admin", admin, "GET", None),
        ]:
            config.add_route(name, path, request_method=method)
            config.add_view(view, route_name=name, renderer=renderer)
        return guard(config.make_wsgi_app(), policy)  # the guard outside Pyramid's router


app = make_app()
