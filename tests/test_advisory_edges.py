"""Named regression tests for issue 10's edge cases (pyjwt's test_advisory.py style).

RG-2026-12  WSGIGuard did not recognise an ``Upgrade: websocket`` request as a handshake: a
            flask-sock websocket accepted a cross-site handshake carrying the victim's cookie.
RG-2026-15  Matching backtracked: ``/**/a/**/a/**/z`` against 3000 ``a`` segments cost seconds of CPU
            per request. Matching is now a lazily built DFA over segments (linear in the path).
RG-2026-17  Method override inside the guard: with Flask's documented HTTPMethodOverrideMiddleware,
            ``POST`` + ``X-HTTP-Method-Override: DELETE`` ran an admin-only DELETE for a user.
RG-2026-18  A tenant parameter after ``**`` was ambiguous: ``/tenants/**/orgs/{org_id}/**`` judged
            one tenant while Starlette's greedy ``{path}`` handed the app another.
RG-2026-20  ``methods = ["ALL"]`` loaded and never applied (a ``deny`` that denied nothing).
RG-2026-24  With ``ProxyFix(x_prefix=1)`` outside the guard, ``X-Forwarded-Prefix: //evil.example``
            gave ``Location: //evil.example/login`` (an open redirect through the mount prefix).
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routeguard import ASGIGuard, Policy, PolicyError, Rule, WSGIGuard
from routeguard.core.rules import ANY, LITERAL, CompiledRule, Matcher, match_segments, split_path
from routeguard.runtime.guard import Guard
from routeguard.testing import Reply, asgi_scope, call_asgi, call_wsgi, session_cookie, wsgi_environ

from . import edges_apps
from .support import bearer, free_port, require, sender, token

ROOT = Path(__file__).resolve().parents[1]

# -- RG-2026-12: cross-site websocket hijacking through WSGIGuard ------------------------------

WS_POLICY = edges_apps.WEBSOCKET_POLICY + """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"
"""
VICTIM = {"Cookie": "session=" + session_cookie(edges_apps.SECRET, {"user_id": "victim"}, format="flask")}
HANDSHAKE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def _wsgi_handshake(headers: dict[str, str], method: str = "GET") -> tuple[str, list[str]]:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["routeguard.identity"].subject)
        start_response("101 Switching Protocols", [])
        return []

    guard = WSGIGuard(app, policy=Policy.from_toml_string(WS_POLICY))
    status: list[str] = []
    b"".join(guard(wsgi_environ(method, "/ws", headers), lambda s, h, exc=None: status.append(s)))
    return status[0][:3], seen


def _asgi_handshake(headers: dict[str, str]) -> tuple[str, list[str]]:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["routeguard.identity"].subject)
        await send({"type": "websocket.accept"})

    sent: list[Any] = []

    async def receive() -> dict[str, str]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    guard = ASGIGuard(app, policy=Policy.from_toml_string(WS_POLICY))
    asyncio.run(guard(asgi_scope("GET", "/ws", headers, kind="websocket"), receive, send))
    return ("101" if sent[0]["type"] == "websocket.accept" else "403"), seen


@pytest.mark.parametrize(("headers", "status", "subject"), [
    pytest.param({**VICTIM, "Origin": "http://evil.example"}, "403", None, id="cookie-cross-origin"),
    pytest.param({**VICTIM, "Sec-Fetch-Site": "cross-site"}, "403", None, id="cookie-sec-fetch-cross-site"),
    pytest.param({**VICTIM, "Sec-Fetch-Site": "same-site", "Origin": "http://testserver"}, "403", None,
                 id="cookie-same-site-is-not-same-origin"),
    pytest.param({**VICTIM, "Origin": "http://testserver"}, "101", "victim", id="cookie-same-origin"),
    pytest.param({**VICTIM, "Sec-Fetch-Site": "same-origin"}, "101", "victim", id="cookie-sec-fetch-same-origin"),
    pytest.param({**bearer(token("alice")), "Origin": "http://evil.example"}, "101", "alice",
                 id="bearer-is-not-forgeable"),
    pytest.param({"Origin": "http://evil.example"}, "401", None, id="anonymous"),
])
def test_rg_2026_12_websocket_handshake_origin_check_on_both_adapters(headers: Any, status: Any, subject: Any) -> None:
    wsgi_status, wsgi_seen = _wsgi_handshake({**HANDSHAKE, **headers})
    asgi_status, asgi_seen = _asgi_handshake({**HANDSHAKE, **headers})
    assert wsgi_status == status
    assert wsgi_seen == ([subject] if subject else [])
    assert asgi_status == ("403" if status == "401" else status)  # a refused handshake closes on ASGI
    assert asgi_seen == wsgi_seen


@pytest.mark.parametrize("upgrade", ["websocket", "WebSocket", "h2c, websocket"])
def test_rg_2026_12_any_websocket_upgrade_is_a_handshake(upgrade: Any) -> None:
    assert _wsgi_handshake({**VICTIM, "Upgrade": upgrade, "Origin": "http://evil.example"})[0] == "403"


def test_rg_2026_12_handshake_keeps_its_real_method() -> None:
    # A POST dressed as a handshake is judged (and CSRF-checked) as a POST, never as a GET.
    policy = Policy.from_toml_string(WS_POLICY + '[[rules]]\npath = "/gets"\nmethods = ["GET"]\naccess = "public"\n')
    guard = WSGIGuard(lambda environ, start_response: [], policy=policy)
    status: list[str] = []
    environ = wsgi_environ("POST", "/gets", {**HANDSHAKE})
    b"".join(guard(environ, lambda s, h, exc=None: status.append(s)))
    assert status[0].startswith("401")  # no rule for POST /gets: default deny


@pytest.mark.slow
def test_rg_2026_12_flask_sock_on_gunicorn_refuses_cross_site_handshake(tmp_path: Path) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    require(importlib.util.find_spec("gunicorn") is not None, "gunicorn")
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "4", "--workers", "1",
         "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2", "tests.edges_apps:websocket_app()"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"ws://127.0.0.1:{port}/ws"
    try:
        _wait_for(port, proc)
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin="http://evil.example", additional_headers=VICTIM, open_timeout=10)  # type: ignore[call-overload]
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers={**VICTIM, "Sec-Fetch-Site": "cross-site"}, open_timeout=10)
        assert refused.value.response.status_code == 403
        with connect(url, origin=f"http://127.0.0.1:{port}", additional_headers=VICTIM,  # type: ignore[call-overload]
                     open_timeout=10) as socket:
            assert socket.recv(timeout=10) == "secret data of victim"
    finally:
        _stop(proc, log)


def _stop(proc: subprocess.Popen[bytes], log: Any) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    log.close()


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            return  # any answer: the server is up
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


# -- RG-2026-18: a captured parameter between two '**' ------------------------------------------

TENANT_POLICY = """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"
[[rules]]
path = "/login"
access = "public"
[[rules]]
path = "{path}"
{extra}
"""


@pytest.mark.parametrize(("path", "extra", "key", "name"), [
    pytest.param("/tenants/**/orgs/{org_id}/**", 'tenant = "org_id"', "tenant", "org_id", id="tenant-issue-case"),
    pytest.param("/**/{org_id}/**", 'tenant = "org_id"', "tenant", "org_id", id="tenant-between-globstars"),
    pytest.param("/a/**/{org_id}/x/**", 'tenant = "org_id"', "tenant", "org_id", id="tenant-literal-after"),
    pytest.param("/t/{org_id}/**/{doc}/**", 'check = "tests.custom_backends:owns_document"', "check", "doc",
                 id="check-param"),
])
def test_rg_2026_18_ambiguous_captured_parameter_is_a_load_error(path: Any, extra: Any, key: Any, name: Any) -> None:
    with pytest.raises(PolicyError) as raised:
        Policy.from_toml_string(TENANT_POLICY.format(path=path, extra=extra), resolve_secrets=False)
    message = str(raised.value)
    assert f"rule #2 (path {path!r})" in message
    assert f"{key}: {{{name}}} sits between two '**'" in message
    with pytest.raises(PolicyError, match="sits between two"):  # the Python API too
        Rule(path=path, tenant=name if key == "tenant" else None, check=(lambda i, p: True) if key == "check" else None)


@pytest.mark.parametrize("path", [
    pytest.param("/tenants/**/orgs/{org_id}", id="globstar-before-only"),
    pytest.param("/tenants/{org_id}/**/x/**", id="globstars-after-only"),
    pytest.param("/**/{org_id}/{doc}", id="fixed-from-the-end"),
])
def test_rg_2026_18_param_on_one_side_of_globstars_loads(path: Any) -> None:
    Policy.from_toml_string(TENANT_POLICY.format(path=path, extra='tenant = "org_id"'), resolve_secrets=False)


def test_rg_2026_18_unambiguous_tenant_is_the_one_the_app_gets_on_both_adapters() -> None:
    from flask import Flask, jsonify
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def starlette_view(request: Any) -> Any:
        return JSONResponse({"org_id": request.path_params["org_id"]})

    flask = Flask("tenants")
    flask.add_url_rule("/tenants/<path:p>/orgs/<org_id>", view_func=lambda p, org_id: jsonify({"org_id": org_id}))
    policy = Policy.from_toml_string(TENANT_POLICY.format(path="/tenants/**/orgs/{org_id}", extra='tenant = "org_id"'))
    asgi = ASGIGuard(Starlette(routes=[Route("/tenants/{p:path}/orgs/{org_id}", starlette_view)]), policy=policy)
    wsgi = WSGIGuard(flask.wsgi_app, policy=policy)
    acme = bearer(token("mallory", tenants=("acme",)))
    sends: list[Callable[..., Reply]] = [lambda *a: call_asgi(asgi, *a), lambda *a: call_wsgi(wsgi, *a)]
    for send in sends:
        assert send("GET", "/tenants/v1/orgs/acme/orgs/globex", acme).status == 403  # judged on globex
        reply = send("GET", "/tenants/v1/orgs/globex/orgs/acme", acme)
        assert reply.status == 200 and reply.json() == {"org_id": "acme"}


# -- RG-2026-20: methods outside the standard and WebDAV sets ----------------------------------

@pytest.mark.parametrize(("method", "expected"), [
    pytest.param("ALL", "leave the key out to cover every method", id="ALL"),
    pytest.param("ANY", "leave the key out to cover every method", id="ANY"),
    pytest.param("*", "leave the key out to cover every method", id="star"),
    pytest.param("DELTE", "did you mean 'DELETE'?", id="typo"),
    pytest.param("PTACH", "did you mean 'PATCH'?", id="typo-patch"),
    pytest.param("FETCH", "is not an HTTP method (RFC 9110, PATCH or WebDAV)", id="unknown"),
    pytest.param(" GET", "is not an HTTP method", id="padded"),
])
def test_rg_2026_20_unknown_method_is_a_load_error(method: Any, expected: Any) -> None:
    text = ('[[rules]]\npath = "/login"\naccess = "public"\n'
            f'[[rules]]\npath = "/x"\nmethods = ["GET", "{method}"]\naccess = "deny"\n')
    with pytest.raises(PolicyError) as raised:
        Policy.from_toml_string(text)
    assert f"rule #2 (path '/x'): methods: {method!r} is not an HTTP method" in str(raised.value)
    assert expected in str(raised.value)
    with pytest.raises(PolicyError, match="is not an HTTP method"):
        Rule(path="/x", methods=[method], access="deny")


@pytest.mark.parametrize("method", ["get", "PATCH", "connect", "PROPFIND", "mkcol", "VERSION-CONTROL", "MKCALENDAR"])
def test_rg_2026_20_standard_and_webdav_methods_load_and_apply(method: Any) -> None:
    policy = Policy(rules=[Rule(path="/x", methods=[method], access="deny"), Rule(path="/**", access="public")])
    assert policy.compiled_rules[0].accepts(method.upper())
    for kind in ("asgi", "wsgi"):
        assert sender(kind, policy)(method.upper(), "/x").status == 401  # the deny rule applies


# -- RG-2026-24: a hostile mount prefix in Location --------------------------------------------

HOSTILE_PREFIXES = [
    pytest.param("//evil.example", id="protocol-relative"),
    pytest.param("///evil.example", id="triple-slash"),
    pytest.param("/\\evil.example", id="backslash"),
    pytest.param("https://evil.example", id="absolute-url"),
    pytest.param("evil.example", id="no-leading-slash"),
    pytest.param("/%2F%2Fevil.example", id="encoded-slashes"),
    pytest.param("/./evil.example", id="dot-segment"),
    pytest.param("/app/../..//evil.example", id="dot-dot"),
    pytest.param("/app; Domain=evil.example", id="cookie-attribute"),
    pytest.param("/\tevil.example", id="control-character"),
]
BROWSER_ACCEPT = {"Accept": "text/html,application/xhtml+xml"}


def _prefix_apps() -> dict[str, Any]:
    from werkzeug.middleware.proxy_fix import ProxyFix

    policy = Policy.from_toml_string(edges_apps.PREFIX_POLICY)
    flask = __import__("flask").Flask("prefix")
    flask.add_url_rule("/dashboard", view_func=lambda: "ok")
    return {
        "wsgi": ProxyFix(WSGIGuard(flask.wsgi_app, policy=policy), x_prefix=1),
        "asgi": edges_apps.prefix_asgi_app(),
    }


def _login_redirect(kind: str, app: Any, prefix: str) -> tuple[int, str]:
    if kind == "wsgi":
        reply = call_wsgi(app, "GET", "/dashboard?tab=1", {**BROWSER_ACCEPT, "X-Forwarded-Prefix": prefix})
    else:
        reply = call_asgi(app, "GET", "/dashboard?tab=1", BROWSER_ACCEPT, root_path=prefix)
    return reply.status, reply.headers.get("location", "")


@pytest.mark.parametrize("prefix", HOSTILE_PREFIXES)
@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_24_hostile_mount_prefix_is_ignored_in_location(kind: str, prefix: Any) -> None:
    status, location = _login_redirect(kind, _prefix_apps()[kind], prefix)
    if status == 400:  # the firewall may refuse the target outright: no redirect at all
        assert location == ""
        return
    assert status == 302
    assert location.startswith("/login?next="), location  # the prefix is left out, next too
    assert "evil" not in location
    assert location == "/login?next=%2Fdashboard%3Ftab%3D1"


@pytest.mark.parametrize(("kind", "prefix", "expected"), [
    *(pytest.param(kind, "/app", "/app", id=f"one-segment-{kind}") for kind in ("asgi", "wsgi")),
    *(pytest.param(kind, "/a-b/c.d_e~", "/a-b/c.d_e~", id=f"plain-characters-{kind}") for kind in ("asgi", "wsgi")),
    *(pytest.param(kind, "", "", id=f"no-prefix-{kind}") for kind in ("asgi", "wsgi")),
    pytest.param("wsgi", "/app/", "/app", id="trailing-slash-wsgi"),  # (ASGI: "/app//dashboard" is a 400)
])
def test_rg_2026_24_plain_mount_prefix_is_kept(kind: str, prefix: Any, expected: Any) -> None:
    status, location = _login_redirect(kind, _prefix_apps()[kind], prefix)
    assert status == 302
    assert location == f"{expected}/login?next=" + quote(f"{expected}/dashboard?tab=1", safe="")


@pytest.mark.slow
@pytest.mark.parametrize(("root_path", "status"), [
    pytest.param("https://evil.example", 302, id="absolute-url"),  # before: Location https://evil.example/login
    pytest.param("//evil.example", 400, id="protocol-relative"),  # the firewall refuses the "//" path itself
])
def test_rg_2026_24_uvicorn_root_path_cannot_point_location_off_site(
    tmp_path: Path, root_path: Any, status: int
) -> None:
    import httpx

    port = free_port()
    log = (tmp_path / "uvicorn.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "tests.edges_apps:prefix_asgi_app", "--host", "127.0.0.1",
         "--port", str(port), "--root-path", root_path, "--log-level", "warning"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        _wait_for(port, proc)
        reply = httpx.get(f"http://127.0.0.1:{port}/dashboard", headers=BROWSER_ACCEPT, timeout=10)
        assert reply.status_code == status, reply.text
        assert reply.headers.get("location", "/login?next=%2Fdashboard") == "/login?next=%2Fdashboard"
    finally:
        _stop(proc, log)


# -- RG-2026-15: matching is linear in the path's length ---------------------------------------

def _rules(*patterns: str) -> tuple[CompiledRule, ...]:
    return Policy(rules=[Rule(path=p) for p in patterns]).compiled_rules


def _work(matcher: Matcher, path: str) -> int:
    before = matcher.work
    matcher.match("GET", path)
    return matcher.work - before


@pytest.mark.parametrize(("patterns", "segment", "last"), [
    pytest.param(["/**/a/**/a/**/z"], "a", None, id="issue-case"),
    pytest.param(["/**/a/**/b/**"], "a", "c", id="a-b-globstars"),
    pytest.param(["/**/a/**/a/**/a/**/a/**/z", "/x/**", "/**/{p}/q"], "a", "b", id="many-globstars"),
])
def test_rg_2026_15_match_work_does_not_grow_with_the_path(patterns: Any, segment: Any, last: Any) -> None:
    def path(n: int) -> str:
        return "/" + "/".join([segment] * n + ([last] if last else []))

    matcher = Matcher(_rules(*patterns))
    first = _work(matcher, path(3000))
    assert first <= 200  # a few DFA states, each built once
    assert _work(matcher, path(6000)) == 0  # every state already built: one dict lookup per segment
    # With no cache at all every transition is built per segment: still linear, by a constant factor.
    uncached = Matcher(_rules(*patterns), max_states=0)
    small, large = _work(uncached, path(1000)), _work(uncached, path(2000))
    trie_size = sum(len(p.split("/")) for p in patterns) + 1
    assert small <= trie_size * 1001
    assert large <= 2 * small + trie_size


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_15_long_path_against_nested_globstars_through_both_adapters(kind: str) -> None:
    policy = Policy(rules=[Rule(path="/**/a/**/a/**/z", access="deny"), Rule(path="/**/a/**/a", access="public")])
    send = sender(kind, policy)
    target = "/" + "/".join(["a"] * 3000)
    assert send("GET", target).status == 404  # public rule: the app answers (no such route)
    assert send("GET", target + "/z").status == 401  # the deny rule comes first
    matcher = Guard.for_policy(policy).engine.matcher
    assert matcher.work <= 200


def _regex(rule: CompiledRule) -> re.Pattern[str]:
    parts = []
    for seg in rule.segments:
        if seg.kind == LITERAL:
            parts.append("/" + re.escape(seg.value))
        elif seg.kind == ANY:
            parts.append("(?:/[^/]*)*?")  # lazy: an earlier "**" takes as little as it can
        else:
            parts.append(f"/(?P<{seg.value}>[^/]+)" if seg.value else "/[^/]+")
    return re.compile("".join(parts))


def _oracles(rules: tuple[CompiledRule, ...], method: str, path: str) -> tuple[Any, Any]:
    """Plain first match over match_segments, and over one regex per rule (independent)."""
    segs, text = split_path(path), path[:-1] if path.endswith("/") else path
    plain = regex = None
    for rule in rules:
        if rule.accepts(method):
            if plain is None and (found := match_segments(rule.segments, segs)) is not None:
                plain = (rule.index, found)
            if regex is None and (hit := _regex(rule).fullmatch(text)) is not None:
                regex = (rule.index, hit.groupdict())
    return plain, regex


WORDS = ["a", "b", "z"]
nested_rules = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["a", "b", "z", "*", "**", "**", "{p}"]), max_size=7),
        st.sampled_from([None, ("GET",), ("POST",)]),
    ),
    min_size=1, max_size=6,
)
paths = st.builds(lambda segs, slash: "/" + "/".join(segs) + slash,
                  st.lists(st.sampled_from([*WORDS, "c", ""]), max_size=10), st.sampled_from(["", "/"]))


def _pattern(parts: list[str]) -> str:
    out: list[str] = []
    for part in parts:
        if part == "**" and out and out[-1] == "**":
            continue
        out.append(f"{{p{len(out)}}}" if part == "{p}" else part)
    return "/" + "/".join(out)


@settings(derandomize=True, database=None, max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(nested_rules, st.lists(st.tuples(st.sampled_from(["GET", "POST"]), paths), min_size=1, max_size=8))
def test_rg_2026_15_dfa_agrees_with_first_match_for_nested_globstars(spec: Any, probes: Any) -> None:
    rules = Policy(rules=[Rule(path=_pattern(parts), methods=list(m) if m else None) for parts, m in spec]
                   ).compiled_rules
    matchers = [Matcher(rules), Matcher(rules, max_states=0), Matcher(rules, max_states=3)]
    for method, path in probes:
        plain, regex = _oracles(rules, method, path)
        assert plain == regex, (path, plain, regex)
        for matcher in matchers:
            found = matcher.match(method, path)
            assert (None if found is None else (found[0].index, found[1])) == plain, (path, [r.pattern for r in rules])


def test_rg_2026_15_captures_on_long_paths_are_exact() -> None:
    rng = random.Random(15)
    segs = [rng.choice("ab") for _ in range(3000)]
    path = "/" + "/".join([*segs, "x", "7", "y"])
    # {mid} between two "**" (computed by the linear two-pass match_segments); {last} from the end.
    found = Matcher(_rules("/**/b/**/{mid}/x/**/{last}")).match("GET", path)
    assert found is not None and found[1] == {"mid": segs[-1], "last": "y"}
    found = Matcher(_rules("/{first}/**/{id}/y")).match("GET", path)
    assert found is not None and found[1] == {"first": segs[0], "id": "7"}


# -- RG-2026-17: method override inside the guard ----------------------------------------------

OVERRIDE_POLICY = f"""
method_override = "{{mode}}"

