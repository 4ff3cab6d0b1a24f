"""Pyramid example: routeguard's server-side sessions for browsers, bearer tokens for the API;
``request.identity`` is the guard's identity through routeguard's security policy."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response

import routeguard
from examples.demo_users import LOGIN_PAGE, check_password, issue_token, page, use_dev_secrets
from routeguard.integrations.pyramid import guard

use_dev_secrets()  # development defaults for APP_JWT_SECRET / APP_STORE_URL when unset
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
    result = routeguard.login(request.environ, user.name, roles=user.roles, tenants=user.tenants,
                              next=request.POST.get("next"))
    response = HTTPSeeOther(location=result.location)
    for name, value in result.headers:  # Set-Cookie with the new session id
        response.headers.add(name, value)
    return response


def logout(request: Request) -> Response:
    result = routeguard.logout(request.environ)
    response = HTTPSeeOther(location="/login")
    for name, value in result.headers:
        response.headers.add(name, value)
    return response


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
    with Configurator() as config:
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
