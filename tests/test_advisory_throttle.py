"""RG-2026-13: the failed-credential throttle was a denial of service for everyone behind one
address (issue 10 item 2).

21 garbage tokens from one address locked every later request from it out with 429 for 300 s,
valid tokens included, also in report mode; expired tokens counted; behind a proxy without
``trusted_proxies`` one attacker locked out everyone. Now: a credential that verifies is never
refused by a lockout; honest failures (expired, revoked, logged out) never count; report mode
enforces nothing; failures on public rules count; failed logins count per client and per
username, and a locked client or username gets 429 on POSTs to ``login_url``.

Every test runs on both adapters (a Starlette app under ASGIGuard, a Flask app under
WSGIGuard); the shared-store variants across two processes are in test_throttle_processes.py.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import routeguard
from routeguard import ASGIGuard, Policy, ServiceUnavailableError, WSGIGuard, hash_key
from routeguard.runtime.guard import Guard
from routeguard.runtime.throttle import client_key, username_key
from routeguard.testing import Reply, call_asgi, call_wsgi

from .support import BROWSER, bearer, cookie, token

PASSWORD = "correct horse"
API_KEY = "rg-test-api-key-0123456789abcdef"
GARBAGE = bearer(token(key="forged-secret-0123456789abcdef-0123456789abcdef"))
ALICE = bearer(token("alice"))
SIGNED_SESSION = 'format = "starlette"\nsecret_env = "RG_TEST_SESSION_SECRET"'
SERVER_SESSION = 'format = "server"\nsecure = false'

POLICY = """
login_url = "/login"
mode = "{mode}"

[store]
url = "{store}"

