"""The plain lane (routeguard.runtime.lane) is a shortcut, never a second policy: wherever it
answers, the full pipeline gives the same decision; wherever a step it skips has something to
say (revoked, logged out, invalid or second credential, CSRF, throttle, override, hooks), it
stays silent and the pipeline decides."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routeguard import ASGIGuard, Policy, WSGIGuard
from routeguard.asgi import ScopeHeaders
from routeguard.core.decision import Decision, Outcome
from routeguard.core.request import RequestView
from routeguard.runtime.audit import Recorder
from routeguard.runtime.authenticate import revocation_entry
from routeguard.runtime.effects import run_sync
from routeguard.runtime.guard import Guard
from routeguard.runtime.lane import Lane
from routeguard.testing import call_asgi, call_wsgi, session_cookie

from .support import JWT_SECRET, POLICY_TOML, SESSION_SECRET, flask_app, starlette_app, token

ADMIN = token("root", roles=("admin",))
USER = token("alice", tenants=("acme",), permissions=("reports:read",))
REVOKED = token("mallory", roles=("admin",), jti="revoked-jti")
EXPIRED = token("old", roles=("admin",), exp=int(time.time()) - 10)
SESSION_ADMIN = session_cookie(SESSION_SECRET, {"user_id": "root", "roles": ["admin"]})
SESSION_ALICE = session_cookie(SESSION_SECRET, {"user_id": "alice", "roles": ["user"], "tenants": ["acme"]})
SESSION_GONE = session_cookie(SESSION_SECRET, {"user_id": "gone", "roles": ["admin"]})

PATHS = ["/health", "/health/", "/public/a/b", "/admin", "/admin/x", "/secret/x", "/orgs/acme/x", "/orgs/evil/x",
         "/reports/1", "/reports/2", "/api/items/7", "/api/items/8", "/api/x", "/archive/x", "/other", "/login",
         "/login/", "/"]  # two values of each parameter: a verdict kept for a rule serves both
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "get"]
AUTHORIZATION = [None, f"Bearer {ADMIN}", f"Bearer {USER}", f"Bearer {REVOKED}", f"Bearer {EXPIRED}", "Bearer abc",
                 "Basic YWxhZGRpbjpvcGVuc2VzYW1l", f"bearer {ADMIN}", f"Bearer  {USER}", ADMIN]  # last: no scheme
COOKIE = [None, f"session={SESSION_ADMIN}", f"session={SESSION_ALICE}", f"session={SESSION_GONE}",
          f"session={SESSION_ADMIN[:-2]}xx", f"session={SESSION_ADMIN}; session={SESSION_ALICE}", "theme=dark",
          f"theme=dark; session={SESSION_ALICE}", f"access_token={ADMIN}", f"access_token=Bearer {USER}"]
VARIANTS = {
    "default": "",
    "report": 'mode = "report"\n',
    "refuse-override": 'method_override = "refuse"\n',
    "ignore-override": 'method_override = "ignored"\n',
    "no-throttle": "[throttle]\nenabled = false\n",
    "no-csrf": "[csrf]\nenabled = false\n",
    "preflight": "allow_preflight = true\n",
    "token-cookie": "",  # the bearer token also read from a cookie and a websocket subprotocol
}


def _guard(variant: str) -> Guard:
    head, _, rest = POLICY_TOML.partition("\n[auth.bearer]")
    if variant == "token-cookie":
        rest = '\ncookie = "access_token"\nwebsocket_subprotocol = true' + rest
    extra = VARIANTS[variant]
    tables = extra if extra.startswith("[") else ""
    top = "" if tables else extra
    return Guard(Policy.from_toml_string(top + head + "\n[auth.bearer]" + rest + tables))


def _warm(guard: Guard) -> None:
    """Verify every credential once through the pipeline (the lane answers from caches), then
    revoke one token and log one session user out."""
    for authorization in AUTHORIZATION:
        for cookie in COOKIE:
            headers = {k: v for k, v in (("authorization", authorization), ("cookie", cookie)) if v is not None}
            run_sync(guard.evaluate(RequestView("GET", "/admin/x", headers=headers)))
    store = guard.store
    store.set(revocation_entry("jti:revoked-jti"), b"1", 3600)
    gone = run_sync(guard.authenticate(RequestView("GET", "/", headers={"cookie": f"session={SESSION_GONE}"})))
    assert gone.credential is not None and gone.credential.logout_key is not None
    store.set(gone.credential.logout_key, str(time.time() + 60).encode(), 3600)


@pytest.fixture(scope="module")
def guards() -> Iterator[dict[str, Guard]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RG_TEST_JWT_SECRET", JWT_SECRET)
        patch.setenv("RG_TEST_SESSION_SECRET", SESSION_SECRET)
        built = {variant: _guard(variant) for variant in VARIANTS}
    for guard in built.values():
        _warm(guard)
    yield built


def _h(headers: dict[str, str]) -> ScopeHeaders:
    """Headers as the ASGI adapter hands them to the lane."""
    return ScopeHeaders([(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()])


def _same(lane: Decision, pipeline: Decision) -> bool:
    fields = ("outcome", "reason", "rule", "identity", "params", "credential", "withheld", "report_only",
              "invalid_credentials", "retry_after")
    return all(getattr(lane, name) == getattr(pipeline, name) for name in fields)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    variant=st.sampled_from(sorted(VARIANTS)),
    method=st.sampled_from(METHODS),
    path=st.sampled_from(PATHS),
    authorization=st.sampled_from(AUTHORIZATION),
    cookie=st.sampled_from(COOKIE),
    override=st.sampled_from([None, "DELETE", "GET"]),
    query=st.sampled_from(["", "a=1", "_method=DELETE", "%5Fmethod=DELETE"]),
    origin=st.sampled_from([None, "http://evil.example"]),
    preflight=st.booleans(),
)
def test_the_lane_answers_only_as_the_pipeline_decides(
    guards: dict[str, Guard], variant: str, method: str, path: str, authorization: str | None, cookie: str | None,
    override: str | None, query: str, origin: str | None, preflight: bool,
) -> None:
    guard = guards[variant]
    assert guard.lane is not None
    pairs = (("authorization", authorization), ("cookie", cookie), ("x-http-method-override", override),
             ("origin", origin), ("access-control-request-method", "GET" if preflight else None))
    headers = {name: value for name, value in pairs if value is not None}
    quick = guard.lane.decide(method, path, _h(headers), query)
    if guard.lane.watched.isdisjoint(headers):  # as the adapters call it then: twice, the second
        for _ in range(2):  # time perhaps from the public paths the lane remembers
            assert guard.lane.decide(method, path, None, query) == quick
    pipeline = run_sync(guard.evaluate(RequestView(method.upper(), path, path, query, headers)))
    if quick is not None:
        assert quick.outcome is Outcome.ALLOW
        assert _same(quick, pipeline), (quick, pipeline)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_plain_request_the_lane_answers_matches_the_pipeline(guards: dict[str, Guard], variant: str) -> None:
    """The sweep behind the random test above: every method, path and credential together."""
    guard = guards[variant]
    assert guard.lane is not None
    answered = 0
    for method in METHODS:
        for path in PATHS:
            for authorization in AUTHORIZATION:
                for cookie in COOKIE:
                    pairs = (("authorization", authorization), ("cookie", cookie))
                    headers = {name: value for name, value in pairs if value is not None}
                    quick = guard.lane.decide(method, path, _h(headers), "")
                    if guard.lane.watched.isdisjoint(headers):  # as the adapters call it then
                        assert guard.lane.decide(method, path, None, "") == quick
                    if quick is None:
                        continue
                    answered += 1
                    pipeline = run_sync(guard.evaluate(RequestView(method, path, path, "", headers)))
                    assert _same(quick, pipeline), (method, path, headers, quick, pipeline)
    assert answered >= 100  # the lane is not silent: the common requests take it


@pytest.mark.parametrize(
    ("headers", "path", "answered"),
    [
        ({}, "/health", True),  # public, no credentials
        ({"authorization": f"Bearer {ADMIN}"}, "/admin/x", True),  # a verified token
        ({"cookie": f"session={SESSION_ALICE}"}, "/orgs/acme/x", True),  # a verified session cookie
        ({"authorization": f"Bearer {REVOKED}"}, "/admin/x", False),  # revoked since it was cached
        ({"cookie": f"session={SESSION_GONE}"}, "/admin/x", False),  # its user logged out
        ({"authorization": f"Bearer {USER}"}, "/admin/x", False),  # a refusal: the pipeline renders it
        ({"authorization": "Bearer abc"}, "/health", False),  # invalid: withheld, throttled
        ({"authorization": f"Bearer {token('new', roles=('admin',))}"}, "/admin/x", False),  # never verified
        ({"authorization": f"Bearer {ADMIN}", "cookie": f"session={SESSION_ADMIN}"}, "/admin/x", False),  # two
        ({"authorization": f"Bearer {ADMIN}"}, "/health", False),  # identity on a public page: throttle guess
        ({}, "/other", False),  # default deny
        ({}, "/login", False),  # the login path: throttle
    ],
)
def test_the_lane_answers_only_safe_requests(guards: dict[str, Guard], headers: dict[str, str], path: str,
                                             answered: bool) -> None:
    lane = guards["default"].lane
    assert lane is not None
    assert (lane.decide("GET", path, _h(headers), "") is not None) is answered


def test_an_unsafe_method_with_a_cookie_is_left_to_the_csrf_check(guards: dict[str, Guard]) -> None:
    headers = {"cookie": f"session={SESSION_ADMIN}", "origin": "http://evil.example"}
    for variant, answered in (("default", False), ("no-csrf", True)):
        lane = guards[variant].lane
        assert lane is not None
        assert (lane.decide("POST", "/admin/x", _h(headers), "") is not None) is answered
        pipeline = run_sync(guards[variant].evaluate(RequestView("POST", "/admin/x", "/admin/x", "", headers)))
        assert pipeline.allowed is answered


def test_the_lane_steps_aside_while_allowed_decisions_are_logged(guards: dict[str, Guard]) -> None:
    lane = guards["default"].lane
    assert lane is not None
    logger = logging.getLogger("routeguard")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        assert lane.decide("GET", "/health", _h({}), "") is None
    finally:
        logger.setLevel(before)
    assert lane.decide("GET", "/health", _h({}), "") is not None


@pytest.mark.parametrize(
    "extra",
    [
        'decision_log = "{log}"\n',  # the log wants the request view
    ],
)
def test_no_lane_when_the_decision_log_wants_every_request(tmp_path: Any, extra: str) -> None:
    policy = Policy.from_toml_string(extra.format(log=tmp_path / "d.jsonl") + POLICY_TOML)
    assert Guard(policy).lane is None


def test_no_lane_with_a_custom_backend_or_an_audit_hook() -> None:
    class Custom:
        name = "custom"

        def authenticate(self, request: RequestView) -> None:
            return None

    rules = [{"path": "/health", "access": "public"}]
    assert Guard(Policy(rules=rules)).lane is not None
    assert Guard(Policy(rules=rules, auth={"custom": [Custom()]})).lane is None
    assert Guard(Policy(rules=rules, on_decision=lambda event: None)).lane is None
    assert not Lane.serves([Custom()])


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_both_adapters_give_the_app_the_same_request_through_the_lane(policy: Policy, kind: str) -> None:
    """The scope/environ an app gets is the same whether the lane or the pipeline decided."""
    seen: list[dict[str, Any]] = []

    def record(decision: Decision, identity: Any) -> None:
        seen.append({"decision": decision, "identity": identity})

    guarded: Any
    call: Any
    if kind == "asgi":
        inner = starlette_app()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            record(scope["routeguard.decision"], scope["routeguard.identity"])
            seen[-1]["user"] = scope["user"]
            seen[-1]["scopes"] = scope["auth"].scopes
            await inner(scope, receive, send)

        guarded = ASGIGuard(app, policy=policy)
        call = call_asgi
    else:
        inner_wsgi = flask_app().wsgi_app

        def wsgi_app(environ: Any, start_response: Any) -> Any:
            record(environ["routeguard.decision"], environ["routeguard.identity"])
            return inner_wsgi(environ, start_response)

        guarded = WSGIGuard(wsgi_app, policy=policy)
        call = call_wsgi
    guard = guarded.guard
    lane = guard.lane
    assert lane is not None
    for path, headers in (("/admin/x", {"Authorization": f"Bearer {ADMIN}"}), ("/health", {}),
                          ("/orgs/acme/x", {"Cookie": f"session={SESSION_ALICE}"})):
        call(guarded, "GET", path, headers)  # first sight: the pipeline verifies and caches
        guard.lane = None
        assert call(guarded, "GET", path, headers).status == 200  # the pipeline again
        guard.lane = lane
        before = guard.counters()
        assert call(guarded, "GET", path, headers).status == 200  # the lane
        piped, laned = seen[-2], seen[-1]
        assert laned["decision"] is not piped["decision"] or path == "/health"
        assert _same(laned["decision"], piped["decision"])
        assert laned == piped
        after = guard.counters()
        assert sum(after.values()) == sum(before.values()) + 1  # the lane counts its decisions too


def test_counters_are_exact_across_threads_without_a_lock() -> None:
    """Each thread counts in its own dict; the sum is exact while readers add them up."""
    recorder = Recorder()
    allowed = Decision(Outcome.ALLOW, "public")
    refused = Decision(Outcome.FORBIDDEN, "missing role")
    threads, each = 8, 5_000
    start = threading.Barrier(threads + 1)
    snapshots: list[int] = []

    def work() -> None:
        start.wait()
        for i in range(each):
            recorder.count(allowed if i % 2 else refused)

    def read() -> None:
        start.wait()
        for _ in range(200):
            snapshots.append(sum(recorder.counters().values()))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    reader = threading.Thread(target=read)
    for thread in [*workers, reader]:
        thread.start()
    for thread in [*workers, reader]:
        thread.join()
    assert recorder.counters() == {(None, "allow", False): threads * each // 2,
                                   (None, "forbidden", False): threads * each // 2}
    assert snapshots == sorted(snapshots)  # a reader never sees a count go back


def test_starlette_request_auth_is_shared_but_read_only(policy: Policy) -> None:
    """``scope["auth"]`` is one object per role set (built once): no request can change it for
    the next one, and Starlette's ``requires`` still reads it."""
    from starlette.authentication import AuthCredentials, has_required_scope

    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        auth = scope["auth"]
        seen.append(auth)
        with pytest.raises(AttributeError):
            auth.scopes = ["admin"]
        with pytest.raises(AttributeError):
            auth.scopes.append("admin")  # a tuple
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guarded = ASGIGuard(app, policy=policy)
    for _ in range(2):
        assert call_asgi(guarded, "GET", "/api/x", {"Authorization": f"Bearer {USER}"}).status == 204
    first, second = seen
    assert first is second and isinstance(first, AuthCredentials)
    assert "admin" not in first.scopes and "user" in first.scopes
    request = type("Conn", (), {"auth": first})()
    assert has_required_scope(request, ["user"]) and not has_required_scope(request, ["admin"])
