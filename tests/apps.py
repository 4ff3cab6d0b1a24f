"""Small Starlette and Flask apps that use routeguard.login/logout, for session tests."""

from __future__ import annotations

from typing import Any

import routeguard
from routeguard import ASGIGuard, Policy, WSGIGuard
from routeguard.testing import Reply, call_asgi, call_wsgi

POLICY = """
login_url = "/login"

[store]
url = "{store}"

[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"

[auth.session]
{session}

[[rules]]
path = "/login"
access = "public"

[[rules]]
path = "/logout"
methods = ["POST"]
access = "public"

[[rules]]
path = "/admin/**"
roles = ["admin"]

[[rules]]
path = "/orgs/{{org}}/**"
tenant = "org"

[[rules]]
path = "/ws/{{org}}"
tenant = "org"

[[rules]]
path = "/me"
"""

PASSWORD = "right"  # a login body with another "password" is a failed login (login_failed)
SERVER_SESSION = 'format = "server"\nidle_timeout = {idle}\nmax_age = {max_age}\nsecure = {secure}'
STARLETTE_SESSION = 'format = "starlette"\nsecret_env = "RG_TEST_SESSION_SECRET"'


def policy(store: str, session: str | None = None, extra: str = "", **settings: Any) -> Policy:
    if session is None:
        session = SERVER_SESSION.format(idle=settings.get("idle", 1800), max_age=settings.get("max_age", 3600),
                                        secure=str(settings.get("secure", True)).lower())
    return Policy.from_toml_string(POLICY.format(store=store, session=session) + extra)


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, RedirectResponse
    from starlette.routing import Route, WebSocketRoute

    async def feed(websocket: Any) -> None:
        await websocket.accept()
        await websocket.send_json({"hello": websocket.scope["routeguard.identity"].subject,
                                   "org": websocket.path_params["org"]})
        await websocket.close()

    async def login(request: Any) -> Any:
        body = await request.json()
        if "password" in body and body["password"] != PASSWORD:
            wait = await routeguard.alogin_failed(request.scope, body["user"])
            return JSONResponse({"retry_after": wait}, status_code=401)
        result = await routeguard.alogin(request.scope, body["user"], roles=body.get("roles", ()),
                                         tenants=body.get("tenants", ()), next=body.get("next"))
        response = RedirectResponse(result.location, status_code=303)
        for name, value in result.headers:
            response.headers.append(name, value)
        return response

    async def logout(request: Any) -> Any:
        result = await routeguard.alogout(request.scope)
        response = JSONResponse({"revoked": result.revoked})
        for name, value in result.headers:
            response.headers.append(name, value)
        return response

    async def me(request: Any) -> Any:
        identity = request.scope["routeguard.identity"]
        return JSONResponse({"subject": identity.subject, "roles": sorted(identity.roles)})

    return Starlette(routes=[Route("/login", login, methods=["POST"]), Route("/logout", logout, methods=["POST"]),
                             Route("/me", me), Route("/admin/x", me), Route("/orgs/{org}/x", me),
                             WebSocketRoute("/ws/{org}", feed)])


def flask_app() -> Any:
    from flask import Flask, jsonify, redirect, request

    app = Flask("session-apps")

    @app.post("/login")
    def login() -> Any:
        body = request.get_json()
        if "password" in body and body["password"] != PASSWORD:
            return jsonify(retry_after=routeguard.login_failed(request.environ, body["user"])), 401
        result = routeguard.login(request.environ, body["user"], roles=body.get("roles", ()),
                                  tenants=body.get("tenants", ()), next=body.get("next"))
        response = redirect(result.location, 303)
        for name, value in result.headers:
            response.headers.add(name, value)
        return response

    @app.post("/logout")
    def logout() -> Any:
        result = routeguard.logout(request.environ)
        response = jsonify(revoked=result.revoked)
        for name, value in result.headers:
            response.headers.add(name, value)
        return response

    def me(**_: Any) -> Any:
        identity = request.environ["routeguard.identity"]
        return jsonify(subject=identity.subject, roles=sorted(identity.roles))

    app.add_url_rule("/me", "me", me)
    app.add_url_rule("/admin/x", "admin", me)
    app.add_url_rule("/orgs/<org>/x", "orgs", me)
    return app


class Client:
    """Send requests to one guarded app, over one adapter."""

    def __init__(self, kind: str, policy: Policy) -> None:
        self.kind = kind
        if kind == "asgi":
            self.app: Any = ASGIGuard(starlette_app(), policy=policy)
        else:
            self.app = WSGIGuard(flask_app().wsgi_app, policy=policy)

    def send(self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Reply:
        call = call_asgi if self.kind == "asgi" else call_wsgi
        return call(self.app, method, target, headers or {}, body=body)

    def login(self, user: str, roles: list[str] | None = None, cookie: str | None = None, **extra: Any) -> Reply:
        import json

        headers = {"Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = cookie
        body = json.dumps({"user": user, "roles": roles or [], **extra}).encode()
        return self.send("POST", "/login", headers, body)


def set_cookies(reply: Reply) -> list[str]:
    return [v for k, v in reply.raw_headers if k.lower() == "set-cookie"]


def session_cookie_of(reply: Reply, name: str = "session") -> str:
    for header in set_cookies(reply):
        if header.startswith(name + "="):
            return header.split(";", 1)[0]
    raise AssertionError(f"no {name} cookie in {set_cookies(reply)}")