[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"

[auth.session]
{session}

[auth.api_key]
[[auth.api_key.keys]]
hash = "{api_hash}"
subject = "robot"

[throttle]
max_failures = {max_failures}
window = 60
username_max_failures = {username_max}
username_window = 60
{extra}

[[rules]]
path = "/login"
access = "public"

[[rules]]
path = "/logout"
methods = ["POST"]
access = "public"

[[rules]]
path = "/public"
access = "public"

[[rules]]
path = "/**"
"""


def make_policy(tmp_path: Any, *, mode: str = "enforce", session: str = SIGNED_SESSION, max_failures: int = 3,
                username_max: int = 2, extra: str = "") -> Policy:
    return Policy.from_toml_string(POLICY.format(
        mode=mode, store=f"sqlite:///{tmp_path}/throttle-{uuid.uuid4().hex}.db", session=session,
        api_hash=hash_key(API_KEY), max_failures=max_failures, username_max=username_max, extra=extra))


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def login(request: Any) -> Any:
        if request.method == "GET":
            return JSONResponse({"page": "login"})
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
        else:
            body = dict(await request.form())
        user = str(body.get("username", ""))
        if body.get("password") != PASSWORD:
            wait = await routeguard.alogin_failed(request.scope, user)
            return JSONResponse({"error": "wrong password", "retry_after": wait}, status_code=401)
        result = await routeguard.alogin(request.scope, user, username=user)
        response = JSONResponse({"user": user})
        for name, value in result.headers:
            response.headers.append(name, value)
        return response

    async def logout(request: Any) -> Any:
        result = await routeguard.alogout(request.scope)
        return JSONResponse({"revoked": result.revoked})

    async def page(request: Any) -> Any:
        identity = request.scope["routeguard.identity"]
        return JSONResponse({"subject": identity.subject if identity else None})

    return Starlette(routes=[Route("/login", login, methods=["GET", "POST"]),
                             Route("/logout", logout, methods=["POST"]),
                             Route("/public", page), Route("/me", page)])


def flask_app() -> Any:
    from flask import Flask, jsonify, request

    app = Flask("throttle-tests")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "GET":
            return jsonify(page="login")
        body = request.get_json(silent=True) if request.is_json else request.form
        assert body is not None
        user = str(body.get("username", ""))
        if body.get("password") != PASSWORD:
            wait = routeguard.login_failed(request.environ, user)
            return jsonify(error="wrong password", retry_after=wait), 401
        result = routeguard.login(request.environ, user, username=user)
        response = jsonify(user=user)
        for name, value in result.headers:
            response.headers.add(name, value)
        return response

    @app.post("/logout")
    def logout() -> Any:
        return jsonify(revoked=routeguard.logout(request.environ).revoked)

    def page() -> Any:
        identity = request.environ["routeguard.identity"]
        return jsonify(subject=identity.subject if identity else None)

    app.add_url_rule("/public", "public", page)
    app.add_url_rule("/me", "me", page)
    return app


class Client:
    def __init__(self, kind: str, policy: Policy) -> None:
        self.kind = kind
        self.policy = policy
        self.app: Any = (ASGIGuard(starlette_app(), policy=policy) if kind == "asgi"
                         else WSGIGuard(flask_app().wsgi_app, policy=policy))

    def send(self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Reply:
        call = call_asgi if self.kind == "asgi" else call_wsgi
        return call(self.app, method, target, headers or {}, body=body)

    def get(self, target: str, headers: dict[str, str] | None = None) -> Reply:
        return self.send("GET", target, headers)

    def login(self, username: str | list[str], password: str = "wrong", as_json: bool = False,
              path: str = "/login") -> Reply:
        if as_json:
            body = json.dumps({"username": username, "password": password}).encode()
            return self.send("POST", path, {"Content-Type": "application/json"}, body)
        names = username if isinstance(username, list) else [username]
        form = urlencode([("username", name) for name in names] + [("password", password)]).encode()
        return self.send("POST", path, {"Content-Type": "application/x-www-form-urlencoded"}, form)

    def lock_out(self) -> None:
        """Go over the client limit with garbage tokens: the last one is answered 429."""
        statuses = [self.get("/me", GARBAGE).status for _ in range(4)]
        assert statuses == [401, 401, 401, 429]


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def too_many(reply: Reply) -> bool:
    return reply.status == 429 and 1 <= int(reply.headers["retry-after"]) <= 60


def server_session(client: Client, user: str = "carol") -> dict[str, str]:
    reply = client.login(user, PASSWORD)
    assert reply.status == 200
    return {"Cookie": reply.headers["set-cookie"].split(";", 1)[0]}


# -- a credential that verifies is never refused by a lockout ---------------------------------
@pytest.mark.parametrize("credential", ["bearer", "signed_cookie", "server_session", "api_key"])
def test_rg_2026_13_verified_credentials_are_never_refused_by_a_lockout(
    kind: str, tmp_path: Path, credential: Any
) -> None:
    client = Client(kind, make_policy(tmp_path, session=SERVER_SESSION if credential == "server_session"
                                      else SIGNED_SESSION))
    credentials: dict[str, Callable[[], tuple[dict[str, str], str]]] = {
        "bearer": lambda: (ALICE, "alice"),
        "signed_cookie": lambda: (cookie({"user_id": "dave"}), "dave"),
        "server_session": lambda: (server_session(client), "carol"),
        "api_key": lambda: ({"X-API-Key": API_KEY}, "robot"),
    }
    valid, subject = credentials[credential]()
    client.lock_out()
    for _ in range(3):
        assert client.get("/me", valid).json() == {"subject": subject}
        assert too_many(client.get("/me", GARBAGE))  # further invalid credentials: 429
    assert too_many(client.get("/me", {"X-API-Key": "guessed-key"}))
    browser = client.get("/me", {**GARBAGE, "Accept": BROWSER})
    assert too_many(browser) and browser.headers["content-type"].startswith("text/html")


def test_rg_2026_13_one_attacker_behind_an_untrusted_proxy_cannot_lock_out_other_clients(
    kind: str, tmp_path: Path
) -> None:
    """Without trusted_proxies every client is the proxy: they share a counter, but a guesser
    only stops the guessing; everyone's valid credentials keep working."""
    client = Client(kind, make_policy(tmp_path))
    for _ in range(4):
        client.get("/me", {**GARBAGE, "X-Forwarded-For": "203.0.113.66"})
    for victim in ("198.51.100.1", "198.51.100.2"):
        assert client.get("/me", {**ALICE, "X-Forwarded-For": victim}).status == 200
    trusted = Client(kind, make_policy(tmp_path, extra='trusted_proxies = ["127.0.0.0/8"]'))
    for _ in range(4):
        last = trusted.get("/me", {**GARBAGE, "X-Forwarded-For": "203.0.113.66"})
    assert too_many(last)
    assert trusted.get("/me", {**GARBAGE, "X-Forwarded-For": "198.51.100.1"}).status == 401  # its own counter


# -- honest failures do not count -------------------------------------------------------------
HONEST = ["expired_token", "revoked_token", "logged_out_cookie", "expired_cookie", "ended_server_session"]


def honest_credential(client: Client, case: str) -> dict[str, str]:
    if case == "expired_token":
        return bearer(token("alice", exp=int(time.time()) - 3600))
    if case == "revoked_token":
        revoked = bearer(token("alice", jti=str(uuid.uuid4())))
        assert client.send("POST", "/logout", revoked).json() == {"revoked": True}
        return revoked
    if case == "logged_out_cookie":
        session = cookie({"user_id": "dave", "n": uuid.uuid4().hex}, signed_at=time.time() - 5)
        assert client.send("POST", "/logout", session).json() == {"revoked": True}
        return session
    if case == "expired_cookie":
        return cookie({"user_id": "dave"}, signed_at=time.time() - 30 * 24 * 3600)
    session = server_session(client)
    assert client.send("POST", "/logout", session).json() == {"revoked": True}
    return session


@pytest.mark.parametrize("case", HONEST)
def test_rg_2026_13_expired_revoked_and_logged_out_credentials_do_not_count(
    kind: str, tmp_path: Path, case: Any
) -> None:
    client = Client(kind, make_policy(tmp_path, session=SERVER_SESSION if case == "ended_server_session"
                                      else SIGNED_SESSION))
    stale = honest_credential(client, case)
    replies = [client.get("/me", stale) for _ in range(10)]
    assert {r.status for r in replies} == {401}
    assert 'error="invalid_token"' in replies[-1].headers["www-authenticate"]  # the SPA refreshes
    # The counter never moved: the full allowance of guesses is still there.
    assert [client.get("/me", GARBAGE).status for _ in range(4)] == [401, 401, 401, 429]
    # Locked out now, yet an honest failure still gets its 401, not 429.
    assert client.get("/me", stale).status == 401


# -- report mode ------------------------------------------------------------------------------
def test_rg_2026_13_report_mode_logs_a_would_be_429_and_enforces_nothing(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(kind, make_policy(tmp_path, mode="report"))
    with caplog.at_level(logging.INFO, logger="routeguard"):
        statuses = [client.get("/me", GARBAGE).status for _ in range(6)]
        assert statuses == [200] * 6  # report mode: every request reaches the app
        assert client.get("/me", ALICE).json() == {"subject": "alice"}
        for _ in range(3):
            assert client.login("alice").status == 401  # the app's own answer, never the guard's 429
        assert client.login("alice", PASSWORD).status == 200
        assert client.get("/public", ALICE).json() == {"subject": "alice"}  # not ignored either
    would = [r.getMessage() for r in caplog.records if "would refuse" in r.getMessage()]
    assert any("too_many_requests (too many failed credentials" in m for m in would)
    assert any("too_many_requests (too many failed logins" in m for m in would)


# -- public rules -----------------------------------------------------------------------------
def test_rg_2026_13_failures_on_public_rules_count_and_a_locked_client_is_anonymous_there(
    kind: str, tmp_path: Path
) -> None:
    client = Client(kind, make_policy(tmp_path))
    for _ in range(5):  # a public page that shows the user is an oracle: guesses there count
        reply = client.get("/public", GARBAGE)
        assert reply.status == 200 and reply.json() == {"subject": None}  # the page still answers
    assert too_many(client.get("/me", GARBAGE))  # the same counter, on any rule
    assert client.get("/public", ALICE).json() == {"subject": None}  # ignored: no oracle
    assert client.get("/me", ALICE).json() == {"subject": "alice"}  # never refused where needed
    assert client.get("/login").status == 200  # the login page answers


def test_rg_2026_13_a_client_that_is_not_locked_keeps_its_identity_on_public_rules(kind: str, tmp_path: Path) -> None:
    client = Client(kind, make_policy(tmp_path))
    assert [client.get("/public", GARBAGE).status for _ in range(2)] == [200, 200]
    assert client.get("/public", ALICE).json() == {"subject": "alice"}


# -- password guessing at the login form ------------------------------------------------------
@pytest.mark.parametrize("as_json", [pytest.param(False, id="form"), pytest.param(True, id="json")])
def test_rg_2026_13_failed_logins_lock_the_username(kind: str, tmp_path: Path, as_json: Any) -> None:
    client = Client(kind, make_policy(tmp_path, max_failures=10, username_max=2))
    first = client.login("alice", as_json=as_json)
    assert first.status == 401 and first.json()["retry_after"] is None
    second = client.login("alice", as_json=as_json)
    assert second.status == 401 and 1 <= second.json()["retry_after"] <= 60  # now locked
    locked = client.login("alice", PASSWORD, as_json=as_json)
    assert too_many(locked)  # even the right password: a guess must not learn it was right
    assert too_many(client.login(" ALICE ", PASSWORD, as_json=as_json))  # one user, however typed
    assert too_many(client.login("alice", PASSWORD, as_json=as_json, path="/login/"))  # as rules match
    assert client.login("bob", PASSWORD, as_json=as_json).status == 200  # other users sign in
    assert client.get("/login").status == 200  # the form still answers
    assert client.get("/me", ALICE).json() == {"subject": "alice"}  # her tokens keep working


def test_rg_2026_13_a_repeated_username_field_cannot_dodge_the_lock(kind: str, tmp_path: Path) -> None:
    """werkzeug reads the first value of a repeated field, Starlette and Django the last."""
    client = Client(kind, make_policy(tmp_path, max_failures=10, username_max=2))
    client.login("alice")
    client.login("alice")
    assert too_many(client.login(["bob", "alice"], PASSWORD))
    assert too_many(client.login(["alice", "bob"], PASSWORD))


def test_rg_2026_13_failed_logins_lock_the_client(kind: str, tmp_path: Path) -> None:
    client = Client(kind, make_policy(tmp_path, max_failures=3, username_max=10))
    replies = [client.login(name) for name in ("ann", "ben", "cy")]  # password spraying
    assert [r.status for r in replies] == [401, 401, 401] and replies[-1].json()["retry_after"] is not None
    assert too_many(client.login("dee", PASSWORD))
    assert too_many(client.get("/me", GARBAGE))  # one counter for guessed credentials and logins
    assert client.get("/me", ALICE).status == 200
    assert client.get("/login").status == 200


def test_rg_2026_13_login_paths_are_throttled_like_the_login_url(kind: str, tmp_path: Path) -> None:
    client = Client(kind, make_policy(tmp_path, max_failures=10, username_max=2,
                                      extra='login_paths = ["/api/token"]'))
    client.login("alice")
    client.login("alice")
    assert too_many(client.login("alice", PASSWORD, path="/api/token"))  # a password grant, say
    assert client.login("bob", PASSWORD, path="/api/token").status == 401  # not throttled: the rule decides
    assert client.login("alice", PASSWORD, path="/api/other").status == 401  # not a login path


def test_rg_2026_13_a_locked_out_client_gets_429_at_the_login_form(kind: str, tmp_path: Path) -> None:
    client = Client(kind, make_policy(tmp_path))
    client.lock_out()
    assert too_many(client.login("alice", PASSWORD))


def test_rg_2026_13_successful_login_resets_the_username(kind: str, tmp_path: Path) -> None:
    client = Client(kind, make_policy(tmp_path, max_failures=10, username_max=2))
    assert client.login("alice").status == 401
    assert client.login("alice", PASSWORD).status == 200  # resets alice's counter
    assert client.login("alice").status == 401
    assert client.login("alice", PASSWORD).status == 200  # one failure since the reset: not locked


def test_rg_2026_13_login_is_never_unthrottled_when_the_store_fails(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = make_policy(tmp_path)
    client = Client(kind, policy)
    store = Guard.for_policy(policy).store

    def down(*_: Any) -> Any:
        raise ServiceUnavailableError("store down")

    for name in ("get", "aget"):
        monkeypatch.setattr(store, name, down)
    assert client.login("alice", PASSWORD).status == 503
    assert client.get("/login").status == 200  # the page itself never needs the store


def test_rg_2026_13_login_failed_without_a_throttle_counts_nothing(kind: str, tmp_path: Path) -> None:
    client = Client(kind, make_policy(tmp_path, extra="enabled = false"))
    for _ in range(5):
        reply = client.login("alice")
        assert reply.status == 401 and reply.json()["retry_after"] is None
    assert client.login("alice", PASSWORD).status == 200


# -- settings ---------------------------------------------------------------------------------
@pytest.mark.parametrize("line", [
    pytest.param("username_max_failures = 0", id="zero-limit"),
    pytest.param("username_window = 0", id="zero-window"),
    pytest.param('username_field = ""', id="empty-field"),
    pytest.param("username_limit = 5", id="unknown-key"),
    pytest.param('trusted_proxies = ["proxy.example"]', id="not-a-network"),
    pytest.param('login_paths = ["api/token"]', id="login-path-not-absolute"),
    pytest.param('login_paths = ["/api/*"]', id="login-path-glob"),
])
def test_rg_2026_13_throttle_settings_are_strict(line: Any) -> None:
    with pytest.raises(routeguard.PolicyError, match="throttle"):
        Policy.from_toml_string(f"[throttle]\n{line}\n")


def test_rg_2026_13_default_limits() -> None:
    throttle = Policy().throttle
    assert (throttle.max_failures, throttle.window) == (20, 300)
    assert (throttle.username_max_failures, throttle.username_window, throttle.username_field) == (5, 900, "username")


# -- the example apps -------------------------------------------------------------------------
@pytest.mark.parametrize("app", ["fastapi", "flask"])
def test_rg_2026_13_example_login_views_report_failed_logins(app: Any) -> None:
    if app == "fastapi":
        from starlette.testclient import TestClient

        from examples.fastapi_app.app import app as asgi_app
        from examples.fastapi_app.app import policy

        client: Any = TestClient(asgi_app, follow_redirects=False)
    else:
        from examples.flask_app.app import app as flask_example
        from examples.flask_app.app import policy

        client = flask_example.test_client()

    def login(password: str) -> Any:
        return client.post("/login", data={"username": "bob", "password": password, "next": "/dashboard"})

    throttle = Guard.for_policy(policy).throttle
    assert throttle is not None
    try:
        assert [login("wrong").status_code for _ in range(4)] == [401] * 4
        assert login("bob-pass").status_code == 303  # routeguard.login resets bob's counter
        assert [login("wrong").status_code for _ in range(5)] == [401] * 5  # 4 + 5 > 5 without the reset
        locked = login("bob-pass")
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert client.get("/login").status_code == 200
        # The JSON API's password grant is a [throttle] login_paths entry: the same limits.
        grants = [client.post("/api/token", json={"username": "root", "password": "wrong"}) for _ in range(5)]
        assert [g.status_code for g in grants] == [400] * 5
        assert client.post("/api/token", json={"username": "root", "password": "root-pass"}).status_code == 429
    finally:
        for key in (username_key("bob"), username_key("root"), client_key("testclient"), client_key("127.0.0.1")):
            throttle.store.delete(key)


@pytest.mark.parametrize(("content_type", "body", "expected"), [
    pytest.param("application/x-www-form-urlencoded", b"username=al%20ice&password=x", ("al ice",), id="form"),
    pytest.param("application/x-www-form-urlencoded; charset=utf-8", b"username=a&username=b&username=c",
                 ("a", "c"), id="form-repeated-first-and-last"),
    pytest.param("application/json", b'{"username": "bob", "password": "x"}', ("bob",), id="json"),
    pytest.param("application/vnd.api+json", b'{"username": "bob"}', ("bob",), id="json-suffix"),
    pytest.param("application/json", b'{"username": "a", "username": "b"}', ("a", "b"), id="json-repeated"),
    pytest.param("application/json", b'{"profile": {"username": "bob"}}', (), id="json-nested-is-not-the-field"),
    pytest.param("application/json", b'{"username": 7}', (), id="json-not-a-string"),
    pytest.param("application/json", b'["username", "bob"]', (), id="json-not-an-object"),
    pytest.param("application/json", b'{"username": "bob"', (), id="json-malformed"),
    pytest.param("application/x-www-form-urlencoded", b"username=\xff", ("\ufffd",), id="not-utf8-replaced"),
    pytest.param("multipart/form-data; boundary=x", b"--x\r\n", None, id="multipart-malformed-unreadable"),
    pytest.param(None, b"username=bob", ("bob",), id="no-content-type-read-as-form"),
])
def test_rg_2026_13_the_login_username_is_read_from_form_and_json_bodies(
    content_type: Any, body: Any, expected: Any
) -> None:
    from routeguard.runtime.throttle import usernames_in

    assert usernames_in(content_type, body, "username") == expected
