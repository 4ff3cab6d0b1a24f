"""Named regression tests from the outside attack review of the issue 10 fixes, re-run with variants.

RG-2026-29  The per-username login lock (RG-2026-13) was dodged by the shape of the login body:
            the guard read the username only from a form-encoded or JSON body of at most 64 KiB
            and 256 fields, declared as such, while the apps read more. A locked username signed
            in with the right password through a multipart form, a JSON body without (or with
            another) content type, a UTF-16 or BOM-prefixed JSON body, a padded body (> 64 KiB or
            > 256 fields), a chunked WSGI body, raw non-UTF-8 bytes, or a fullwidth spelling.
            Now every reading an app may give the body counts, an unreadable login body is 400,
            and usernames are compared after NFKC normalisation.
RG-2026-30  Method override (RG-2026-17) was dodged by escaping a letter of the ``_method`` query
            key other than ``_`` (``?_%6Dethod=DELETE``): the guard looked for ``_method`` or
            ``%5f`` in the raw query, the app's override decoded the key and ran the DELETE.
RG-2026-31  The per-client throttle counted each IPv6 address apart: a client rotating through
            its own /64 (2^64 addresses) guessed and sprayed passwords without limit. An IPv6
            client now counts by its /64, an IPv4-mapped address as its IPv4 address.
RG-2026-32  Variant of RG-2026-19: the permissions (``scope``) claim was split on any whitespace,
            so one scope token holding a tab, newline or Unicode space (``files:x\u00a0admin``,
            from an authorization server with parameterised scopes) granted ``admin``. It is
            split on spaces only (RFC 6749 3.3).
RG-2026-33  Variant of RG-2026-29: a login view reading werkzeug's ``request.values`` (query
            string first, then the form) signed a locked username in from
            ``POST /login?username=alice&password=...``: the guard read the body only. The
            query string's username counts too.
"""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from routeguard.testing import wsgi_environ

from .test_advisory_throttle import PASSWORD, Client, make_policy, too_many

FORM = "application/x-www-form-urlencoded"
GOOD_FORM = urlencode({"username": "alice", "password": PASSWORD})
GOOD_JSON = json.dumps({"username": "alice", "password": PASSWORD})
MULTIPART = (
    '--XyZ\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n'
    f'--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\n{PASSWORD}\r\n--XyZ--\r\n'
).encode()


def _locked(kind: str, tmp_path: Path) -> Client:
    """A guarded app whose username ``alice`` is locked out of the login form."""
    client = Client(kind, make_policy(tmp_path, max_failures=50, username_max=2))
    client.login("alice")
    client.login("alice")
    assert too_many(client.login("alice", PASSWORD))
    return client


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize(("headers", "body"), [
    pytest.param({"Content-Type": "multipart/form-data; boundary=XyZ"}, MULTIPART, id="multipart"),
    pytest.param({}, GOOD_JSON.encode(), id="json-without-content-type"),
    pytest.param({"Content-Type": "text/plain"}, GOOD_JSON.encode(), id="json-as-text-plain"),
    pytest.param({"Content-Type": "application/json"}, GOOD_JSON.encode("utf-16"), id="json-utf16"),
    pytest.param({"Content-Type": "application/json"}, b"\xef\xbb\xbf" + GOOD_JSON.encode(), id="json-bom"),
    pytest.param({"Content-Type": "application/json"}, GOOD_JSON.replace("alice", "\uff41lice").encode(),
                 id="json-fullwidth-nfkc"),
    pytest.param({"Content-Type": FORM}, (GOOD_FORM + "".join(f"&f{i}=1" for i in range(300))).encode(),
                 id="form-300-fields"),
    pytest.param({"Content-Type": FORM}, (GOOD_FORM + "&x=\xff").encode("latin-1"), id="form-raw-non-utf8"),
])
def test_rg_2026_29_a_locked_username_cannot_sign_in_through_another_body_shape(
    kind: str, tmp_path: Path, headers: dict[str, str], body: bytes
) -> None:
    client = _locked(kind, tmp_path)
    assert too_many(client.send("POST", "/login", headers, body))
    assert client.login("bob", PASSWORD).status == 200  # other users still sign in


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize(("headers", "body"), [
    pytest.param({"Content-Type": FORM}, (GOOD_FORM + "&pad=" + "x" * 70_000).encode(), id="form-over-64k"),
    pytest.param({"Content-Type": "application/json"},
                 json.dumps({"username": "alice", "password": PASSWORD, "p": "x" * 70_000}).encode(),
                 id="json-over-64k"),
    pytest.param({"Content-Type": "multipart/form-data; boundary=XyZ"}, b"--XyZ\r\n", id="multipart-malformed"),
])
def test_rg_2026_29_an_unreadable_login_body_is_refused(
    kind: str, tmp_path: Path, headers: dict[str, str], body: bytes
) -> None:
    client = _locked(kind, tmp_path)
    assert client.send("POST", "/login", headers, body).status == 400
    assert client.login("bob", PASSWORD).status == 200


