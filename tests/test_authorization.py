"""Authorization depth on both adapters: membership hook, ownership checks, hide, report mode,
audit events and counters, CORS preflight, CSRF, throttling, mounts and websockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from routeguard import ASGIGuard, Policy, WSGIGuard
from routeguard.runtime.guard import Guard
from routeguard.testing import asgi_scope, call_asgi, call_wsgi

from . import custom_backends
from .support import BROWSER, bearer, cookie, flask_app, sender, starlette_app, token

AUTH = """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"
[auth.session]
format = "starlette"
secret_env = "RG_TEST_SESSION_SECRET"
"""


def make(top: str = "", rules: str = "", extra: str = "") -> Policy:
    return Policy.from_toml_string(top + AUTH + extra + rules)


ALICE = bearer(token("alice", roles=("user",), tenants=("acme",)))
BOB = bearer(token("bob", roles=("user",), tenants=("globex",)))


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: Any) -> Any:
    return request.param


@pytest.mark.parametrize("hook", ["is_member", "ais_member"])
def test_membership_hook(kind: str, hook: Any) -> None:
    custom_backends.MEMBER_CALLS.clear()
    policy = make(f'tenant_membership = "tests.custom_backends:{hook}"\n',
                  '[[rules]]\npath = "/orgs/{org_id}/**"\ntenant = "org_id"\n')
    send = sender(kind, policy)
    assert send("GET", "/orgs/acme/x", ALICE).status == 200  # from the token: no hook call
    assert custom_backends.MEMBER_CALLS == []
    assert send("GET", "/orgs/initech/x", ALICE).status == 200  # from the hook
    assert send("GET", "/orgs/initech/y", ALICE).status == 200
    assert custom_backends.MEMBER_CALLS == [("alice", "initech")]  # cached
    assert send("GET", "/orgs/globex/x", ALICE).status == 403  # cross-tenant: neither says yes
    assert send("GET", "/orgs/initech/x", BOB).status == 403
    assert send("GET", "/orgs/initech/x").status == 401


def test_membership_hook_failure_refuses(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(identity: Any, tenant: Any) -> None:
        raise ConnectionError("db down")

    policy = make(rules='[[rules]]\npath = "/orgs/{org_id}/**"\ntenant = "org_id"\n')
    policy = Policy(**{**policy.model_dump(), "tenant_membership": broken})
    send = sender(kind, policy)
    assert send("GET", "/orgs/initech/x", ALICE).status == 503
    assert send("GET", "/orgs/acme/x", ALICE).status == 200


@pytest.mark.parametrize("check", ["owns_document", "aowns_document"])
def test_ownership_check(kind: str, check: Any) -> None:
    ref = f"tests.custom_backends:{check}"
    policy = make(rules=f'[[rules]]\npath = "/api/items/{{doc_id}}"\ncheck = "{ref}"\n'
                        f'[[rules]]\npath = "/secret/{{doc_id}}"\ncheck = "{ref}"\nhide = true\n')
    send = sender(kind, policy)
    assert send("GET", "/api/items/1", ALICE).status == 200
    refused = send("GET", "/api/items/2", ALICE)
    assert refused.status == 403 and refused.json() == {"error": "Forbidden"}
    assert send("GET", "/api/items/2", BOB).status == 200
    assert send("GET", "/api/items/boom", ALICE).status == 403  # an error inside the check refuses
    assert send("GET", "/api/items/1").status == 401  # anonymous never reaches the check
    assert send("GET", "/secret/2", ALICE).status == 404
    assert send("GET", "/secret/2", {"Accept": BROWSER, **ALICE}).status == 404


def test_check_must_be_importable() -> None:
    from routeguard import PolicyError

    with pytest.raises(PolicyError, match="check"):
        make(rules='[[rules]]\npath = "/x/{id}"\ncheck = "tests.custom_backends:nope"\n')
    with pytest.raises(PolicyError, match=r"package\.module:function"):
        make(rules='[[rules]]\npath = "/x/{id}"\ncheck = "not a ref"\n')
    with pytest.raises(PolicyError, match="check cannot be combined"):
        make(rules='[[rules]]\npath = "/x/{id}"\naccess = "public"\ncheck = "tests.custom_backends:owns_document"\n')


REPORT_RULES = """
[[rules]]
path = "/admin/**"
roles = ["admin"]
[[rules]]
path = "/billing/**"
roles = ["admin"]
mode = "enforce"
"""


def test_report_mode_lets_refusals_through_and_records_them(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    custom_backends.EVENTS.clear()
    policy = make('mode = "report"\non_decision = "tests.custom_backends:collect"\n', REPORT_RULES)
    send = sender(kind, policy)
    caplog.set_level("INFO", logger="routeguard")
    reply = send("GET", "/admin/users", ALICE)
    assert reply.status == 200 and reply.json()["subject"] == "alice"  # passes in report mode
    assert send("GET", "/other").status in (200, 404)  # default deny reported, not enforced
    assert send("GET", "/billing/x", ALICE).status == 403  # this rule enforces already
    assert send("GET", "/admin/..%2fx", ALICE).status == 400  # the firewall always enforces
    would = [e for e in custom_backends.EVENTS if e.report_only]
    assert [(e.rule, e.outcome) for e in would] == [(1, "forbidden"), (None, "unauthenticated")]
    assert all(e.status is None for e in would)
    counters = Guard.for_policy(policy).counters()
    assert ASGIGuard(starlette_app(), policy=policy).counters() == counters  # one guard per policy
    assert WSGIGuard(flask_app().wsgi_app, policy=policy).counters() == counters
    assert counters[(1, "forbidden", True)] == 1
    assert counters[(2, "forbidden", False)] == 1
    assert counters[(None, "bad_request", False)] == 1
    assert "would refuse GET /admin/users" in caplog.text


def test_audit_events_have_every_field_and_no_secret(kind: str) -> None:
    custom_backends.EVENTS.clear()
    policy = make('on_decision = "tests.custom_backends:collect"\n', REPORT_RULES)
    send = sender(kind, policy)
    tok = token("alice", roles=("user",))
    send("GET", "/admin/x?token=" + tok, bearer(tok))
    (event,) = custom_backends.EVENTS
    data = event.as_dict()
    assert set(data) >= {"time", "method", "path", "rule", "pattern", "outcome", "reason", "subject", "backend",
                         "report_only", "status", "client"}
    assert (data["method"], data["path"], data["rule"], data["pattern"]) == ("GET", "/admin/x", 1, "/admin/**")
    assert (data["outcome"], data["reason"], data["subject"], data["backend"]) == (
        "forbidden", "missing role", "alice", "bearer")
    assert data["status"] == 403 and data["client"] == "127.0.0.1"
    assert tok not in json.dumps(data) and tok.split(".")[2] not in json.dumps(data)


def test_failing_audit_hook_never_changes_the_decision(kind: str) -> None:
    def explode(event: Any) -> None:
        raise RuntimeError("pipeline down")

    policy = Policy(**{**make(rules=REPORT_RULES).model_dump(), "on_decision": explode})
    send = sender(kind, policy)
    assert send("GET", "/admin/x", ALICE).status == 403
    assert send("GET", "/admin/x", bearer(token("root", roles=("admin",)))).status == 200


PREFLIGHT = {"Origin": "https://app.example", "Access-Control-Request-Method": "DELETE"}


@pytest.mark.parametrize(("enabled", "status"), [(True, 200), (False, 401)])
def test_rg_2026_10_preflight(kind: str, enabled: Any, status: int) -> None:
    rules = '[[rules]]\npath = "/api/**"\n[[rules]]\npath = "/archive/**"\naccess = "deny"\n'
    policy = make(f"allow_preflight = {str(enabled).lower()}\n", rules)
    send = sender(kind, policy)
    assert send("OPTIONS", "/api/items", PREFLIGHT).status == status
    assert send("OPTIONS", "/api/items", {"Origin": "https://app.example"}).status == 401  # not a preflight
    assert send("DELETE", "/api/items", PREFLIGHT).status == 401
    assert send("OPTIONS", "/api/..%2fadmin", PREFLIGHT).status == 400  # the firewall still runs
    # A preflight for a request no rule could allow (deny, default deny) gets no pass either.
    assert send("OPTIONS", "/archive/x", PREFLIGHT).status == 401
    assert send("OPTIONS", "/nowhere", PREFLIGHT).status == 401


CSRF_RULES = '[[rules]]\npath = "/api/**"\n[[rules]]\npath = "/public/**"\naccess = "public"\n'
SESSION = cookie({"user_id": "carol", "roles": ["user"]})


@pytest.mark.parametrize(("headers", "status"), [
    pytest.param({"Origin": "https://evil.example"}, 403, id="foreign-origin"),
    pytest.param({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403, id="fetch-cross-site"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, 403, id="fetch-same-site"),
    pytest.param({"Origin": "http://testserver"}, 200, id="same-origin"),
    pytest.param({"Origin": "https://testserver"}, 200, id="same-host-behind-tls-proxy"),
    pytest.param({"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}, 200, id="fetch-same-origin"),
    pytest.param({"Sec-Fetch-Site": "none"}, 200, id="user-typed"),
    pytest.param({}, 200, id="no-browser-headers"),
    pytest.param({"Origin": "https://partner.example"}, 200, id="trusted-origin"),
    pytest.param({"Origin": "null"}, 403, id="null-origin"),
])
def test_csrf_for_cookie_sessions(kind: str, headers: Any, status: int) -> None:
    policy = make(rules=CSRF_RULES, extra='[csrf]\ntrusted_origins = ["https://partner.example"]\n')
    send = sender(kind, policy)
    reply = send("POST", "/api/items", {**SESSION, **headers})
    assert reply.status == status
    if status == 403:
        assert reply.json() == {"error": "Forbidden"}
    assert send("GET", "/api/items", {**SESSION, **headers}).status == 200  # safe methods pass


def test_rg_2026_06_csrf_exempts_bearer_and_covers_public_routes(kind: str) -> None:
    policy = make(rules=CSRF_RULES)
    send = sender(kind, policy)
    evil = {"Origin": "https://evil.example"}
    assert send("POST", "/api/items", {**ALICE, **evil}).status == 200  # browsers never attach bearer tokens
    # The app behind a public rule still sees the cookie (its own session layer would act as the
    # user), so a forged cross-site request carrying a valid session is refused there too.
    assert send("POST", "/public/form", {**SESSION, **evil}).status == 403
    assert send("POST", "/public/form", evil).status == 200  # anonymous cross-site posts are fine
    assert send("POST", "/public/form", {**SESSION, "Origin": "http://testserver"}).json()["subject"] == "carol"


def test_rg_2026_04_cross_site_websocket_hijacking_is_refused() -> None:
    policy = make(rules='[[rules]]\npath = "/ws"\n')
    accepted = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        accepted.append(scope["routeguard.identity"].subject)
        await send({"type": "websocket.accept"})

    guard = ASGIGuard(app, policy=policy)

    def connect(headers: Any) -> Any:
        sent = []

        async def receive() -> Any:
            return {"type": "websocket.connect"}

        async def send(message: Any) -> None:
            sent.append(message)

        asyncio.run(guard(asgi_scope("GET", "/ws", headers, kind="websocket"), receive, send))
        return sent[0]["type"]

    assert connect({**SESSION, "Origin": "https://evil.example"}) == "websocket.close"
    assert connect({**SESSION, "Origin": "http://testserver"}) == "websocket.accept"
    assert connect({**ALICE, "Origin": "https://evil.example"}) == "websocket.accept"  # bearer: exempt
    assert accepted == ["carol", "alice"]


def test_csrf_can_be_disabled(kind: str) -> None:
    send = sender(kind, make(rules=CSRF_RULES, extra="[csrf]\nenabled = false\n"))
    assert send("POST", "/api/items", {**SESSION, "Origin": "https://evil.example"}).status == 200


THROTTLE = "[throttle]\nmax_failures = 3\nwindow = 2\n"


@pytest.mark.slow
def test_rg_2026_07_throttling_failed_credentials(kind: str) -> None:
    import time

    send = sender(kind, make(rules='[[rules]]\npath = "/api/**"\n[[rules]]\npath = "/login"\naccess = "public"\n',
                             extra=THROTTLE))
    bad = bearer(token(key="forged-secret-0123456789abcdef-0123456789abcdef"))
    assert [send("GET", "/api/x", bad).status for _ in range(3)] == [401, 401, 401]
    blocked = send("GET", "/api/x", bad)
    assert blocked.status == 429 and blocked.json() == {"error": "Too Many Requests"}
    assert 1 <= int(blocked.headers["retry-after"]) <= 2
    # Locked out: further invalid credentials get 429, a valid one is never refused (RG-2026-13).
    assert send("GET", "/api/x", ALICE).status == 200
    assert send("GET", "/login", bad).status == 200  # public pages ignore stale credentials
    browser = send("GET", "/api/x", {"Accept": BROWSER, **bad})
    assert browser.status == 429 and browser.headers["content-type"].startswith("text/html")
    time.sleep(2.1)
    assert send("GET", "/api/x", bad).status == 401  # the window passed
    assert send("GET", "/api/x", ALICE).status == 200


def test_valid_requests_never_touch_the_throttle(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = make(rules='[[rules]]\npath = "/api/**"\n', extra=THROTTLE)
    send = sender(kind, policy)
    store = Guard.for_policy(policy).store
    calls = []
    for name in ("incr", "aincr", "ttl", "attl"):
        original = getattr(store, name)

        def counting(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(store, name, counting)
    for _ in range(10):
        assert send("GET", "/api/x", ALICE).status == 200
    assert calls == []  # no counter, no store round trip for requests that do not fail


def test_throttle_client_is_the_peer_unless_a_trusted_proxy_forwards(kind: str) -> None:
    rules = '[[rules]]\npath = "/api/**"\n'
    bad = bearer("garbage")
    untrusted = sender(kind, make(rules=rules, extra=THROTTLE))
    for i in range(4):  # a spoofed X-Forwarded-For does not give an attacker fresh counters
        last = untrusted("GET", "/api/x", {**bad, "X-Forwarded-For": f"203.0.113.{i}"}).status
    assert last == 429
    trusted = sender(kind, make(rules=rules, extra=THROTTLE + 'trusted_proxies = ["127.0.0.0/8"]\n'))
    for _ in range(4):
        last = trusted("GET", "/api/x", {**bad, "X-Forwarded-For": "198.51.100.7, 127.0.0.1"}).status
    assert last == 429
    assert trusted("GET", "/api/x", {**bad, "X-Forwarded-For": "198.51.100.8"}).status == 401  # another client


def test_websocket_refused_for_wrong_tenant_and_owner() -> None:
    policy = make(rules='[[rules]]\npath = "/ws/{org_id}/docs/{doc_id}"\ntenant = "org_id"\n'
                        'check = "tests.custom_backends:owns_document"\n')
    accepted = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        accepted.append(scope["path"])
        await send({"type": "websocket.accept"})

    guard = ASGIGuard(app, policy=policy)

    def connect(path: Any, headers: Any) -> Any:
        sent = []

        async def receive() -> Any:
            return {"type": "websocket.connect"}

        async def send(message: Any) -> None:
            sent.append(message)

        asyncio.run(guard(asgi_scope("GET", path, headers, kind="websocket"), receive, send))
        return sent[0]

    assert connect("/ws/acme/docs/1", ALICE) == {"type": "websocket.accept"}
    assert connect("/ws/globex/docs/1", ALICE) == {"type": "websocket.close", "code": 1008}  # wrong tenant
    assert connect("/ws/acme/docs/2", ALICE) == {"type": "websocket.close", "code": 1008}  # not the owner
    assert accepted == ["/ws/acme/docs/1"]


MOUNT_POLICY = """
login_url = "/login"
[[rules]]
path = "/login"
access = "public"
[[rules]]
path = "/api/**"
"""


def test_starlette_mount_and_uvicorn_root_path() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    policy = make(MOUNT_POLICY)
    outer = Starlette(routes=[Mount("/app", app=ASGIGuard(starlette_app(), policy=policy))])
    assert call_asgi(outer, "GET", "/app/api/items", ALICE).json()["path"] == "/app/api/items"
    reply = call_asgi(outer, "GET", "/app/api/items?x=1", {"Accept": BROWSER})
    assert reply.status == 302
    assert reply.headers["location"] == "/app/login?next=%2Fapp%2Fapi%2Fitems%3Fx%3D1"
    assert call_asgi(outer, "GET", "/app/other", ALICE).status == 403
    # uvicorn --root-path /app: the same scope shape, one layer less
    direct = ASGIGuard(starlette_app(), policy=policy)
    assert call_asgi(direct, "GET", "/api/items", ALICE, root_path="/app").status == 200
    assert call_asgi(direct, "GET", "/api/items", {"Accept": BROWSER}, root_path="/app").headers[
        "location"].startswith("/app/login?next=%2Fapp%2Fapi%2Fitems")


def test_werkzeug_dispatcher_middleware_mount() -> None:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    policy = make(MOUNT_POLICY)
    inner = flask_app()
    inner.wsgi_app = WSGIGuard(inner.wsgi_app, policy=policy)
    outer = DispatcherMiddleware(lambda e, s: (s("404 Not Found", []), [b"root"])[1], {"/app": inner})

    def call(target: Any, headers: Any) -> Any:
        from routeguard.testing import wsgi_environ

        environ = wsgi_environ("GET", target, headers)  # SCRIPT_NAME "" and PATH_INFO "/app/..."
        started: dict[str, Any] = {}
        body = b"".join(outer(environ, lambda status, hdrs, exc=None: started.update(s=status, h=dict(hdrs))))  # type: ignore[arg-type]
        return started, body

    started, body = call("/app/api/items", ALICE)
    assert started["s"].startswith("200") and json.loads(body)["path"] == "/api/items"
    started, _ = call("/app/api/items", {"Accept": BROWSER})
    assert started["s"].startswith("302")
    assert started["h"]["location"] == "/app/login?next=%2Fapp%2Fapi%2Fitems"
    assert call_wsgi(inner, "GET", "/other", ALICE, script_name="/app").status == 403
