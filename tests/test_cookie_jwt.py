"""JWTs carried in a cookie, minted by the real libraries: Flask-JWT-Extended (with its CSRF
double submit) and fastapi-users' ``CookieTransport`` + ``JWTStrategy``, from TOML alone."""

from __future__ import annotations

import asyncio
import types
import uuid
from typing import Any

import jwt
import pytest
from flask import Flask
from flask_jwt_extended import JWTManager, create_access_token

from routeguard import Policy, PolicyError

from .support import JWT_SECRET, SERVER_SESSION, SESSION_POLICY, Client, bearer

FLASK_JWT = 'audience = "tests"\ncookie = "access_token_cookie"\ncsrf_cookie = "csrf_access_token"\n' \
            'csrf_header = "X-CSRF-TOKEN"'
FASTAPI_USERS = 'audience = "fastapi-users:auth"\ncookie = "fastapiusersauth"'


def cookie_policy(bearer_settings: str) -> Policy:
    session = SERVER_SESSION.format(idle=1800, max_age=3600, secure="true")
    text = SESSION_POLICY.format(store="memory://", session=session)
    return Policy.from_toml_string(text.replace('audience = "tests"', bearer_settings, 1))


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


_FLASK = Flask("flask-jwt-extended-issuer")
_FLASK.config.update(JWT_SECRET_KEY=JWT_SECRET, JWT_ENCODE_AUDIENCE="tests", JWT_TOKEN_LOCATION=["cookies"])
JWTManager(_FLASK)


def flask_jwt(subject: str = "alice", roles: tuple[str, ...] = ("user",), expires: float = 900) -> tuple[str, str]:
    """(access token, its CSRF value) as Flask-JWT-Extended's set_access_cookies writes them."""
    with _FLASK.app_context():
        import datetime

        tok = create_access_token(subject, additional_claims={"roles": list(roles)},
                                  expires_delta=datetime.timedelta(seconds=expires))
        return tok, jwt.decode(tok, options={"verify_signature": False})["csrf"]


def jar(tok: str, csrf: str | None = None, **extra: str) -> dict[str, str]:
    cookies = f"access_token_cookie={tok}" + (f"; csrf_access_token={csrf}" if csrf else "")
    return {"Cookie": cookies, **extra}


def test_flask_jwt_extended_cookie_on_safe_methods(kind: str) -> None:
    client = Client(kind, cookie_policy(FLASK_JWT))
    tok, csrf = flask_jwt(roles=("admin",))
    reply = client.send("GET", "/admin/x", jar(tok, csrf))
    assert reply.status == 200 and reply.json()["subject"] == "alice"
    assert client.send("GET", "/admin/x", jar(flask_jwt()[0])).status == 403
    assert client.send("GET", "/me", {}).status == 401


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param(lambda tok, csrf: jar(tok, csrf, **{"X-CSRF-TOKEN": csrf}), 200, id="matching-pair"),
        pytest.param(lambda tok, csrf: jar(tok, csrf), 401, id="no-header"),
        pytest.param(lambda tok, csrf: jar(tok, None, **{"X-CSRF-TOKEN": csrf}), 401, id="no-csrf-cookie"),
        pytest.param(lambda tok, csrf: jar(tok, csrf, **{"X-CSRF-TOKEN": "guess"}), 401, id="header-differs"),
        pytest.param(lambda tok, csrf: jar(tok, "chosen", **{"X-CSRF-TOKEN": "chosen"}), 401,
                     id="cookie-and-header-agree-but-not-the-claim"),
        pytest.param(lambda tok, csrf: {**bearer(tok)}, 200, id="header-token-needs-no-double-submit"),
    ],
)
def test_flask_jwt_extended_double_submit_on_unsafe_methods(kind: str, headers: Any, status: int) -> None:
    client = Client(kind, cookie_policy(FLASK_JWT))
    tok, csrf = flask_jwt()
    # /logout is public: a refused credential is ignored there, so nothing is revoked.
    assert client.send("POST", "/logout", headers(tok, csrf)).json() == {"revoked": status == 200}
    assert client.send("GET", "/me", jar(tok, csrf)).status == (401 if status == 200 else 200)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        pytest.param(lambda: flask_jwt(expires=-60)[0], "expired", id="expired"),
        pytest.param(lambda: flask_jwt()[0][:-4] + "AAAA", "tampered", id="tampered-signature"),
        pytest.param(lambda: "not-a-jwt", "garbage", id="garbage"),
    ],
)
def test_flask_jwt_extended_cookie_refused(kind: str, make: Any, why: Any) -> None:
    client = Client(kind, cookie_policy(FLASK_JWT))
    reply = client.send("GET", "/me", jar(make()))
    assert reply.status == 401, why
    assert reply.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_flask_jwt_extended_cookie_logged_out(kind: str) -> None:
    client = Client(kind, cookie_policy(FLASK_JWT))
    tok, csrf = flask_jwt()
    assert client.send("POST", "/logout", jar(tok, csrf, **{"X-CSRF-TOKEN": csrf})).json() == {"revoked": True}
    assert client.send("GET", "/me", jar(tok, csrf)).status == 401
    assert client.send("GET", "/me", jar(*flask_jwt())).status == 200  # only that token (by jti)


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        pytest.param({"Origin": "http://evil.example"}, 403, id="cross-site-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, 403, id="cross-site-fetch"),
        pytest.param({"Origin": "http://testserver"}, 200, id="same-origin"),
    ],
)
def test_cookie_jwt_is_a_cookie_credential_for_the_origin_check(kind: str, origin: Any, status: int) -> None:
    client = Client(kind, cookie_policy(FLASK_JWT))
    tok, csrf = flask_jwt()
    assert client.send("GET", "/me", bearer(tok)).status == 200  # verified (and cached) from the header first
    assert client.send("POST", "/logout", jar(tok, csrf, **{"X-CSRF-TOKEN": csrf}, **origin)).status == status
    header_token = client.send("POST", "/logout", {**bearer(flask_jwt()[0]), **origin})
    assert header_token.status == 200  # a header token is never attached by a browser: no origin check


