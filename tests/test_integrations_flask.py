"""Flask (+ Flask-Login) and Quart integrations, in process through each framework's test client.

Flask-Login's session and "remember me" cookie are credentials the guard reads as the app does;
``current_user`` and ``g.routeguard_identity`` are the guard's identity. Real servers:
tests/test_integrations_servers.py.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("flask_login")

from flask import Flask, g, jsonify
from flask_login import LoginManager, current_user, login_required

from routeguard import Policy, PolicyError
from routeguard.integrations.flask import RouteGuard
from routeguard.testing import mint_token, session_cookie

from .support import BROWSER

SECRET = "flask-login-tests-secret-0123456789abcdef"
JWT = "flask-login-tests-jwt-secret-0123456789abcdef-0123"
_addresses = itertools.count(2)


@pytest.fixture(scope="module")
def example() -> Iterator[Any]:
    """The example app, with an in-process store (never the shared development SQLite file)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APP_STORE_URL", "memory://")
        mp.setenv("APP_SESSION_SECRET", SECRET)
        mp.setenv("APP_JWT_SECRET", JWT)
        module = importlib.import_module("examples.flask_login_app.app")
        yield module.app


def client(app: Flask) -> Any:
    """A test client from its own address (failed-credential throttling is per client)."""
    c = app.test_client()
    n = next(_addresses)
    c.environ_base["REMOTE_ADDR"] = f"127.1.{n // 250}.{n % 250 + 1}"
    return c


def remember_cookie(user_id: str, secret: str = SECRET) -> str:
    import hashlib
    import hmac

    return f"{user_id}|{hmac.new(secret.encode('latin-1'), user_id.encode(), hashlib.sha512).hexdigest()}"


def bearer(subject: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(JWT, subject=subject, aud="routeguard-example")}


def me(c: Any, **kwargs: Any) -> tuple[int, Any]:
    response = c.get("/api/me", **kwargs)
    return response.status_code, response.get_json()


# -- the example ---------------------------------------------------------------------------------
def test_anonymous_is_refused_and_browsers_go_to_the_login_view(example: Any) -> None:
    c = client(example)
    assert me(c) == (401, {"error": "Unauthorized"})
    response = c.get("/dashboard", headers={"Accept": BROWSER})
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=%2Fdashboard"


@pytest.mark.parametrize("user, password, admin", [
    pytest.param("alice", "alice-pass", 403, id="user"),
    pytest.param("root", "root-pass", 200, id="admin"),
])
def test_flask_logins_own_login_is_the_credential(example: Any, user: Any, password: Any, admin: Any) -> None:
    c = client(example)
    done = c.post("/login", data={"username": user, "password": password, "next": "/dashboard"})
    assert done.status_code == 303
    status, body = me(c)
    assert status == 200 and body["username"] == user and body["user_class"] == "User"
    assert body["backend"] == "session"
    assert c.get("/admin").status_code == admin


def test_remember_cookie_alone_is_accepted_as_the_app_accepts_it(example: Any) -> None:
    c = client(example)
    c.post("/login", data={"username": "alice", "password": "alice-pass", "remember": "on"})
    remembered = c.get_cookie("remember_token").value
    fresh = client(example)  # a new browser session: only the remember cookie is left
    fresh.set_cookie("remember_token", remembered)
    assert me(fresh)[1]["username"] == "alice"
    unguarded = plain_flask_login_app()  # what Flask-Login itself makes of the same cookie
    plain = unguarded.test_client()
    plain.set_cookie("remember_token", remembered)
    assert plain.get("/api/me").get_json()["username"] == "alice"


