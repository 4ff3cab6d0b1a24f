"""Login, logout and revocation on every store and both adapters."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from routeguard.backends.server_session import session_key
from routeguard.runtime.guard import Guard

from .support import STARLETTE_SESSION, Client, bearer, cookie, session_cookie_of, session_policy, set_cookies, token


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: Any) -> str:
    return str(request.param)


def test_logout_revokes_a_bearer_token_until_exp(kind: str, store_url: Any) -> None:
    client = Client(kind, session_policy(store_url))
    tok = token("alice", jti=str(uuid.uuid4()), ttl=300)
    assert client.send("GET", "/me", bearer(tok)).status == 200
    reply = client.send("POST", "/logout", bearer(tok))
    assert reply.json() == {"revoked": True}
    refused = client.send("GET", "/me", bearer(tok))
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    other = token("alice", jti=str(uuid.uuid4()))
    assert client.send("GET", "/me", bearer(other)).status == 200  # only that token is revoked
    store = Guard.for_policy(client.app.policy).store
    ttl = store.ttl("revoked:jti:" + __import__("jwt").decode(tok, options={"verify_signature": False})["jti"])
    assert ttl is not None and 0 < ttl <= 302  # lives until the token's exp (+1 s), not forever


def test_logout_revokes_every_credential_of_the_request(kind: str, store_url: Any) -> None:
    """A request carrying a user's session cookie and token (same subject) logs both out."""
    client = Client(kind, session_policy(store_url))
    session = {"Cookie": session_cookie_of(client.login("alice", ["user"]))}
    tok = bearer(token("alice", jti=str(uuid.uuid4())))
    both = {**session, **tok}
    assert client.send("GET", "/me", both).json()["subject"] == "alice"
    assert client.send("POST", "/logout", both).json() == {"revoked": True}
    assert client.send("GET", "/me", session).status == 401
    assert client.send("GET", "/me", tok).status == 401


def test_server_session_login_and_logout(kind: str, store_url: Any) -> None:
    client = Client(kind, session_policy(store_url))
    reply = client.login("alice", ["user"], next="/me")
    assert reply.status == 303 and reply.headers["location"] == "/me"
    (header,) = set_cookies(reply)
    assert "HttpOnly" in header and "Secure" in header and "SameSite=Lax" in header and "Path=/" in header
    session = session_cookie_of(reply)
    assert client.send("GET", "/me", {"Cookie": session}).json() == {"subject": "alice", "roles": ["user"]}
    assert client.send("GET", "/admin/x", {"Cookie": session}).status == 403
    out = client.send("POST", "/logout", {"Cookie": session})
    assert out.json() == {"revoked": True}
    assert "Max-Age=0" in set_cookies(out)[0]
    assert client.send("GET", "/me", {"Cookie": session}).status == 401


def test_login_rotates_the_session_id(kind: str, store_url: Any) -> None:
    """Session fixation: a session id known before login is never the one used after it."""
    client = Client(kind, session_policy(store_url))
    planted = session_cookie_of(client.login("attacker", []))
    victim = client.login("victim", ["admin"], cookie=planted)
    fresh = session_cookie_of(victim)
    assert fresh != planted
    assert client.send("GET", "/me", {"Cookie": fresh}).json()["subject"] == "victim"
    assert client.send("GET", "/me", {"Cookie": planted}).status == 401  # the old session is gone
    store = Guard.for_policy(client.app.policy).store
    assert store.get(session_key(planted.split("=", 1)[1])) is None


def test_store_holds_digests_not_session_ids(kind: str, store_url: Any) -> None:
    client = Client(kind, session_policy(store_url))
    session_id = session_cookie_of(client.login("alice")).split("=", 1)[1]
    store = Guard.for_policy(client.app.policy).store
    assert store.get("session:" + session_id) is None
    assert store.get(session_key(session_id)) is not None


def test_login_next_is_validated(kind: str) -> None:
    client = Client(kind, session_policy("memory://"))
    assert client.login("a", next="//evil.example").headers["location"] == "/"
    assert client.login("a", next="/orgs/acme/x?tab=1").headers["location"] == "/orgs/acme/x?tab=1"


def test_idle_and_absolute_timeouts(kind: str) -> None:
    pol = session_policy("memory://", idle=1, max_age=2)
    client = Client(kind, pol)
    backend = Guard.for_policy(pol).server_sessions
    now = [time.time()]
    assert backend is not None
    backend._clock = lambda: now[0]
    session = session_cookie_of(client.login("alice"))
    assert client.send("GET", "/me", {"Cookie": session}).status == 200
    now[0] += 1.5  # idle for longer than idle_timeout
    assert client.send("GET", "/me", {"Cookie": session}).status == 401
    session = session_cookie_of(client.login("alice"))
    for _ in range(4):  # active every 0.5 s: idle never trips, the absolute limit does
        now[0] += 0.5
        status = client.send("GET", "/me", {"Cookie": session}).status
    assert status == 401


@pytest.mark.parametrize("bad", ["session=not-an-id", "session=" + "A" * 43])
def test_unknown_or_malformed_session_ids_are_invalid(kind: str, bad: Any) -> None:
    client = Client(kind, session_policy("memory://"))
    reply = client.send("GET", "/me", {"Cookie": bad})
    assert reply.status == 401 and "invalid_token" in reply.headers["www-authenticate"]


def test_signed_cookie_session_is_revoked_by_digest(kind: str, store_url: Any) -> None:
    client = Client(kind, session_policy(store_url, session=STARLETTE_SESSION))
    jar = cookie({"user_id": "carol", "roles": ["user"]})
    assert client.send("GET", "/me", jar).status == 200
    assert client.send("POST", "/logout", jar).json() == {"revoked": True}
    assert client.send("GET", "/me", jar).status == 401
    older_copy = cookie({"user_id": "carol", "roles": ["user"], "n": 1}, signed_at=time.time() - 5)
    assert client.send("GET", "/me", older_copy).status == 401  # signed before the logout: refused too
    new_login = cookie({"user_id": "carol", "roles": ["user"], "n": 2})  # signed after it
    assert client.send("GET", "/me", new_login).status == 200


def test_secure_flag_can_be_turned_off_for_local_development(kind: str) -> None:
    client = Client(kind, session_policy("memory://", secure=False))
    (header,) = set_cookies(client.login("alice"))
    assert "Secure" not in header and "HttpOnly" in header


def test_helpers_outside_the_guard_raise() -> None:
    import asyncio

    import routeguard

    with pytest.raises(routeguard.RouteGuardError, match="did not pass through"):
        routeguard.logout({})
    with pytest.raises(routeguard.RouteGuardError):
        asyncio.run(routeguard.alogin({}, "x"))
