"""Session cookies: log in through the real Starlette and Flask apps, then pass the guard."""

from __future__ import annotations

import time
from typing import Any

import pytest

from routeguard import ASGIGuard, AuthenticationError, Policy, RequestView, SessionCookieBackend, WSGIGuard
from routeguard.policy.build import runtime_for
from routeguard.testing import session_cookie

from .support import verified

SECRET = "session-tests-secret-0123456789abcdef"
OTHER = "someone-elses-secret-0123456789abcdef"

POLICY = """
login_url = "/login"
[auth.session]
format = "{format}"
secret_env = "RG_SESSION_TEST"
{extra}
[[rules]]
path = "/login"
access = "public"
[[rules]]
path = "/logout"
access = "public"
[[rules]]
path = "/admin/**"
roles = ["admin"]
[[rules]]
path = "/orgs/{{org}}/**"
tenant = "org"
[[rules]]
path = "/me"
"""


def policy(format: str, extra: str = "") -> Policy:
    return Policy.from_toml_string(POLICY.format(format=format, extra=extra))


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_SESSION_TEST", SECRET)
    monkeypatch.setenv("RG_SESSION_OLD", OTHER)


def starlette_client(format_policy: Policy, secret: str = SECRET) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def login(request: Any) -> Any:
        form = await request.form()
        request.session["user_id"] = form["user"]
        request.session["roles"] = form["roles"].split(",") if form.get("roles") else []
        request.session["tenants"] = ["acme"]
        return PlainTextResponse("ok")

    async def logout(request: Any) -> Any:
        request.session.clear()
        return PlainTextResponse("bye")

    async def whoami(request: Any) -> Any:
        roles = sorted(request.scope["routeguard.identity"].roles)
        return JSONResponse({"subject": request.user.display_name, "roles": roles})

    app = Starlette(
        routes=[Route("/login", login, methods=["POST"]), Route("/logout", logout, methods=["POST"]),
                Route("/me", whoami), Route("/admin/panel", whoami), Route("/orgs/{org}/x", whoami)],
        middleware=[Middleware(SessionMiddleware, secret_key=secret)],
    )
    return TestClient(ASGIGuard(app, policy=format_policy))


def flask_client(format_policy: Policy, secret: str = SECRET) -> Any:
    from flask import Flask, jsonify, request, session

    app = Flask("session-tests")
    app.secret_key = secret

    @app.post("/login")
    def login() -> Any:
        session["user_id"] = request.form["user"]
        session["roles"] = tuple(request.form.get("roles", "").split(",")) if request.form.get("roles") else ()
        session["tenants"] = ["acme"]
        return "ok"

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return "bye"

    def whoami(**_: Any) -> Any:
        identity = request.environ["routeguard.identity"]
        return jsonify({"subject": identity.subject, "roles": sorted(identity.roles)})

    app.add_url_rule("/me", "me", whoami)
    app.add_url_rule("/admin/panel", "admin", whoami)
    app.add_url_rule("/orgs/<org>/x", "orgs", whoami)
    app.wsgi_app = WSGIGuard(app.wsgi_app, policy=format_policy)  # type: ignore[method-assign]
    return app.test_client()


CLIENTS = {"starlette": starlette_client, "flask": flask_client}


def body(response: Any) -> Any:
    """JSON body of a Starlette (httpx) or Flask (werkzeug) test response."""
    return response.get_json() if hasattr(response, "get_json") else response.json()


def session_of(client: Any) -> str:
    if hasattr(client, "get_cookie"):
        return str(client.get_cookie("session").value)
    return str(client.cookies.get("session"))


@pytest.mark.parametrize("framework", ["starlette", "flask"])
def test_login_through_the_real_app_then_pass_the_guard(framework: Any) -> None:
    client = CLIENTS[framework](policy(framework))
    assert client.get("/me").status_code == 401
    assert client.post("/login", data={"user": "alice", "roles": "user"}).status_code == 200
    me = client.get("/me")
    assert me.status_code == 200
    assert body(me) == {"subject": "alice", "roles": ["user"]}
    assert client.get("/admin/panel").status_code == 403
    assert client.get("/orgs/acme/x").status_code == 200
    assert client.get("/orgs/globex/x").status_code == 403
    client.post("/login", data={"user": "root", "roles": "admin,user"})
    assert body(client.get("/admin/panel"))["roles"] == ["admin", "user"]
    client.post("/logout")
    assert client.get("/me").status_code == 401  # the cleared session holds no user: anonymous


@pytest.mark.parametrize("framework", ["starlette", "flask"])
def test_cookie_from_another_secret_is_invalid(framework: Any) -> None:
    attacker = CLIENTS[framework](policy(framework), secret=OTHER)
    attacker.post("/login", data={"user": "mallory", "roles": "admin"})
    forged = session_of(attacker)
    assert forged
    client = CLIENTS[framework](policy(framework))
    client.cookies.set("session", forged) if hasattr(client, "cookies") else client.set_cookie("session", forged)
    reply = client.get("/admin/panel")
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["www-authenticate"]