def fastapi_users_token(user_id: str, lifetime: int = 3600) -> str:
    from fastapi_users.authentication import JWTStrategy

    strategy: Any = JWTStrategy(JWT_SECRET, lifetime_seconds=lifetime)
    return str(asyncio.run(strategy.write_token(types.SimpleNamespace(id=user_id))))


def test_fastapi_users_cookie_transport(kind: str) -> None:
    client = Client(kind, cookie_policy(FASTAPI_USERS))
    user = str(uuid.uuid4())
    tok = fastapi_users_token(user)
    reply = client.send("GET", "/me", {"Cookie": f"fastapiusersauth={tok}"})
    assert reply.status == 200 and reply.json()["subject"] == user
    assert client.send("POST", "/logout", {"Cookie": f"fastapiusersauth={tok}",
                                           "Origin": "http://evil.example"}).status == 403
    expired = fastapi_users_token(user, lifetime=-60)
    assert client.send("GET", "/me", {"Cookie": f"fastapiusersauth={expired}"}).status == 401
    tampered = tok.rsplit(".", 1)[0] + "." + "A" * 43
    assert client.send("GET", "/me", {"Cookie": f"fastapiusersauth={tampered}"}).status == 401
    other_audience = flask_jwt()[0]
    assert client.send("GET", "/me", {"Cookie": f"fastapiusersauth={other_audience}"}).status == 401
    logout = client.send("POST", "/logout", {"Cookie": f"fastapiusersauth={tok}", "Origin": "http://testserver"})
    assert logout.json() == {"revoked": True}  # no jti: revoked by digest until its exp
    assert client.send("GET", "/me", {"Cookie": f"fastapiusersauth={tok}"}).status == 401


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param('cookie = "a b"', "auth.bearer.cookie", id="bad-cookie-name"),
        pytest.param('cookie = "t"\ncsrf_cookie = "c"', "csrf_cookie and csrf_header", id="csrf-cookie-alone"),
        pytest.param('csrf_cookie = "c"\ncsrf_header = "X-CSRF"', "csrf_cookie needs cookie", id="csrf-without-cookie"),
        pytest.param('cookie = "t"\ncsrf_cookie = "c"\ncsrf_header = "X CSRF"', "auth.bearer.csrf_header",
                     id="bad-header-name"),
        pytest.param('cokie = "t"', "unknown key 'cokie' (did you mean 'cookie'?)", id="unknown-key"),
    ],
)
def test_bad_cookie_settings_are_load_errors(settings: Any, message: Any) -> None:
    import re

    with pytest.raises(PolicyError, match=re.escape(message)):
        cookie_policy('audience = "tests"\n' + settings)