def _chunked(client: Client, body: bytes) -> int:
    """A chunked WSGI login POST (no CONTENT_LENGTH, ``wsgi.input_terminated``, as gunicorn)."""
    environ = wsgi_environ("POST", "/login", {"Content-Type": FORM}, body=body)
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = BytesIO(body)
    environ["wsgi.input_terminated"] = True
    status: list[str] = []
    b"".join(client.app(environ, lambda s, h, e=None: status.append(s)))
    return int(status[0].split()[0])


def test_rg_2026_29_a_chunked_wsgi_login_body_is_read(tmp_path: Path) -> None:
    client = _locked("wsgi", tmp_path)
    assert _chunked(client, GOOD_FORM.encode()) == 429
    assert _chunked(client, (GOOD_FORM + "&pad=" + "x" * 70_000).encode()) == 400
    assert _chunked(client, urlencode({"username": "bob", "password": PASSWORD}).encode()) == 200


def test_rg_2026_29_usernames_in_reads_every_shape() -> None:
    from routeguard.runtime.throttle import username_key, usernames_in

    assert usernames_in("multipart/form-data; boundary=XyZ", MULTIPART, "username") == ("alice",)
    assert usernames_in("text/plain", GOOD_JSON.encode("utf-32"), "username") == ("alice",)
    assert usernames_in(FORM, b"password=x", "username") == ()  # no username: only the client limit
    assert username_key("\uff21LICE ") == username_key("alice") != username_key("alicia")
    assert usernames_in("multipart/form-data; boundary=XyZ", b"--XyZ\r\n", "username") is None


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize("target", [
    pytest.param("/api/items/7?_%6Dethod=DELETE", id="escaped-m"),
    pytest.param("/api/items/7?_meth%6Fd=DELETE", id="escaped-o"),
    pytest.param("/api/items/7?%5F%6D%65%74%68%6F%64=DELETE", id="all-escaped"),
    pytest.param("/api/items/7?a=%20&_method=DELETE", id="plain-after-escape"),
])
def test_rg_2026_30_an_escaped_method_query_key_is_still_judged(kind: str, target: str) -> None:
    from .test_advisory_edges import ADMIN, USER, _override_send

    send = _override_send(kind)
    assert send("POST", target, USER).status == 403  # a user's POST the app would run as a DELETE
    admin = send("POST", target, ADMIN)
    assert admin.status == 200 and admin.json() == {"ran": "DELETE" if kind == "asgi" else "POST"}


def _from(kind: str, address: str, headers: dict[str, str]) -> Any:
    """A request from ``address`` through the adapter's own request builder."""
    from routeguard.asgi import request_from_scope
    from routeguard.testing import asgi_scope
    from routeguard.wsgi import request_from_environ

    if kind == "asgi":
        return request_from_scope(asgi_scope("GET", "/me", headers, client=(address, 4000)))
    environ = wsgi_environ("GET", "/me", headers)
    environ["REMOTE_ADDR"] = address
    return request_from_environ(environ)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_31_an_ipv6_client_cannot_rotate_through_its_64(kind: str, tmp_path: Path) -> None:
    from routeguard.runtime.effects import run_sync
    from routeguard.runtime.guard import Guard

    from .test_advisory_throttle import GARBAGE

    guard = Guard.for_policy(make_policy(tmp_path, max_failures=3))
    throttle = guard.throttle
    assert throttle is not None
    statuses = [guard.finish(run_sync(guard.evaluate(_from(kind, f"2001:db8:1:2::{n:x}", GARBAGE))),
                             _from(kind, "::1", {})) for n in range(1, 5)]
    assert [r.status if r is not None else 200 for r in statuses] == [401, 401, 401, 429]
    assert throttle.client(_from(kind, "2001:db8:1:2:ffff::9", {})) == "2001:db8:1:2::/64"
    assert throttle.client(_from(kind, "2001:db8:1:3::1", {})) == "2001:db8:1:3::/64"  # another network
    assert throttle.client(_from(kind, "::ffff:192.0.2.7", {})) == "192.0.2.7"
    assert throttle.client(_from(kind, "192.0.2.7", {})) == "192.0.2.7"


# -- RG-2026-29 on real servers: the body as gunicorn and uvicorn hand it on -------------------
def _serve(kind: str, tmp_path: Path) -> Any:
    import os
    import socket
    import subprocess
    import sys
    import time

    from .support import JWT_SECRET, SESSION_SECRET

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ([sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", "2", "-b",
                f"127.0.0.1:{port}", "tests.attack_apps:wsgi()"] if kind == "gunicorn" else
               [sys.executable, "-m", "uvicorn", "--factory", "tests.attack_apps:asgi", "--port", str(port),
                "--log-level", "warning"])
    env = {**os.environ, "RG_ATTACK_DIR": str(tmp_path), "RG_TEST_JWT_SECRET": JWT_SECRET,
           "RG_TEST_SESSION_SECRET": SESSION_SECRET}
    process = subprocess.Popen(command, cwd=Path(__file__).parent.parent, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"{kind} did not start")


