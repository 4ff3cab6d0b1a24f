"""`[auth.signed_cookie]`: cookies the app signs with itsdangerous, read from TOML alone.

The datasette cookie is made exactly as datasette makes it: ``Datasette.sign({"a": actor},
"actor")`` is ``URLSafeSerializer(secret, "actor").dumps(...)``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import itsdangerous
import pytest

from routeguard import Policy, PolicyError

from .support import Client, session_policy

DS_SECRET = "datasette-secret-0123456789abcdef"
DATASETTE = """
[auth.signed_cookie]
cookie = "ds_actor"
secret_env = "RG_TEST_DS_SECRET"
salt = "actor"
subject = "a.id"
roles = "a.roles"
tenants = "a.orgs"
"""
TIMED = """
[auth.signed_cookie]
cookie = "remember"
secret_env = "RG_TEST_DS_SECRET"
salt = "remember-me"
serializer = "url_safe_timed"
key_derivation = "hmac"
digest = "sha256"
max_age = 600
subject = "user.name"
roles = "user.groups"
"""


@pytest.fixture(autouse=True)
def _ds_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_TEST_DS_SECRET", DS_SECRET)


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ds_actor(actor: dict[str, Any], secret: str = DS_SECRET, salt: str = "actor") -> dict[str, str]:
    return {"Cookie": "ds_actor=" + itsdangerous.URLSafeSerializer(secret, salt).dumps({"a": actor})}


def remember(user: dict[str, Any], signed_at: float | None = None, secret: str = DS_SECRET) -> dict[str, str]:
    serializer = itsdangerous.URLSafeTimedSerializer(
        secret, salt="remember-me", signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256}
    )
    signer = serializer.make_signer()
    if signed_at is not None:
        signer.get_timestamp = lambda: int(signed_at)  # type: ignore[attr-defined]
    return {"Cookie": "remember=" + signer.sign(serializer.dump_payload({"user": user})).decode()}


def respell(headers: dict[str, str]) -> dict[str, str]:
    """The same cookie spelled differently: base64 ignores the last character's padding bits."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    value = headers["Cookie"]
    return {"Cookie": value[:-1] + alphabet[alphabet.index(value[-1]) ^ 1]}


def tamper(headers: dict[str, str]) -> dict[str, str]:
    name, _, value = headers["Cookie"].partition("=")
    signature = value.partition(".")[2]
    forged = itsdangerous.URLSafeSerializer("x").dump_payload({"a": {"id": "root", "roles": ["admin"]}}).decode()
    return {"Cookie": f"{name}={forged}.{signature}"}


@pytest.mark.parametrize(
    ("path", "actor", "status"),
    [
        pytest.param("/me", {"id": "root"}, 200, id="actor"),
        pytest.param("/admin/x", {"id": "root", "roles": ["admin"]}, 200, id="admin"),
        pytest.param("/admin/x", {"id": "bob", "roles": "sales admin"}, 403, id="role-string-not-split"),
        pytest.param("/orgs/acme/x", {"id": "bob", "orgs": ["acme"]}, 200, id="tenant"),
        pytest.param("/orgs/globex/x", {"id": "bob", "orgs": ["acme"]}, 403, id="other-tenant"),
        pytest.param("/me", {"name": "no id"}, 401, id="no-subject-is-anonymous"),
    ],
)
def test_datasette_actor_cookie_from_toml(kind: str, path: Any, actor: Any, status: int) -> None:
    client = Client(kind, session_policy("memory://", extra=DATASETTE))
    reply = client.send("GET", path, ds_actor(actor))
    assert reply.status == status
    if status == 200:
        assert reply.json()["subject"] == actor["id"]
    if status == 401:
        assert reply.headers["www-authenticate"] == "Bearer"


