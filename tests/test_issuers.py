"""Several issuers (`[[auth.bearer]]`): two JWKS servers on 127.0.0.1, each issuer verified
only with its own keys, audience and claim mapping; unknown issuers refused before any fetch."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from routeguard import Policy, PolicyError

from .support import JWT_SECRET, sender
from .test_jwks import JWKSServer, jwk

WORKFORCE, PARTNER, LEGACY = "https://workforce.test", "https://partner.test", "https://legacy.test"
KEY_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_B = ec.generate_private_key(ec.SECP256R1())

POLICY = """
[[auth.bearer]]
issuer = "{workforce}"
algorithms = ["RS256"]
jwks_url = "{url_a}"
audience = "api"
roles_claim = "realm_access.roles"

[[auth.bearer]]
issuer = "{partner}"
algorithms = ["ES256"]
jwks_url = "{url_b}"
audience = "partner-api"
subject_claim = "email"
roles_claim = "groups"

[[auth.bearer]]
issuer = "{legacy}"
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"

[[rules]]
path = "/admin/**"
roles = ["admin"]

[[rules]]
path = "/**"
"""


@pytest.fixture
def servers() -> Iterator[Any]:
    a, b = JWKSServer(), JWKSServer()
    a.document = {"keys": [jwk(KEY_A, "a1")]}
    b.document = {"keys": [jwk(KEY_B, "b1", alg="ES256")]}
    yield a, b
    a.close()
    b.close()


@pytest.fixture(params=["asgi", "wsgi"])
def send(request: Any, servers: Any) -> Any:
    a, b = servers
    text = POLICY.format(workforce=WORKFORCE, partner=PARTNER, legacy=LEGACY, url_a=a.url, url_b=b.url)
    return sender(request.param, Policy.from_toml_string(text))


def token(key: Any, kid: str | None, algorithm: str, **claims: object) -> str:
    payload = {"sub": "uid-1", "exp": int(time.time()) + 3600, **claims}  # some are minted at collection
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def workforce(key: Any=KEY_A, kid: Any="a1", algorithm: Any="RS256", **claims: Any) -> Any:
    claims = {"iss": WORKFORCE, "aud": "api", "realm_access": {"roles": ["admin"]}, **claims}
    return token(key, kid, algorithm, **claims)


def partner(key: Any=KEY_B, kid: Any="b1", algorithm: Any="ES256", **claims: Any) -> Any:
    claims = {"iss": PARTNER, "aud": "partner-api", "email": "pat@partner.test", "groups": ["admin"], **claims}
    return token(key, kid, algorithm, **claims)


def call(send: Any, tok: str, path: str = "/admin/x") -> Any:
    return send("GET", path, {"Authorization": f"Bearer {tok}"})


def test_each_issuer_verifies_its_own_tokens(send: Any, servers: Any) -> None:
    a, b = servers
    reply = call(send, workforce())
    assert reply.status == 200 and reply.json()["subject"] == "uid-1"
    assert (a.hits, b.hits) == (1, 0)
    reply = call(send, partner())
    assert reply.status == 200 and reply.json()["subject"] == "pat@partner.test"  # its own claim mapping
    assert (a.hits, b.hits) == (1, 1)
    legacy = token(JWT_SECRET, None, "HS256", iss=LEGACY, roles=["admin"])
    assert call(send, legacy).status == 200
    assert call(send, workforce(realm_access={"roles": ["user"]})).status == 403


@pytest.mark.parametrize(
    ("make", "why"),
    [
        pytest.param(lambda: workforce(key=KEY_B, kid="b1", algorithm="ES256"), "partner key for workforce",
                     id="partner-key-claims-workforce"),
        pytest.param(lambda: partner(key=KEY_A, kid="a1", algorithm="RS256"), "workforce key for partner",
                     id="workforce-key-claims-partner"),
        pytest.param(lambda: workforce(aud="partner-api"), "partner audience on workforce",
                     id="wrong-audience-for-issuer"),
        pytest.param(lambda: partner(iss=WORKFORCE, aud="api"), "partner-signed, claims workforce",
                     id="partner-signed-workforce-iss"),
        pytest.param(lambda: token(JWT_SECRET, None, "HS256", iss=WORKFORCE, aud="api"), "hmac for rsa issuer",
                     id="hs256-for-rsa-issuer"),
    ],
)
def test_an_issuer_never_verifies_another_issuers_tokens(send: Any, make: Any, why: Any) -> None:
    reply = call(send, make())
    assert reply.status == 401, why
    assert reply.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize(
    "tok",
    [
        pytest.param(workforce(iss="https://evil.test"), id="unknown-issuer"),
        pytest.param(token(KEY_A, "a1", "RS256", aud="api"), id="no-issuer"),
        pytest.param(jwt.PyJWS().encode(json.dumps({"iss": [WORKFORCE], "aud": "api", "sub": "x",
                                                    "exp": int(time.time()) + 300}).encode(),
                                        KEY_A, algorithm="RS256", headers={"kid": "a1"}), id="issuer-not-a-string"),
        pytest.param(workforce(kid="made-up", iss="https://evil.test"), id="unknown-issuer-unknown-kid"),
    ],
)
def test_unknown_issuer_is_refused_before_any_key_fetch(send: Any, servers: Any, tok: Any) -> None:
    reply = call(send, tok)
    assert reply.status == 401
    assert reply.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert [server.hits for server in servers] == [0, 0]


def base(issuer: str, extra: str = "") -> str:
    return f'[[auth.bearer]]\nissuer = "{issuer}"\nalgorithms = ["HS256"]\nsecret_env = "RG_TEST_JWT_SECRET"\n{extra}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(base("a") + base("a"), "auth.bearer: issuer 'a' appears in two [[auth.bearer]] tables",
                     id="same-issuer-twice"),
        pytest.param(base("a") + base("b").replace('issuer = "b"\n', ""), "each names its issuer",
                     id="issuer-missing"),
        pytest.param(base("a", 'cookie = "t"\n') + base("b"), "cookie must be the same in every [[auth.bearer]]",
                     id="different-token-cookie"),
        pytest.param(base("a", 'cokie = "t"\n'), "auth.bearer: unknown key 'cokie' (did you mean 'cookie'?)",
                     id="unknown-key-in-array"),
        pytest.param(base("a", 'algorithms = ["none"]\n').replace('algorithms = ["HS256"]\n', ""),
                     "'none' is not allowed", id="bad-algorithm-in-array"),
        pytest.param("[auth]\nbearer = []\n", "at least one table", id="empty-array"),
    ],
)
def test_bad_issuer_lists_are_load_errors(text: Any, message: Any) -> None:
    with pytest.raises(PolicyError, match=re.escape(message)):
        Policy.from_toml_string(text + '[[rules]]\npath = "/**"\n')


def test_revoking_one_issuers_jti_leaves_another_issuers_token_with_the_same_jti(servers: Any) -> None:
    from routeguard.backends.issuers import IssuerBearerBackend
    from routeguard.runtime.guard import Guard, revocation_entry

    a, b = servers
    text = POLICY.format(workforce=WORKFORCE, partner=PARTNER, legacy=LEGACY, url_a=a.url, url_b=b.url)
    policy = Policy.from_toml_string(text)
    send = sender("asgi", policy)
    guard = Guard.for_policy(policy)
    assert call(send, partner(jti="same-id")).status == 200
    issuers = guard.backends[0]
    assert isinstance(issuers, IssuerBearerBackend)
    prefixes = {backend.jti_prefix for backend in issuers.backends}
    assert len(prefixes) == 3  # one namespace per issuer
    (partner_backend,) = [b for b in issuers.backends if b.issuer == PARTNER]
    guard.store.set(revocation_entry(partner_backend.jti_prefix + "same-id"), b"1", 60)
    assert call(send, partner(jti="same-id")).status == 401
    assert call(send, workforce(jti="same-id")).status == 200