[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"

[auth.session]
format = "flask"
secret = "{edges_apps.SECRET}"

[[rules]]
path = "/api/items/{{{{item_id}}}}"
methods = ["DELETE"]
roles = ["admin"]

[[rules]]
path = "/api/items/{{{{item_id}}}}"
methods = ["GET"]
access = "public"

[[rules]]
path = "/api/**"
"""
USER = bearer(token("alice", roles=("user",)))
ADMIN = bearer(token("root", roles=("admin",)))
COOKIE_USER = {"Cookie": "session=" + session_cookie(edges_apps.SECRET, {"user_id": "carol"}, format="flask")}


class HTTPMethodOverrideMiddleware:
    """Flask's documented pattern (flask.palletsprojects.com, "Adding HTTP Method Overrides")."""

    allowed_methods = frozenset(["GET", "HEAD", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"])
    bodyless_methods = frozenset(["GET", "HEAD", "OPTIONS", "DELETE"])

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method = environ.get("HTTP_X_HTTP_METHOD_OVERRIDE", "").upper()
        if method in self.allowed_methods:
            environ["REQUEST_METHOD"] = method
        if method in self.bodyless_methods:
            environ["CONTENT_LENGTH"] = "0"
        return self.app(environ, start_response)


def _asgi_override(app: Any) -> Any:
    """The same override for ASGI: every header and ``_method`` name the method the app runs."""
    from urllib.parse import parse_qsl

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        names = {b"x-http-method-override", b"x-http-method", b"x-method-override"}
        for name, value in scope["headers"]:
            if name in names and value.strip():
                scope = {**scope, "method": value.decode().strip().upper()}
        for key, value in parse_qsl(scope["query_string"].decode()):
            if key == "_method":
                scope = {**scope, "method": value.upper()}
        await app(scope, receive, send)

    return middleware


def _override_send(kind: str, mode: str = "judge", honour: bool = True) -> Any:
    policy = Policy.from_toml_string(OVERRIDE_POLICY.format(mode=mode))
    if kind == "wsgi":
        from flask import Flask, jsonify, request

        flask = Flask("override")
        flask.add_url_rule("/api/items/<item_id>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
                           view_func=lambda item_id: jsonify({"ran": request.method}))
        flask.wsgi_app = HTTPMethodOverrideMiddleware(flask.wsgi_app)  # type: ignore[method-assign]
        flask.wsgi_app = WSGIGuard(flask.wsgi_app, policy=policy)  # type: ignore[method-assign]
        return lambda method, target, headers: call_wsgi(flask, method, target, headers)
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def view(request: Any) -> Any:
        return JSONResponse({"ran": request.method})

    app = Starlette(routes=[Route("/api/items/{item_id}", view, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])])
    guard = ASGIGuard(_asgi_override(app) if honour else app, policy=policy)
    return lambda method, target, headers: call_asgi(guard, method, target, headers)


OVERRIDE = "X-HTTP-Method-Override"
EVIL = {"Origin": "http://evil.example"}


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize(("method", "target", "headers", "status", "ran"), [
    pytest.param("POST", "/api/items/7", {**USER, OVERRIDE: "DELETE"}, 403, None, id="user-post-as-admin-delete"),
    pytest.param("POST", "/api/items/7", {**USER, OVERRIDE: "delete"}, 403, None, id="lowercase-override"),
    pytest.param("POST", "/api/items/7", {**ADMIN, OVERRIDE: "DELETE"}, 200, "DELETE", id="admin-post-as-delete"),
    pytest.param("GET", "/api/items/7", {OVERRIDE: "PUT"}, 401, None, id="anonymous-get-as-put"),
    pytest.param("GET", "/api/items/7", {}, 200, "GET", id="anonymous-get"),
    pytest.param("POST", "/api/items/7", {**USER, OVERRIDE: "PUT"}, 200, "PUT", id="user-post-as-put-both-allowed"),
    pytest.param("POST", "/api/items/7", {**USER, OVERRIDE: "POST"}, 200, "POST", id="same-method"),
    pytest.param("POST", "/api/items/7", {**USER, OVERRIDE: " "}, 200, "POST", id="blank-override"),
    pytest.param("POST", "/api/items/7", {**USER, "X-HTTP-Method": "DELETE"}, 403, None, id="x-http-method"),
    pytest.param("POST", "/api/items/7", {**USER, "X-Method-Override": "DELETE"}, 403, None, id="x-method-override"),
    pytest.param("POST", "/api/items/7?_method=DELETE", USER, 403, None, id="query-_method"),
    pytest.param("POST", "/api/items/7?%5Fmethod=DELETE", USER, 403, None, id="query-encoded-_method"),
    pytest.param("POST", "/api/items/7", {**USER, OVERRIDE: "PUT, DELETE"}, 403, None, id="list-of-methods"),
    pytest.param("POST", "/api/items/7", {**USER, OVERRIDE: "DELET"}, 400, None, id="not-a-method"),
    pytest.param("POST", "/api/items/7", {**USER, OVERRIDE: "DELETE;x"}, 400, None, id="junk"),
    pytest.param("GET", "/api/items/7", {**COOKIE_USER, **EVIL, OVERRIDE: "PUT"}, 403, None,
                 id="cookie-cross-site-get-as-put-is-csrf"),
    pytest.param("GET", "/api/items/7", {**COOKIE_USER, "Origin": "http://testserver", OVERRIDE: "PUT"}, 200, "PUT",
                 id="cookie-same-origin-get-as-put"),
])
def test_rg_2026_17_method_override_is_judged(
    kind: str, method: str, target: str, headers: dict[str, str], status: int, ran: str | None
) -> None:
    reply = _override_send(kind)(method, target, headers)
    assert reply.status == status, reply.body
    if ran is not None:
        assert reply.json() == {"ran": ran}


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_17_a_get_turned_into_a_login_post_is_throttled(kind: str, tmp_path: Path) -> None:
    from urllib.parse import urlencode

    from .test_advisory_throttle import PASSWORD, Client, make_policy

    client = Client(kind, make_policy(tmp_path, max_failures=10, username_max=2))
    client.login("alice")
    client.login("alice")  # the username is locked now
    form = urlencode({"username": "alice", "password": PASSWORD}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", OVERRIDE: "POST"}
    assert client.send("GET", "/login", headers, form).status == 429  # the app may run it as the POST
    assert client.send("GET", "/login").status == 200  # the form itself still answers


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_17_refuse_mode_refuses_any_override(kind: str) -> None:
    send = _override_send(kind, "refuse")
    assert send("POST", "/api/items/7", {**ADMIN, OVERRIDE: "PUT"}).status == 400
    assert send("POST", "/api/items/7", {**ADMIN, OVERRIDE: "POST"}).json() == {"ran": "POST"}  # no change
    assert send("POST", "/api/items/7", ADMIN).json() == {"ran": "POST"}


def test_rg_2026_17_ignored_mode_is_for_apps_that_honour_no_override() -> None:
    # The policy says the app ignores these headers: the guard judges the real method only.
    send = _override_send("asgi", "ignored", honour=False)
    assert send("POST", "/api/items/7", {**USER, "X-Method-Override": "DELETE"}).json() == {"ran": "POST"}
    with pytest.raises(PolicyError, match=r"method_override: 'ignore' is not one of .*did you mean 'ignored'"):
        Policy.from_toml_string(OVERRIDE_POLICY.format(mode="ignore"))


@pytest.mark.parametrize(("prefix", "path"), [
    pytest.param("/app; Domain=evil.example", "/", id="cookie-attribute-injection"),
    pytest.param("//evil.example", "/", id="protocol-relative"),
    pytest.param("/app", "/app", id="plain-prefix-kept"),
])
def test_rg_2026_24_hostile_prefix_never_reaches_session_cookie_path(prefix: str, path: str) -> None:
    import json

    from werkzeug.middleware.proxy_fix import ProxyFix

    from .support import session_flask_app, session_policy

    app = ProxyFix(WSGIGuard(session_flask_app().wsgi_app, policy=session_policy("memory://")), x_prefix=1)
    reply = call_wsgi(app, "POST", "/login", {"Content-Type": "application/json", "X-Forwarded-Prefix": prefix},
                      body=json.dumps({"user": "alice"}).encode())
    assert reply.status == 303
    cookies = [value for name, value in reply.raw_headers if name.lower() == "set-cookie"]
    assert len(cookies) == 1 and "evil" not in cookies[0]
    assert f"; Path={path};" in cookies[0]
