"""Framework integrations behind real servers: each example joins its framework's own login.

For every example app: anonymous API 401, browser 302 to the app's own login page, the app's
own login accepted as the credential, a user 403 on admin, an admin 200, and the framework's
own idiom (``request.user``, ``current_user``, ``Depends``, ...) seeing the guard's identity.
Each app runs in its own process on a free 127.0.0.1 port (uvicorn, gunicorn).
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from .e2e.model import AUDIENCE, BROWSER, JWT_SECRET, USERS
from .e2e.servers import Server, _gunicorn_flags, fresh_source
from .support import require

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class App:
    """One example app under one server, and how its own login works."""

    id: str
    server: str  # "uvicorn" or "gunicorn"
    target: str  # module:attribute
    env: dict[str, str] = field(default_factory=dict)
    prepare: tuple[str, ...] = ()  # a command run once before the server starts (tables, users)
    slash: str = ""  # Django routes end in "/"
    login: str = "/login"
    session_cookie: str = "session"
    csrf: bool = False  # the login form carries Django's CSRF token
    remember: str = ""  # the "remember me" cookie the login sets when asked to
    needs: str = ""  # a module that must be importable

    def path(self, name: str) -> str:
        return name + self.slash


APPS = [
    App("fastapi-uvicorn", "uvicorn", "examples.fastapi_app.app:app", needs="fastapi"),
    App("starlette-uvicorn", "uvicorn", "examples.starlette_app.app:app"),
    App("django-db-uvicorn", "uvicorn", "examples.django_app.asgi:application", slash="/", login="/login/",
        env={"DJANGO_SETTINGS_MODULE": "examples.django_app.settings",
             "APP_SESSION_ENGINE": "django.contrib.sessions.backends.db"},
        prepare=("examples.django_app", "check"), session_cookie="sessionid", csrf=True, needs="django"),
    App("django-signed-cookies-gunicorn", "gunicorn", "examples.django_app.wsgi:application", slash="/",
        login="/login/", env={"DJANGO_SETTINGS_MODULE": "examples.django_app.settings",
                              "APP_SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies"},
        prepare=("examples.django_app", "check"), session_cookie="sessionid", csrf=True, needs="django"),
    App("litestar-uvicorn", "uvicorn", "examples.litestar_app.app:app",
        env={"APP_LITESTAR_SECRET": "e2e-litestar-secret-of-32-bytes!"}, needs="litestar"),
    App("quart-uvicorn", "uvicorn", "examples.quart_app.app:app", needs="quart"),
    App("pyramid-gunicorn", "gunicorn", "examples.pyramid_app.app:app", needs="pyramid"),
    App("bottle-gunicorn", "gunicorn", "examples.bottle_app.app:app", needs="bottle"),
    App("flask-login-gunicorn", "gunicorn", "examples.flask_login_app.app:app", remember="remember_token",
        needs="flask_login"),
]


def _start(app: App, tmp: Path) -> Server:
    require(importlib.util.find_spec(app.needs or "httpx") is not None, app.needs)
    env = {"APP_DJANGO_DB": str(tmp / "app.db"), **app.env}
    prefix = ["env", *(f"{k}={v}" for k, v in env.items())]
    if app.prepare:  # tables and demo users, once, before the server starts
        subprocess.run([sys.executable, "-m", *app.prepare], cwd=Path(__file__).resolve().parents[1],
                       env={**os.environ, "APP_JWT_SECRET": JWT_SECRET, **env}, check=True, timeout=120,
                       capture_output=True)
    if app.server == "uvicorn":
        command = [*prefix, sys.executable, "-m", "uvicorn", app.target, "--host", "127.0.0.1", "--port", "{port}",
                   "--no-access-log", "--log-level", "warning"]
    else:
        command = [*prefix, sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "gthread",
                   "--threads", "2", "--bind", "127.0.0.1:{port}", "--log-level", "warning", *_gunicorn_flags(),
                   app.target]
    server = Server(app.server, app.id, command, tmp)
    try:
        server.wait_ready(workers=2 if app.server == "gunicorn" else 1)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module", params=APPS, ids=[a.id for a in APPS])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, Server]]:
    app: App = request.param
    server = _start(app, tmp_path_factory.mktemp(app.id))
    yield app, server
    errors = server.errors()
    server.stop()
    assert not errors, "\n".join(errors)


def client() -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=fresh_source()), follow_redirects=False,
                        timeout=10)


def token(subject: str) -> dict[str, str]:
    """A bearer token as the examples' /api/token issues it (apps that load roles ignore these)."""
    _, roles, tenants = USERS[subject]
    claims = {"sub": subject, "aud": AUDIENCE, "exp": 2**31 - 1, "roles": sorted(roles), "tenants": sorted(tenants)}
    return {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")}


def log_in(app: App, server: Server, user: str, password: str, cookie: str = "") -> dict[str, str]:
    """Sign in through the app's own login form; the cookie header its login set (``cookie``:
    which one; the session cookie by default)."""
    cookie = cookie or app.session_cookie
    with client() as c:
        data = {"username": user, "password": password, "next": "/", "remember": "on"}
        if app.csrf:
            form = c.get(server.url + app.login)
            found = re.search(r"name='csrfmiddlewaretoken' value='([^']+)'", form.text)
            assert found, form.text
            data["csrfmiddlewaretoken"] = html.unescape(found.group(1))
        done = c.post(server.url + app.login, data=data)
        assert done.status_code in (302, 303), done.text
        value = c.cookies.get(cookie)
    assert value, f"the login set no {cookie!r} cookie"
    return {"Cookie": f"{cookie}={value}"}


def get(server: Server, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    with client() as c:
        return c.get(server.url + path, headers=headers or {})


def test_anonymous_api_client_gets_401(served: Any) -> None:
    app, server = served
    response = get(server, app.path("/api/me"))
    assert response.status_code == 401 and response.json() == {"error": "Unauthorized"}


def test_anonymous_browser_is_sent_to_the_apps_login(served: Any) -> None:
    app, server = served
    response = get(server, app.path("/dashboard"), {"Accept": BROWSER})
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location.path == app.login and "next=%2Fdashboard" in location.query


@pytest.mark.parametrize("user, password, admin", [
    pytest.param("alice", "alice-pass", 403, id="user"),
    pytest.param("root", "root-pass", 200, id="admin"),
])
def test_the_apps_own_login_is_the_credential(served: Any, user: Any, password: Any, admin: Any) -> None:
    app, server = served
    cookie = log_in(app, server, user, password)
    me = get(server, app.path("/api/me"), cookie)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == user  # the framework's own idiom sees the guard's identity
    assert get(server, app.path("/admin"), cookie).status_code == admin
    assert get(server, app.path("/dashboard"), {**cookie, "Accept": BROWSER}).status_code == 200


def test_bearer_identity_reaches_the_apps_own_idiom(served: Any) -> None:
    app, server = served
    page = get(server, app.path("/dashboard"), token("root"))
    assert page.status_code == 200 and "Hello root." in page.text
    me = get(server, app.path("/api/me"), token("alice"))
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert get(server, app.path("/admin"), token("alice")).status_code == 403
    assert get(server, app.path("/admin"), token("root")).status_code == 200


def test_a_forged_session_cookie_is_refused(served: Any) -> None:
    app, server = served
    response = get(server, app.path("/api/me"), {"Cookie": f"{app.session_cookie}=forged-0123456789abcdef"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'




def test_remember_me_cookie_alone_is_accepted(served: Any) -> None:
    app, server = served
    if not app.remember:
        pytest.skip(f"{app.id} has no remember-me cookie")
    cookie = log_in(app, server, "alice", "alice-pass", cookie=app.remember)
    me = get(server, app.path("/api/me"), cookie)
    assert me.status_code == 200 and me.json()["username"] == "alice"
    forged = {"Cookie": cookie["Cookie"].replace("alice|", "root|")}
    assert get(server, app.path("/api/me"), forged).status_code == 401
