"""Litestar integration: the guard before Litestar's router, ``request.user``/``request.auth``,
and Litestar's encrypted cookie sessions as a credential (``format = "litestar"``)."""

from __future__ import annotations

import base64
import importlib
import itertools
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("litestar")

from litestar import Litestar, Request, get
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.testing import TestClient

from routeguard import Policy, PolicyError
from routeguard.integrations.litestar import guard
from routeguard.policy.build import build
from routeguard.testing import mint_token

from .support import BROWSER

SECRET = "litestar-tests-secret-32-bytes!!"
OLD_SECRET = "an-older-litestar-secret-32bytes"
JWT = "litestar-tests-jwt-secret-0123456789abcdef-0123456789"
_addresses = itertools.count(2)


def session_value(data: dict[str, Any], secret: str = SECRET, max_age: int = 3600) -> list[bytes]:
    """What Litestar's own cookie backend writes for ``data`` (one chunk or several)."""
    backend = ClientSideSessionBackend(CookieBackendConfig(secret=secret.encode(), max_age=max_age))
    return backend.dump_data(data)


def expired(data: dict[str, Any]) -> list[bytes]:
    """A session Litestar wrote with an expiry ten seconds ago (its config refuses max_age <= 0)."""
    backend = ClientSideSessionBackend(CookieBackendConfig(secret=SECRET.encode()))
    associated = json.dumps({"expires_at": int(time.time()) - 10}).encode()
    nonce = os.urandom(12)
    encrypted = backend.aesgcm.encrypt(nonce, backend.serialize_data(data), associated_data=associated)
    return [base64.b64encode(nonce + encrypted + b"additional_authenticated_data=" + associated)]


def flip(value: bytes, at: int = 20) -> bytes:
    """One ciphertext byte changed (the AES-GCM tag no longer verifies)."""
    raw = bytearray(base64.b64decode(value))
    raw[at] ^= 1
    return base64.b64encode(bytes(raw))


def cookies(chunks: list[bytes]) -> dict[str, str]:
    if len(chunks) == 1:
        return {"Cookie": f'session="{chunks[0].decode()}"'}
    return {"Cookie": "; ".join(f'session-{i}="{c.decode()}"' for i, c in enumerate(chunks))}


@pytest.fixture(scope="module")
def example() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APP_STORE_URL", "memory://")
        mp.setenv("APP_LITESTAR_SECRET", SECRET)
        mp.setenv("APP_JWT_SECRET", JWT)
        yield importlib.import_module("examples.litestar_app.app").app


@pytest.fixture
def client(example: Any) -> Iterator[TestClient[Any]]:
    n = next(_addresses)
    with TestClient(example, base_url=f"http://127.2.{n // 250}.{n % 250 + 1}") as c:
        c.follow_redirects = False
        yield c


def bearer(subject: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(JWT, subject=subject, aud="routeguard-example", **claims)}


def test_anonymous_is_refused_before_routing(client: Any) -> None:
    assert client.get("/api/me").status_code == 401
    assert client.get("/no/such/route").status_code == 401  # default deny, not Litestar's 404
    response = client.get("/dashboard", headers={"Accept": BROWSER})
    assert response.status_code == 302 and response.headers["location"] == "/login?next=%2Fdashboard"
    assert "Not signed in." in client.get("/").text  # public: request.user is None


@pytest.mark.parametrize("user, password, admin", [
    pytest.param("alice", "alice-pass", 403, id="user"),
    pytest.param("root", "root-pass", 200, id="admin"),
])
def test_litestars_own_session_login_is_the_credential(client: Any, user: Any, password: Any, admin: Any) -> None:
    done = client.post("/login", data={"username": user, "password": password, "next": "/dashboard"})
    assert done.status_code == 303 and done.headers["location"] == "/dashboard"
    me = client.get("/api/me").json()
    assert (me["username"], me["backend"], me["auth"]) == (user, "session", "Credential")
    assert client.get("/admin").status_code == admin
    assert f"Hello {user}." in client.get("/dashboard").text


def test_bearer_identity_is_request_user(client: Any) -> None:
    me = client.get("/api/me", headers=bearer("carol", roles=["admin"])).json()
    assert (me["username"], me["roles"], me["backend"]) == ("carol", ["admin"], "bearer")
    assert client.get("/admin", headers=bearer("carol", roles=["admin"])).status_code == 200


def test_chunked_session_is_read_like_litestar_reads_it(client: Any) -> None:
    chunks = session_value({"user_id": "alice", "roles": ["user"], "padding": "x" * 9000})
    assert len(chunks) > 1
    assert client.get("/api/me", headers=cookies(chunks)).json()["username"] == "alice"


@pytest.mark.parametrize("chunks", [
    pytest.param(lambda: [flip(session_value({"user_id": "alice"})[0])], id="tampered"),
    pytest.param(lambda: session_value({"user_id": "alice"}, secret="another-secret-of-32-bytes-here!"),
                 id="other-key"),
    pytest.param(lambda: expired({"user_id": "alice"}), id="expired"),
    pytest.param(lambda: [b"not base64 at all"], id="garbage"),
])
def test_a_session_that_does_not_decrypt_is_401(client: Any, chunks: Any) -> None:
    response = client.get("/api/me", headers=cookies(chunks()))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert client.get("/login", headers=cookies(chunks())).status_code == 200


def test_session_without_a_user_is_anonymous(client: Any) -> None:
    response = client.get("/api/me", headers=cookies(session_value({"cart": [1]})))
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def small_app(policy: Policy) -> Litestar:
    @get("/me")
    async def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
        return {"user": request.user.subject if request.user else None}

    app: Litestar = guard(Litestar([me]), policy)
    return app


def test_older_secret_still_reads_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_LS_NEW", SECRET)
    monkeypatch.setenv("RG_LS_OLD", OLD_SECRET)
    policy = Policy(rules=[{"path": "/me"}], auth={"session": {
        "format": "litestar", "secret_env": "RG_LS_NEW", "fallback_secret_envs": ["RG_LS_OLD"]}})
    with TestClient(small_app(policy)) as c:
        assert c.get("/me", headers=cookies(session_value({"user_id": "bob"}, secret=OLD_SECRET))).json() == {
            "user": "bob"}


def test_bad_secret_and_double_guard_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_LS_SHORT", "too-short")
    with pytest.raises(PolicyError, match="not a Litestar session secret"):
        build(Policy(auth={"session": {"format": "litestar", "secret_env": "RG_LS_SHORT"}}))  # reads the env
    with pytest.raises(PolicyError, match="exactly one of secret_env"):
        Policy(auth={"session": {"format": "litestar"}})
    app = small_app(Policy(rules=[{"path": "/me", "access": "public"}]))
    with pytest.raises(PolicyError, match="already guarded"):
        guard(app, Policy())