def test_numeric_actor_id_is_the_subject(kind: str) -> None:
    client = Client(kind, session_policy("memory://", extra=DATASETTE))
    assert client.send("GET", "/me", ds_actor({"id": 7})).json()["subject"] == "7"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(tamper(ds_actor({"id": "bob"})), id="tampered-payload"),
        pytest.param(ds_actor({"id": "root"}, secret="another-secret-0123456789abcdef"), id="wrong-secret"),
        pytest.param(ds_actor({"id": "root"}, salt="other"), id="wrong-salt"),
        pytest.param({"Cookie": "ds_actor=garbage"}, id="garbage"),
        pytest.param({"Cookie": "ds_actor=" + itsdangerous.URLSafeSerializer(DS_SECRET, "actor").dumps([1])},
                     id="not-an-object"),
        pytest.param({"Cookie": "ds_actor=" + itsdangerous.URLSafeSerializer(DS_SECRET, "actor").dumps(
            {"a": {"id": ["root"]}})}, id="subject-not-a-string"),
        pytest.param({"Cookie": ds_actor({"id": "a"})["Cookie"] + "; " + ds_actor({"id": "b"})["Cookie"]},
                     id="sent-twice-differently"),
    ],
)
def test_refused_when_not_genuine(kind: str, headers: Any) -> None:
    client = Client(kind, session_policy("memory://", extra=DATASETTE))
    reply = client.send("GET", "/me", headers)
    assert reply.status == 401
    assert reply.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_timed_cookie_with_hmac_sha256(kind: str) -> None:
    client = Client(kind, session_policy("memory://", extra=TIMED))
    assert client.send("GET", "/admin/x", remember({"name": "ann", "groups": ["admin"]})).json()["subject"] == "ann"
    assert client.send("GET", "/admin/x", remember({"name": "ann", "groups": ["user"]})).status == 403
    expired = client.send("GET", "/me", remember({"name": "ann"}, signed_at=time.time() - 601))
    assert expired.status == 401
    assert expired.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert client.send("GET", "/me", tamper(remember({"name": "ann"}))).status == 401


def test_logout_revokes_an_untimed_cookie_by_digest(kind: str) -> None:
    client = Client(kind, session_policy("memory://", extra=DATASETTE))
    root = ds_actor({"id": "root"})
    respelled = respell(root)
    assert respelled != root
    assert client.send("GET", "/me", root).status == 200
    assert client.send("GET", "/me", respelled).status == 200
    assert client.send("POST", "/logout", root).json() == {"revoked": True}
    refused = client.send("GET", "/me", root)
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert client.send("GET", "/me", respelled).status == 401
    assert client.send("GET", "/me", ds_actor({"id": "alice"})).status == 200  # only that cookie


def test_logout_refuses_earlier_copies_of_a_timed_cookie(kind: str) -> None:
    client = Client(kind, session_policy("memory://", extra=TIMED))
    earlier = remember({"name": "ann", "n": 1}, signed_at=time.time() - 30)
    current = remember({"name": "ann", "n": 2})
    assert client.send("GET", "/me", earlier).status == 200
    assert client.send("POST", "/logout", current).json() == {"revoked": True}
    assert client.send("GET", "/me", current).status == 401
    assert client.send("GET", "/me", earlier).status == 401
    assert client.send("GET", "/me", remember({"name": "ann", "n": 3})).status == 200  # signed after logout


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        pytest.param({"Origin": "http://evil.example"}, 403, id="cross-site"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, 403, id="fetch-site-cross"),
        pytest.param({"Origin": "http://testserver"}, 200, id="same-origin"),
    ],
)
def test_csrf_origin_check_applies(kind: str, origin: Any, status: int) -> None:
    client = Client(kind, session_policy("memory://", extra=DATASETTE))
    assert client.send("POST", "/logout", {**ds_actor({"id": "root"}), **origin}).status == status


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(("salt", 'salt = "actor"\nmax_age = 60'), "max_age needs serializer = 'url_safe_timed'",
                     id="max-age-untimed"),
        pytest.param(("salt", 'salt = "actor"\nserializer = "url_safe_timed"'), "max_age is required",
                     id="timed-without-max-age"),
        pytest.param(("salt", 'salt = "actor"\nserializer = "pickle"'), "auth.signed_cookie.serializer",
                     id="unknown-serializer"),
        pytest.param(("salt", 'salt = "actor"\ndigest = "md5"'), "auth.signed_cookie.digest", id="unknown-digest"),
        pytest.param(("salt", 'salt = "actor"\nsubjet = "a.id"'), "unknown key 'subjet' (did you mean 'subject'?)",
                     id="unknown-key"),
        pytest.param(('subject = "a.id"', 'subject = ""'), "auth.signed_cookie.subject", id="empty-path"),
        pytest.param(('cookie = "ds_actor"', 'cookie = "a;b"'), "auth.signed_cookie.cookie", id="bad-cookie-name"),
        pytest.param(('secret_env = "RG_TEST_DS_SECRET"', 'secret_env = "RG_TEST_UNSET"'),
                     "auth.signed_cookie.secret_env: environment variable 'RG_TEST_UNSET'", id="secret-unset"),
    ],
)
def test_bad_settings_are_load_errors(change: Any, message: Any) -> None:
    old, new = change
    old = 'salt = "actor"' if old == "salt" else old
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        Policy.from_toml_string(DATASETTE.replace(old, new) + '[[rules]]\npath = "/**"\n')