def _raw(port: int, head: str, body: bytes) -> int:
    """One request over a raw socket (``head`` without the blank line): the response status."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode() + body)
        status = sock.makefile("rb").readline()
    return int(status.split()[1])


def _chunks(body: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:])) + b"0\r\n\r\n"


@pytest.mark.slow
@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_rg_2026_29_real_servers_lock_the_username_whatever_the_body(server: str, tmp_path: Path) -> None:
    process, port = _serve(server, tmp_path)
    try:
        wrong = urlencode({"username": "alice", "password": "wrong"}).encode()
        post = f"POST /login HTTP/1.1\r\nContent-Type: {FORM}"
        assert [_raw(port, f"{post}\r\nContent-Length: {len(wrong)}", wrong) for _ in range(3)] == [401, 401, 429]
        chunked = f"{post}\r\nTransfer-Encoding: chunked"
        assert _raw(port, chunked, _chunks(GOOD_FORM.encode())) == 429
        multipart = "POST /login HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=XyZ"
        assert _raw(port, f"{multipart}\r\nContent-Length: {len(MULTIPART)}", MULTIPART) == 429
        padded = (GOOD_FORM + "&pad=" + "x" * 70_000).encode()
        assert _raw(port, chunked, _chunks(padded)) == 400
        bob = urlencode({"username": "bob", "password": PASSWORD}).encode()
        assert _raw(port, chunked, _chunks(bob)) == 200  # other users sign in, chunked too
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize(("scope", "status"), [
    pytest.param("reports:read", 200, id="plain"),
    pytest.param("openid  reports:read ", 200, id="space-separated"),
    pytest.param("openid\u00a0reports:read", 403, id="nbsp-is-not-a-separator"),
    pytest.param("openid\u2003reports:read", 403, id="em-space"),
    pytest.param("openid\treports:read", 403, id="tab"),
    pytest.param("openid\nreports:read", 403, id="newline"),
])
def test_rg_2026_32_scope_is_split_on_spaces_only(kind: str, scope: str, status: int) -> None:
    from routeguard import Policy

    from .support import POLICY_TOML, bearer, sender, token

    send = sender(kind, Policy.from_toml_string(POLICY_TOML))
    assert send("GET", "/reports/q1", bearer(token(scope=scope))).status == status


def _values_login(kind: str, tmp_path: Path) -> Any:
    """A login view that reads its fields from the query string and the form alike (werkzeug's
    ``request.values``; a Starlette view merging ``query_params`` and the form)."""
    import routeguard
    from routeguard import ASGIGuard, WSGIGuard
    from routeguard.testing import call_asgi, call_wsgi

    policy = make_policy(tmp_path, max_failures=50, username_max=2)
    if kind == "wsgi":
        from flask import Flask, jsonify, request

        flask = Flask("values-login")

        @flask.post("/login")
        def login() -> Any:
            if request.values.get("password") != PASSWORD:
                routeguard.login_failed(request.environ, request.values.get("username", ""))
                return jsonify(error="wrong password"), 401
            return jsonify(user=request.values.get("username"))

        wsgi = WSGIGuard(flask.wsgi_app, policy=policy)
        return lambda target, body=b"": call_wsgi(wsgi, "POST", target, {"Content-Type": FORM}, body=body)
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def starlette_login(request: Any) -> Any:
        fields = {**dict(await request.form()), **dict(request.query_params)}
        if fields.get("password") != PASSWORD:
            await routeguard.alogin_failed(request.scope, str(fields.get("username", "")))
            return JSONResponse({"error": "wrong password"}, status_code=401)
        return JSONResponse({"user": fields.get("username")})

    asgi = ASGIGuard(Starlette(routes=[Route("/login", starlette_login, methods=["POST"])]), policy=policy)
    return lambda target, body=b"": call_asgi(asgi, "POST", target, {"Content-Type": FORM}, body=body)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_33_a_username_in_the_login_query_string_is_locked_too(kind: str, tmp_path: Path) -> None:
    send = _values_login(kind, tmp_path)
    assert [send("/login?username=alice&password=x").status for _ in range(2)] == [401, 401]
    right = urlencode({"username": "alice", "password": PASSWORD})
    assert too_many(send(f"/login?{right}"))
    assert too_many(send("/login?username=alice", urlencode({"username": "bob", "password": PASSWORD}).encode()))
    assert send(f"/login?{right.replace('alice', 'bob')}").status == 200
