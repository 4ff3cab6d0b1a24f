"""The examples on real servers: uvicorn (FastAPI) and gunicorn (Flask, 2 workers, one SQLite store).

Firewall cases go over raw sockets, so the target reaches the server byte for byte; the rest
goes through httpx. Every response is checked against tests/e2e/model.py, and whether the app
ran at all is read from the marker tests/e2e/served.py adds inside the guard.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from .conftest import api_token, client, log_in, on_every_worker, session_of
from .model import API, BROWSER, MAX_FAILURES, PROTECTED_MARKERS, ROUTES, Who, bearer, expect, problems
from .rawhttp import RawConnection, RawResponse, exchange, request_bytes
from .servers import Server, fresh_source

pytestmark = pytest.mark.slow


def assert_guard_400(response: RawResponse | None, *, browser: bool = False) -> None:
    assert response is not None, "the guard answers a firewall case; the connection was just closed"
    assert response.status == 400, (response.status, response.body[:200])
    assert not response.handled, "the app ran for a request the firewall must reject"
    assert response.header("cache-control") == "no-store"
    assert response.header("vary") == "Accept"
    if browser:
        assert (response.header("content-type") or "").startswith("text/html")
        assert b"400 Bad Request" in response.body
    else:
        assert json.loads(response.body) == {"error": "Bad Request"}


def assert_refused(response: RawResponse | None, allowed_statuses: set[int]) -> None:
    """The app never ran, nothing protected leaked, no 5xx (the server may also just hang up)."""
    if response is None:
        return
    assert response.status in allowed_statuses, (response.status, response.body[:200])
    assert not response.handled, "the app ran for a request that must never reach it"
    assert not any(marker in response.body for marker in PROTECTED_MARKERS), response.body[:200]


# -- SPEC §3: one case per class, each aimed at something protected ---------------------------
# (target, id). The example has no /public rule: /health and /login are its public paths, so a
# traversal "from" them towards /admin is the attack; the SPEC's own examples are included too.
GUARD_REJECTS = [
    (b"/public/..%2fadmin", "encoded-slash-traversal"),
    (b"/health/..%2fadmin", "encoded-slash-from-public"),
    (b"/login%2f..%2fadmin", "encoded-slash-only"),
    (b"/health%2F", "encoded-slash-upper"),
    (b"/health/..%5cadmin", "encoded-backslash"),
    (b"/health\\..\\admin", "backslash"),
    (b"/%2e%2e/admin", "encoded-dot-dot"),
    (b"/health/%2E%2e/admin", "encoded-dot-dot-mixed-case"),
    (b"/health/../admin", "plain-dot-dot"),
    (b"/health/./", "dot-segment"),
    (b"/admin/%2e", "encoded-dot-segment"),
    (b"/admin/..", "trailing-dot-dot"),
    (b"/health;jsessionid=0123", "semicolon-jsessionid"),
    (b"/..;/admin", "tomcat-dot-dot-semicolon"),
    (b"/admin;/", "semicolon-segment"),
    (b"/health%3b/../admin", "encoded-semicolon-traversal"),
    (b"//admin", "empty-segment-leading"),
    (b"/admin//users", "empty-segment-inner"),
    (b"/health%00", "encoded-nul"),
    (b"/health%00/../admin", "encoded-nul-traversal"),
    (b"/health%09", "encoded-tab"),
    (b"/health%0d%0aSet-Cookie:x", "encoded-crlf"),
    (b"/health%7f", "encoded-del"),
    (b"/health%c2%85", "encoded-c1-control"),
    (b"/%252e%252e/admin", "double-encoded-dots"),
    (b"/health/%252fadmin", "double-encoded-slash"),
    (b"/%2561dmin", "double-encoded-letter"),
    (b"/%ff", "invalid-utf8"),
    (b"/%c0%ae%c0%ae/admin", "overlong-utf8-dots"),
    (b"/admin%e2%82", "truncated-utf8"),
    (b"/health%zz", "malformed-escape"),
    (b"/health%", "dangling-percent"),
    (b"/health%2", "short-escape"),
]


@pytest.mark.parametrize(("target", "case"), GUARD_REJECTS, ids=[c for _, c in GUARD_REJECTS])
def test_firewall_rejects_ambiguous_target_on_the_wire(server: Server, target: bytes, case: str) -> None:
    assert_guard_400(exchange(server.port, request_bytes("GET", target, {"Accept": API}, close=True)))


def test_firewall_400_for_browsers_is_html_and_head_has_no_body(server: Server) -> None:
    response = exchange(server.port, request_bytes("GET", b"/health/..%2fadmin", {"Accept": BROWSER}, close=True))
    assert_guard_400(response, browser=True)
    head = exchange(server.port, request_bytes("HEAD", b"/health/..%2fadmin", close=True), head=True)
    assert head is not None and head.status == 400 and not head.handled


def test_firewall_ignores_the_query_string(server: Server) -> None:
    response = exchange(server.port, request_bytes("GET", b"/health?next=/../%2fadmin;x%00%ff", close=True))
    assert response is not None and response.status == 200 and response.handled


# Targets some servers refuse themselves: either way the app never runs.
NON_ORIGIN = [
    (b"OPTIONS", b"*", "asterisk-form"),
    (b"GET", b"*", "asterisk-form-get"),
    (b"GET", b"health", "no-leading-slash"),
    (b"GET", b"?x=1", "query-only"),
    (b"CONNECT", b"127.0.0.1:80", "authority-form"),
    (b"GET", b"http://127.0.0.1/health/..%2fadmin", "absolute-form-traversal"),
    (b"GET", b"http://127.0.0.1//admin", "absolute-form-empty-segment"),
    (b"GET", b"http://127.0.0.1#/admin", "absolute-form-fragment"),
]


@pytest.mark.parametrize(("method", "target", "case"), NON_ORIGIN, ids=[c for *_, c in NON_ORIGIN])
def test_non_origin_form_targets_never_reach_the_app(server: Server, method: bytes, target: bytes, case: str) -> None:
    data = method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    response = exchange(server.port, data)
    assert_refused(response, {400})
    if server.name == "uvicorn":  # uvicorn hands every one of these to the guard
        assert_guard_400(response)


@pytest.mark.parametrize("path", ["/admin", "/admin/users", "/dashboard"])
def test_absolute_form_is_judged_on_the_path_the_router_uses(server: Server, path: str) -> None:
    """uvicorn leaves an absolute-form target undecoded (path "http://..."): the firewall's 400.
    gunicorn maps it to PATH_INFO, which Flask routes on: the guard judges that path (401)."""
    target = b"http://127.0.0.1" + path.encode()
    response = exchange(server.port, request_bytes("GET", target, {"Accept": API}, close=True))
    if server.name == "uvicorn":
        assert_guard_400(response)
    else:
        assert_refused(response, {401})
        assert response is not None and response.header("www-authenticate") == "Bearer"
    public = exchange(server.port, request_bytes("GET", b"http://127.0.0.1/health", close=True))
    assert public is not None
    assert public.status == (400 if server.name == "uvicorn" else 200)


def test_headers_cannot_move_the_judged_path(server: Server) -> None:
    """Prefix and rewrite headers (SCRIPT_NAME, X-Original-URL, ...) change nothing the guard judges."""
    cases = [(b"/health/admin/users", "SCRIPT_NAME: /health"), (b"/health/admin/users", "Script-Name: /health"),
             (b"/admin/users", "X-Forwarded-Prefix: /health"), (b"/admin/users", "X-Original-URL: /health"),
             (b"/admin/users", "X-Rewrite-URL: /health")]
    for target, header in cases:
        name, _, value = header.partition(": ")
        response = exchange(server.port, request_bytes("GET", target, {name: value}, close=True))
        assert_refused(response, {401, 404})
        assert response is not None


# -- the access matrix ------------------------------------------------------------------------
def send_as(c: httpx.Client, server: Server, who: Who, method: str, path: str, accept: str) -> httpx.Response:
    return c.request(method, server.url + path, headers={**who.headers, "Accept": accept})


def check(response: httpx.Response, who: Who, path: str, browser: bool) -> list[str]:
    expected = expect(who, path, browser)
    found = problems(expected, who, path, browser, response.status_code, response.headers, response.content,
                     response.headers.get("x-e2e-handler") == "1")
    return [f"{who.label} GET {path} ({'browser' if browser else 'api'}): {p}" for p in found]


def test_access_matrix(server: Server, identities: dict[str, Who]) -> None:
    """Every identity (anonymous, user, admin, cross-tenant, expired, forged, alg=none, wrong
    audience, tampered cookie) against every route, as an API client and as a browser, plus
    HEAD: exactly the status SPEC §4 prescribes, the app running only when allowed, and the
    app seeing exactly the identity that was sent."""
    failures: list[str] = []
    for who in identities.values():
        for accept in (API, BROWSER):
            with client() as c:  # one address per identity and kind: stays under the throttle
                for path in ROUTES:
                    failures += check(send_as(c, server, who, "GET", path, accept), who, path, accept == BROWSER)
        with client() as c:
            for path in ROUTES:
                head = send_as(c, server, who, "HEAD", path, API)
                expected = expect(who, path, browser=False)
                handled = head.headers.get("x-e2e-handler") == "1"
                # A rule naming GET covers HEAD; FastAPI's @app.get routes then answer 405 themselves.
                ok = {200, 405} if expected.handled else {expected.status}
                if head.status_code not in ok or handled != expected.handled or head.content:
                    failures.append(f"{who.label} HEAD {path}: {head.status_code} handled={handled} {head.content!r}")
    assert not failures, "\n".join(failures)
    assert not server.errors(), server.errors()


def test_invalid_credentials_never_lock_anyone_out_of_public_pages(server: Server, identities: dict[str, Who]) -> None:
    for label in ("expired-token", "forged-token", "alg-none-token", "tampered-cookie"):
        with client() as c:
            login = c.get(server.url + "/login", headers={**identities[label].headers, "Accept": BROWSER})
            assert login.status_code == 200 and 'id="username"' in login.text, label


def test_failed_credentials_are_throttled_per_client(server: Server, identities: dict[str, Who]) -> None:
    """README: after 20 guessed credentials the client's further invalid credentials get 429 with
    Retry-After; a correct credential is never refused (RG-2026-13); public pages keep working;
    other clients are unaffected."""
    forged, alice = identities["forged-token"], identities["alice-token"]
    with client() as c:  # one keep-alive connection: one worker, one client address
        statuses = [send_as(c, server, forged, "GET", "/api/me", API).status_code for _ in range(MAX_FAILURES + 2)]
        assert statuses == [401] * MAX_FAILURES + [429] * 2
        locked = send_as(c, server, forged, "GET", "/api/me", API)
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert locked.json() == {"error": "Too Many Requests"} and "x-e2e-handler" not in locked.headers
        assert send_as(c, server, alice, "GET", "/api/me", API).status_code == 200
        assert send_as(c, server, forged, "GET", "/login", API).status_code == 200  # public pages stay open
    with client() as other:
        assert send_as(other, server, forged, "GET", "/api/me", API).status_code == 401  # per client address


def test_ambiguous_credentials_on_the_wire(server: Server, identities: dict[str, Who]) -> None:
    """Duplicated credentials are refused whichever copy a framework would pick; two kinds of
    credential must name the same subject (RG-2026-14), and then the app sees that identity."""
    def value(label: str) -> str:
        return identities[label].headers.get("Authorization") or identities[label].headers["Cookie"]

    alice, root = value("alice-token"), value("root-token")
    alice_cookie, root_cookie = value("alice-cookie"), value("root-cookie")
    cases: list[tuple[str, list[tuple[str, str]], str | None]] = [
        ("two-authorization-headers", [("Authorization", alice), ("Authorization", root)], None),
        ("two-session-cookies", [("Cookie", f"{alice_cookie}; {root_cookie}")], None),
        ("two-cookie-headers", [("Cookie", alice_cookie), ("Cookie", root_cookie)], None),
        ("bearer-and-cookie-of-another-user", [("Cookie", root_cookie), ("Authorization", alice)], None),
        ("bearer-and-cookie-of-the-same-user", [("Cookie", root_cookie), ("Authorization", root)], "root"),
        ("same-cookie-twice", [("Cookie", f"{root_cookie}; {root_cookie}")], "root"),
        ("quoted-cookie", [("Cookie", root_cookie.replace("session=", 'session="') + '"')], "root"),
        ("lower-case-scheme", [("Authorization", root.replace("Bearer", "bearer"))], "root"),
    ]
    failures = []
    for case, headers, subject in cases:
        data = request_bytes("GET", "/api/me", [*headers, ("Accept", API)], close=True)
        response = exchange(server.port, data, source=fresh_source())
        assert response is not None
        if subject is None:
            if response.status != 401 or response.handled:
                failures.append(f"{case}: {response.status}, handled={response.handled}")
        elif response.status != 200 or json.loads(response.body)["subject"] != subject:
            failures.append(f"{case}: {response.status} {response.body[:80]!r}, expected {subject}")
    assert not failures, failures


# -- logout holds on every worker -------------------------------------------------------------
def test_logged_out_session_is_refused_by_every_worker(server: Server) -> None:
    login = log_in(server, "bob", "bob-pass", "/dashboard")
    assert login.status_code == 303 and login.headers["location"] == "/dashboard"
    cookie = {"Cookie": f"session={session_of(login)}"}
    for response in on_every_worker(server, lambda c: c.get(server.url + "/dashboard", headers=cookie)):
        assert response.status_code == 200 and "Hello bob." in response.text

    with client() as c:
        logout = c.post(server.url + "/logout", headers=cookie)
    assert logout.status_code == 303 and logout.headers["location"] == "/login"
    assert "session=" in logout.headers["set-cookie"]  # the browser's copy is cleared too

    api, browser = {**cookie, "Accept": API}, {**cookie, "Accept": BROWSER}
    for response in on_every_worker(server, lambda c: c.get(server.url + "/dashboard", headers=api)):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert "x-e2e-handler" not in response.headers
    for response in on_every_worker(server, lambda c: c.get(server.url + "/dashboard", headers=browser)):
        assert response.status_code == 302
        assert response.headers["location"] == "/login?next=%2Fdashboard"
    with client() as c:  # the login page itself stays reachable with the dead cookie
        assert c.get(server.url + "/login", headers=cookie).status_code == 200


def test_logged_out_token_is_refused_by_every_worker(server: Server) -> None:
    token = bearer(api_token(server, "bob", "bob-pass"))
    for response in on_every_worker(server, lambda c: c.get(server.url + "/api/me", headers=token)):
        assert response.status_code == 200 and response.json()["subject"] == "bob"
    with client() as c:
        assert c.post(server.url + "/api/logout", headers=token).json() == {"revoked": True}
    for response in on_every_worker(server, lambda c: c.get(server.url + "/api/me", headers=token)):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    other = bearer(api_token(server, "bob", "bob-pass"))  # a new login still works
    for response in on_every_worker(server, lambda c: c.get(server.url + "/api/me", headers=other)):
        assert response.status_code == 200 and response.json()["subject"] == "bob"


# -- keep-alive: identities never bleed between requests on one connection --------------------
def _sequence(identities: dict[str, Who]) -> list[tuple[Who, str]]:
    pairs = [
        ("root-token", "/admin/users"), ("anonymous", "/admin/users"), ("alice-cookie", "/api/me"),
        ("anonymous", "/api/me"), ("bob-token", "/orgs/globex/projects"), ("alice-token", "/orgs/globex/projects"),
        ("root-cookie", "/admin"), ("forged-token", "/admin"), ("alice-token", "/admin"), ("bob-token", "/api/me"),
        ("anonymous", "/"), ("root-token", "/"), ("tampered-cookie", "/dashboard"), ("alice-cookie", "/dashboard"),
        ("expired-token", "/"), ("anonymous", "/dashboard"), ("root-token", "/api/me"),
    ]
    return [(identities[label], path) for label, path in pairs]


def _raw_check(response: RawResponse, who: Who, path: str) -> list[str]:
    found = problems(expect(who, path, False), who, path, False, response.status, dict(response.headers),
                     response.body, response.handled)
    if response.closes:
        found.append("the server closed a keep-alive connection")
    return [f"{who.label} GET {path}: {p}" for p in found]


@pytest.mark.parametrize("pipelined", [False, True], ids=["sequential", "pipelined"])
def test_keepalive_connection_carries_many_identities(server: Server, identities: dict[str, Who],
                                                      pipelined: bool) -> None:
    sequence = _sequence(identities) * 2
    failures: list[str] = []
    with RawConnection(server.port, source=fresh_source()) as conn:
        if pipelined:  # all requests in one write; responses must come back in order
            conn.send(b"".join(request_bytes("GET", path, {**who.headers, "Accept": API}) for who, path in sequence))
            responses = [conn.read() for _ in sequence]
        else:
            responses = []
            for who, path in sequence:
                conn.send(request_bytes("GET", path, {**who.headers, "Accept": API}))
                responses.append(conn.read())
        pids = {r.header("x-e2e-pid") for r in responses}
    for response, (who, path) in zip(responses, sequence, strict=True):
        failures += _raw_check(response, who, path)
    assert not failures, "\n".join(failures)
    assert len(pids) == 1, "one connection is served by one worker"


# -- request lines: large and malformed --------------------------------------------------------
def test_large_request_line(server: Server) -> None:
    # Long, but within every server's limit (gunicorn: 4094 bytes): the guard decides as usual.
    long_path = "/orgs/acme/" + "a" * 3900
    response = exchange(server.port, request_bytes("GET", long_path, {"Accept": API}, close=True))
    assert response is not None and response.status == 401 and not response.handled
    browser = exchange(server.port, request_bytes("GET", long_path, {"Accept": BROWSER}, close=True))
    assert browser is not None and browser.status == 302
    assert (browser.header("location") or "").startswith("/login?next=%2Forgs%2Facme%2Faaaa")
    # Far beyond any limit: the server refuses it (or hangs up); never the app, never a 5xx.
    for size in (20_000, 70_000, 300_000):
        answer = exchange(server.port, request_bytes("GET", "/admin/" + "a" * size, close=True))
        assert_refused(answer, {400, 401, 413, 414, 431})
    # An oversized credential is refused, not parsed.
    token = {"Authorization": "Bearer " + "a" * 9000, "Accept": API}
    assert_refused(exchange(server.port, request_bytes("GET", "/api/me", token, close=True)), {400, 401, 431})
    assert server.alive()
    assert httpx.get(server.url + "/health").status_code == 200
    assert not server.errors(), server.errors()


MALFORMED = [
    (b"GARBAGE\r\n\r\n", "one-word"),
    (b"GET /admin HTTP/1.1 extra\r\nHost: x\r\n\r\n", "extra-token"),
    (b"GET  /admin HTTP/1.1\r\nHost: x\r\n\r\n", "double-space"),
    (b"GET /admin\r\nHost: x\r\n\r\n", "no-version"),
    (b"GET /admin HTTP/1.1\nHost: x\n\n", "bare-lf"),
    (b"GET /admin HTTP/1.1\rHost: x\r\r", "bare-cr"),
    (b"GET /ad\x01min HTTP/1.1\r\nHost: x\r\n\r\n", "raw-control-character"),
    (b"GET /ad min HTTP/1.1\r\nHost: x\r\n\r\n", "raw-space"),
    (b"GET /\xc3\xa9/admin HTTP/1.1\r\nHost: x\r\n\r\n", "raw-utf8"),
    (b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n", "raw-invalid-utf8"),
    (b"GET /admin HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "header-without-colon"),
    (b"G\x00T /admin HTTP/1.1\r\nHost: x\r\n\r\n", "nul-in-method"),
    (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40, "tls-client-hello"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "http2-preface"),
]


@pytest.mark.parametrize(("data", "case"), MALFORMED, ids=[c for _, c in MALFORMED])
def test_malformed_request_line(server: Server, data: bytes, case: str) -> None:
    with RawConnection(server.port, timeout=5) as conn:
        conn.send(data)
        conn.sock.shutdown(socket.SHUT_WR)  # nothing more is coming: answer or hang up now
        try:
            response = conn.read_or_closed()
        except TimeoutError:
            response = None  # still waiting for a request it can parse: nothing was served
    assert_refused(response, {400, 401, 405, 414, 505})
    assert server.alive()
    with client() as c:
        assert c.get(server.url + "/health").status_code == 200