def view(cookie_header: str) -> RequestView:
    return RequestView(method="GET", path="/", headers={"cookie": cookie_header})


def backend(format: Any = "starlette", **kwargs: Any) -> SessionCookieBackend:
    kwargs.setdefault("secrets", [SECRET])
    return SessionCookieBackend(format=format, **kwargs)


@pytest.mark.parametrize("format", ["starlette", "flask"])
def test_tampered_cookie_is_invalid(format: Any) -> None:
    value = session_cookie(SECRET, {"user_id": "alice", "roles": ["user"]}, format=format)
    signature = value.rpartition(".")[2]
    admin = session_cookie(SECRET, {"user_id": "alice", "roles": ["admin"]}, format=format).rpartition(".")[0]
    flipped = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    for bad in (admin + "." + signature, flipped, "garbage", "a.b.c"):
        with pytest.raises(AuthenticationError):
            backend(format).authenticate(view(f"session={bad}"))


@pytest.mark.parametrize("format", ["starlette", "flask"])
def test_expired_cookie_is_invalid(format: Any) -> None:
    old = session_cookie(SECRET, {"user_id": "alice"}, format=format, signed_at=time.time() - 3600)
    with pytest.raises(AuthenticationError, match="session expired"):
        backend(format, max_age=600).authenticate(view(f"session={old}"))
    assert verified(backend(format, max_age=7200).authenticate(view(f"session={old}"))).identity.subject == "alice"


def test_formats_are_not_interchangeable() -> None:
    starlette_value = session_cookie(SECRET, {"user_id": "alice"}, format="starlette")
    flask_value = session_cookie(SECRET, {"user_id": "alice"}, format="flask")
    with pytest.raises(AuthenticationError):
        backend("flask").authenticate(view(f"session={starlette_value}"))
    with pytest.raises(AuthenticationError):
        backend("starlette").authenticate(view(f"session={flask_value}"))


def test_session_without_user_is_anonymous_not_invalid() -> None:
    value = session_cookie(SECRET, {"csrf": "x", "flash": ["hi"]})
    assert backend().authenticate(view(f"session={value}")) is None


def test_duplicate_cookie_with_different_values_is_refused() -> None:
    a = session_cookie(SECRET, {"user_id": "alice"})
    b = session_cookie(SECRET, {"user_id": "root", "roles": ["admin"]})
    with pytest.raises(AuthenticationError, match="more than once"):
        backend().authenticate(view(f"session={a}; other=1; session={b}"))
    assert verified(backend().authenticate(view(f"session={a}; session={a}"))).identity.subject == "alice"


def test_key_rotation_accepts_the_previous_secret() -> None:
    old_cookie = session_cookie(OTHER, {"user_id": "alice"})
    extra = 'fallback_secret_envs = ["RG_SESSION_OLD"]'
    rotated = Policy.from_toml_string(POLICY.format(format="starlette", extra=extra))
    backend = runtime_for(rotated).backends[0]
    assert verified(backend.authenticate(view(f"session={old_cookie}"))).identity.subject == "alice"
    with pytest.raises(AuthenticationError):
        runtime_for(policy("starlette")).backends[0].authenticate(view(f"session={old_cookie}"))


def test_custom_keys_and_cookie_name() -> None:
    b = backend(cookie="sid", user_key="uid", roles_key="groups", tenants_key="orgs")
    value = session_cookie(SECRET, {"uid": 7, "groups": ["admin"], "orgs": ["acme"]})
    identity = verified(b.authenticate(view(f"session=x; sid={value}"))).identity
    got = (identity.subject, identity.roles, identity.tenants, identity.backend)
    assert got == ("7", frozenset({"admin"}), frozenset({"acme"}), "session")


@pytest.mark.parametrize(("data", "message"), [
    ({"user_id": {"id": 1}}, "not a string"),
    ({"user_id": True}, "not a string"),
    ({"user_id": "a", "roles": "admin"}, None),
    ({"user_id": "a", "roles": [1]}, "not a list of strings"),
])
def test_session_value_types(data: Any, message: Any) -> None:
    value = session_cookie(SECRET, data)
    if message is None:
        assert verified(backend().authenticate(view(f"session={value}"))).identity.roles == {"admin"}
    else:
        with pytest.raises(AuthenticationError, match=message):
            backend().authenticate(view(f"session={value}"))


def test_flask_tagged_values_are_understood() -> None:
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    app = Flask("tags")
    app.secret_key = SECRET
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    value = serializer.dumps({"user_id": "alice", "roles": ("admin", "user"), "tenants": ["acme"], "blob": b"\x00"})
    identity = verified(backend("flask").authenticate(view(f"session={value}"))).identity
    assert identity.roles == {"admin", "user"}
    assert identity.tenants == {"acme"}


def test_revocation_key_is_a_digest_not_the_cookie() -> None:
    value = session_cookie(SECRET, {"user_id": "alice"})
    credential = verified(backend().authenticate(view(f"session={value}")))
    assert credential.revocation_key is not None and credential.expires_at is not None
    assert credential.revocation_key.startswith("cookie:")
    assert value not in credential.revocation_key
    assert credential.expires_at > time.time()
