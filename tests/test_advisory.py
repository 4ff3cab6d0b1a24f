"""Named regression tests for security bugs found in review (pyjwt's test_advisory.py style).

RG-2026-01  WSGI: a server splitting SCRIPT_NAME as a plain string (``/appadmin`` under
            ``/app`` -> PATH_INFO ``admin``) made the guard judge ``/appadmin`` while werkzeug
            dispatched ``/admin``.
RG-2026-02  Lowercase methods (``delete``) skipped method-scoped rules while werkzeug and
            Django upper-case the method before dispatching.
RG-2026-03  With ``empty_segment`` relaxed, ``//admin`` was judged as segments ("", "admin")
            while werkzeug routes it as ``/admin``.
RG-2026-04  Cross-site websocket hijacking: cookie-authenticated websocket handshakes skipped
            the CSRF origin check (test in test_authorization.py).
RG-2026-05  Logout of a signed session cookie was keyed on the cookie text (BUG-E2E-1), and
            earlier copies of the user's cookie stayed valid after logout.
RG-2026-06  A cross-site unsafe request on a public rule only lost routeguard's identity; the
            app's own session layer still saw the cookie (test in test_authorization.py).
RG-2026-07  The failed-credential throttle answered 429 to failures only: a correct guess
            sent while locked out was accepted. Reversed by RG-2026-13: a credential that
            verifies is never refused by a lockout (tests in test_advisory_throttle.py).
RG-2026-08  ``policy.model_copy(update=...)`` reused the guard built for the original policy.
RG-2026-09  A Redis password in ``store.url`` appeared in reprs and load errors.
RG-2026-10  ``allow_preflight`` let OPTIONS through on deny and default-deny paths.
RG-2026-11  ``jwks_url`` accepted plain http to remote hosts (keys swappable in transit).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from routeguard import Policy, PolicyError, WSGIGuard
from routeguard.runtime.guard import Guard
from routeguard.testing import call_asgi, wsgi_environ

from .support import STARLETTE_SESSION, Client, bearer, cookie, flask_app, sender, session_policy, token

ADMIN_FIRST = """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"
[[rules]]
path = "/admin/**"
roles = ["admin"]
[[rules]]
path = "/api/items/{id}"
methods = ["DELETE"]
roles = ["admin"]
[[rules]]
path = "/**"
"""
USER = bearer(token("alice", roles=("user",)))


def test_rg_2026_01_wsgi_path_info_without_leading_slash() -> None:
    app = flask_app()
    guard = WSGIGuard(app.wsgi_app, policy=Policy.from_toml_string(ADMIN_FIRST))
    environ = wsgi_environ("GET", "/appadmin", USER)
    environ.update(SCRIPT_NAME="/app", PATH_INFO="admin", RAW_URI="/appadmin")
    started: dict[str, Any] = {}
    body = b"".join(guard(environ, lambda status, headers, exc=None: started.update(status=status)))
    assert started["status"].startswith("400"), body  # non_origin_form: never the admin handler
    relaxed = WSGIGuard(app.wsgi_app, policy=Policy.from_toml_string(
        '[firewall]\nrelax = ["non_origin_form"]\n' + ADMIN_FIRST))
    started.clear()
    b"".join(relaxed(environ, lambda status, headers, exc=None: started.update(status=status)))
    assert started["status"].startswith("403")  # judged as werkzeug routes it: /admin, role admin


@pytest.mark.parametrize("method", ["delete", "Delete", "dElEtE"])
def test_rg_2026_02_lowercase_methods_match_method_rules(method: Any) -> None:
    policy_ = Policy.from_toml_string(ADMIN_FIRST)
    for kind in ("asgi", "wsgi"):
        reply = sender(kind, policy_)(method, "/api/items/7", USER)
        assert reply.status == 403, (kind, reply.status)


@pytest.mark.parametrize(("target", "admin_rule"), [("//admin", True), ("///admin/x", True), ("/x//admin", False)])
def test_rg_2026_03_relaxed_empty_segments_are_judged_collapsed(target: Any, admin_rule: Any) -> None:
    relaxed = Policy.from_toml_string('[firewall]\nrelax = ["empty_segment"]\n' + ADMIN_FIRST)
    for kind in ("asgi", "wsgi"):
        reply = sender(kind, relaxed)("GET", target, USER)
        if admin_rule:
            assert reply.status == 403, (kind, target)  # judged /admin..., as werkzeug routes it
        else:
            assert reply.status not in (400, 401, 403), (kind, target)  # /x/admin falls to "/**"


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_05_logout_kills_every_copy_of_a_signed_cookie(kind: str, tmp_path: Path) -> None:
    client = Client(kind, session_policy(f"sqlite:///{tmp_path}/s.db", session=STARLETTE_SESSION))
    older = cookie({"user_id": "carol", "roles": ["user"]}, signed_at=time.time() - 30)  # a stolen copy
    current = cookie({"user_id": "carol", "roles": ["user"], "flash": "x"}, signed_at=time.time() - 5)
    other_user = cookie({"user_id": "dave"}, signed_at=time.time() - 30)
    assert client.send("GET", "/me", older).status == 200
    assert client.send("POST", "/logout", current).json() == {"revoked": True}
    assert client.send("GET", "/me", current).status == 401
    assert client.send("GET", "/me", older).status == 401  # the earlier copy dies with it
    assert client.send("GET", "/me", other_user).status == 200  # other users are unaffected
    fresh = cookie({"user_id": "carol", "roles": ["user"]})  # a new login after the logout
    assert client.send("GET", "/me", fresh).status == 200


def test_rg_2026_08_model_copy_builds_a_new_guard() -> None:
    from starlette.applications import Starlette

    from routeguard import ASGIGuard

    report = Policy.from_toml_string('mode = "report"\n' + ADMIN_FIRST)
    report_guard = ASGIGuard(Starlette(), policy=report).guard  # builds the report-mode guard
    enforce = report.model_copy(update={"mode": "enforce"})
    assert enforce.mode == "enforce" and Guard.for_policy(enforce) is not report_guard
    assert call_asgi(ASGIGuard(Starlette(), policy=enforce), "GET", "/admin").status == 401
    with pytest.raises(PolicyError, match="access"):
        report.model_copy(update={"rules": [{"path": "/x", "access": "nobody"}]})


def test_rg_2026_09_store_passwords_are_masked() -> None:
    secret = "s3cr3t-redis-password"
    policy_ = Policy.from_toml_string(f'[store]\nurl = "redis://:{secret}@127.0.0.1:1/0"\n', resolve_secrets=False)
    assert secret not in repr(policy_)
    with pytest.raises(PolicyError) as info:
        Policy.from_toml_string(f'[store]\nurl = "nosuch://user:{secret}@host/"\n')
    assert secret not in str(info.value) and "***" in str(info.value)
    built = Policy.from_toml_string(f'[store]\nurl = "redis://:{secret}@127.0.0.1:1/0"\n')
    assert secret not in built.runtime().store.url


@pytest.mark.parametrize(("url", "ok"), [
    ("https://idp.example/jwks.json", True), ("http://127.0.0.1:8080/jwks", True), ("http://localhost/jwks", True),
    ("http://idp.example/jwks.json", False), ("ftp://idp.example/jwks", False),
])
def test_rg_2026_11_jwks_needs_https_off_loopback(url: Any, ok: Any) -> None:
    toml = f'[auth.bearer]\nalgorithms = ["RS256"]\njwks_url = "{url}"\n'
    if ok:
        assert Policy.from_toml_string(toml).backends
    else:
        with pytest.raises(PolicyError, match="https"):
            Policy.from_toml_string(toml)