@pytest.mark.parametrize("value", [
    pytest.param(lambda: remember_cookie("alice")[:-1] + "0", id="bad-digest"),
    pytest.param(lambda: remember_cookie("alice", secret="another-secret-0123456789abcdef"), id="other-key"),
    pytest.param(lambda: "alice", id="no-digest"),
    pytest.param(lambda: "|" + remember_cookie("alice").split("|")[1], id="no-user"),
    pytest.param(lambda: remember_cookie("root").replace("root|", "alice|"), id="moved-digest"),
])
def test_remember_cookie_that_does_not_verify_is_401(example: Any, value: Any) -> None:
    c = client(example)
    c.set_cookie("remember_token", value())
    response = c.get("/api/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert c.get("/login").status_code == 200  # a stale cookie never blocks the login page


def test_logged_out_session_ignores_the_remember_cookie(example: Any) -> None:
    c = client(example)
    c.set_cookie("session", session_cookie(SECRET, {"_remember": "clear"}, format="flask"))
    c.set_cookie("remember_token", remember_cookie("alice"))
    response = c.get("/api/me")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("key", ["_user_id", "user_id"])  # Flask-Login 0.6 and 0.4
def test_flask_login_session_keys(example: Any, key: Any) -> None:
    c = client(example)
    c.set_cookie("session", session_cookie(SECRET, {key: "bob", "_fresh": True}, format="flask"))
    assert me(c)[1]["username"] == "bob"


def test_current_user_is_the_guards_identity_on_a_bearer_request(example: Any) -> None:
    status, body = me(client(example), headers=bearer("root"))
    assert (status, body["username"], body["user_class"], body["backend"]) == (200, "root", "User", "bearer")
    page = client(example).get("/dashboard", headers=bearer("bob"))  # @login_required agrees
    assert page.status_code == 200 and b"Hello bob." in page.data
    assert client(example).get("/admin", headers=bearer("bob")).status_code == 403
    assert client(example).get("/admin", headers=bearer("root")).status_code == 200


# -- wiring, either order ------------------------------------------------------------------------
def plain_flask_login_app(guard: str | None = None, policy: Policy | None = None, login_view: str = "login") -> Flask:
    """A Flask-Login app; ``guard`` = "before"/"after" LoginManager(app), None for no guard."""
    app = Flask(__name__)
    app.secret_key = SECRET
    if policy is not None:
        app.config["ROUTEGUARD_POLICY"] = policy
    if guard == "before":
        RouteGuard(app)
    manager = LoginManager(app)
    manager.login_view = login_view
    if guard == "after":
        RouteGuard().init_app(app)

    class User:
        is_authenticated = True
        is_active = True
        is_anonymous = False

        def __init__(self, name: str) -> None:
            self.name = name

        def get_id(self) -> str:
            return self.name

    manager.user_loader(lambda user_id: User(user_id) if user_id in ("alice", "root") else None)

    @app.get("/login")
    def login() -> str:
        return "login"

    @app.get("/api/me")
    @login_required  # type: ignore[untyped-decorator]
    def api_me() -> Any:
        identity = getattr(g, "routeguard_identity", None)
        return jsonify(username=current_user.get_id(), user_class=type(current_user._get_current_object()).__name__,
                       subject=identity.subject if identity else None)

    return app


POLICY = {
    "rules": [{"path": "/login", "access": "public"}, {"path": "/api/**"}],
    "auth": {"bearer": {"algorithms": ["HS256"], "secret": JWT, "audience": "routeguard-example"},
             "session": {"format": "flask-login"},
             "api_key": {"keys": [{"hash": "sha256:" + __import__("hashlib").sha256(b"ci-key-0123456789").hexdigest(),
                                   "subject": "ci-bot"}]}},
}


@pytest.mark.parametrize("order", ["before", "after"])
def test_either_order_with_login_manager(order: Any) -> None:
    app = plain_flask_login_app(order, Policy(**POLICY))
    assert client(app).get("/api/me", headers={"Accept": BROWSER}).headers["Location"] == "/login?next=%2Fapi%2Fme"
    assert me(client(app), headers=bearer("alice"))[1] == {"username": "alice", "user_class": "User",
                                                           "subject": "alice"}
    # an identity the app's user_loader does not know: a user-like object carrying it
    assert me(client(app), headers={"X-API-Key": "ci-key-0123456789"})[1] == {
        "username": "ci-bot", "user_class": "GuardUser", "subject": "ci-bot"}
    c = client(app)
    c.set_cookie("remember_token", remember_cookie("root"))  # the app's secret_key, taken by RouteGuard(app)
    assert me(c)[1]["username"] == "root"


def test_policy_login_url_wins_over_login_view() -> None:
    policy = Policy(**{**POLICY, "login_url": "/login", "rules": [{"path": "/login", "access": "public"},
                                                                   {"path": "/**"}]})
    app = plain_flask_login_app("before", policy, login_view="elsewhere")
    assert client(app).get("/api/me", headers={"Accept": BROWSER}).headers["Location"] == "/login?next=%2Fapi%2Fme"


def test_policy_secret_is_used_when_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_FLASK_LOGIN_SECRET", "the-policy-secret-0123456789abcdef")
    policy = Policy(**{**POLICY, "auth": {"session": {"format": "flask-login", "secret_env": "RG_FLASK_LOGIN_SECRET"}}})
    app = plain_flask_login_app("before", policy)
    c = client(app)
    c.set_cookie("remember_token", remember_cookie("alice", secret="the-policy-secret-0123456789abcdef"))
    assert me(c)[0] == 200
    c = client(app)
    c.set_cookie("remember_token", remember_cookie("alice"))  # the app's key is not the policy's
    assert me(c)[0] == 401


def test_missing_configuration_is_named() -> None:
    with pytest.raises(PolicyError, match="ROUTEGUARD_POLICY"):
        RouteGuard(Flask(__name__))
    app = plain_flask_login_app("before", Policy(**POLICY))
    app.secret_key = None
    with pytest.raises(PolicyError, match="needs the app's secret_key"):
        app.test_client().get("/api/me")


# -- Quart ---------------------------------------------------------------------------------------
def test_quart_identity_in_g_and_flask_format_session() -> None:
    quart = pytest.importorskip("quart")
    from routeguard.integrations.quart import RouteGuard as QuartGuard

    app = quart.Quart(__name__)
    app.secret_key = SECRET
    app.config["ROUTEGUARD_POLICY"] = Policy(**{**POLICY, "auth": {"session": {"format": "flask-login"}}})
    QuartGuard(app)

    @app.get("/api/me")  # type: ignore[untyped-decorator]
    async def api_me() -> Any:
        return {"subject": quart.g.routeguard_identity.subject}

    async def run() -> tuple[int, Any, int]:
        c = app.test_client()
        anonymous = await c.get("/api/me")
        cookie = session_cookie(SECRET, {"_user_id": "alice"}, format="flask")
        signed_in = await c.get("/api/me", headers={"Cookie": f"session={cookie}"})
        forged = await c.get("/api/me", headers={"Cookie": f"session={cookie[:-2]}xx"})
        return anonymous.status_code, await signed_in.get_json(), forged.status_code

    assert asyncio.run(run()) == (401, {"subject": "alice"}, 401)


def test_quart_example_own_login_and_g() -> None:
    pytest.importorskip("quart")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APP_STORE_URL", "memory://")
        mp.setenv("APP_SESSION_SECRET", SECRET)
        mp.setenv("APP_JWT_SECRET", JWT)
        app = importlib.import_module("examples.quart_app.app").app

    async def run() -> tuple[int, int, Any, int, Any]:
        c = app.test_client()
        anonymous = await c.get("/api/me")
        done = await c.post("/login", form={"username": "root", "password": "root-pass", "next": "/dashboard"})
        me_response = await c.get("/api/me")  # the client keeps the session cookie Quart set
        admin = await c.get("/admin")
        token = await app.test_client().get("/api/me", headers=bearer("alice"))
        return anonymous.status_code, done.status_code, await me_response.get_json(), admin.status_code, \
            (await token.get_json())["username"]

    anonymous, done, me_body, admin, token_user = asyncio.run(run())
    assert (anonymous, done, admin, token_user) == (401, 303, 200, "alice")
    assert me_body == {"username": "root", "subject": "root", "roles": ["admin", "user"], "backend": "session"}


def test_integration_session_backends_run_inline_not_as_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like the built-in backends, they do no blocking work outside effects: no thread per request."""
    from routeguard.integrations.flask import FlaskLoginBackend
    from routeguard.integrations.litestar import LitestarSessionBackend
    from routeguard.runtime.guard import Guard

    monkeypatch.setenv("RG_LS_SECRET", "litestar-tests-secret-32-bytes!!")
    flask_login = Guard(Policy(auth={"session": {"format": "flask-login", "secret": SECRET}}))
    litestar = Guard(Policy(auth={"session": {"format": "litestar", "secret_env": "RG_LS_SECRET"}}))
    assert type(flask_login.sources[0].backend) is FlaskLoginBackend
    assert type(litestar.sources[0].backend) is LitestarSessionBackend
    assert flask_login.sources[0].cookie_based is True and litestar.sources[0].cookie_based is True
