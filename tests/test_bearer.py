"""Bearer JWT backend: the full token matrix, key families, strict parsing and the cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from routeguard import AuthenticationError, BearerBackend, Credential, PolicyError, RequestView
from routeguard.backends.bearer import public_key
from routeguard.testing import mint_token

from .support import verified

SECRET = "bearer-tests-secret-0123456789abcdef-0123456789"


def request(header: str | None) -> RequestView:
    return RequestView(method="GET", path="/", headers={} if header is None else {"authorization": header})


def backend(**kwargs: Any) -> BearerBackend:
    kwargs.setdefault("algorithms", ["HS256"])
    kwargs.setdefault("key", SECRET)
    return BearerBackend(**kwargs)


def tok(key: Any=SECRET, algorithm: Any="HS256", **kwargs: Any) -> str:
    kwargs.setdefault("roles", ["user"])
    return mint_token(key, algorithm=algorithm, **kwargs)


def raw_tok(**claims: Any) -> str:
    """A token with exactly these claims besides exp (no defaults applied to roles)."""
    claims.setdefault("sub", "alice")
    return jwt.encode({"exp": int(time.time()) + 300, **claims}, SECRET, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: str, payload: str, key: bytes = SECRET.encode()) -> str:
    """An HS256 token with hand-written JSON (for duplicate members and odd headers)."""
    signing_input = f"{b64(header.encode())}.{b64(payload.encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def refused(backend: BearerBackend, token: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        backend.authenticate(request(f"Bearer {token}"))
    return info.value.reason


def test_valid_token_maps_claims() -> None:
    token = tok(subject="alice", roles=["admin", "user"], permissions=["read", "write"], tenants=["acme"], jti="j1")
    credential = verified(backend().authenticate(request(f"Bearer {token}")))
    identity = credential.identity
    assert identity.subject == "alice"
    assert identity.roles == {"admin", "user"}
    assert identity.permissions == {"read", "write"}
    assert identity.tenants == {"acme"}
    assert identity.backend == "bearer"
    assert identity.claims["jti"] == "j1"
    assert credential.revocation_key == "jti:j1"
    assert credential.expires_at == identity.claims["exp"]


def test_custom_claim_names_and_list_scope() -> None:
    token = tok(subject=None, uid="bob", perms=["a", "b"], groups=["g"], orgs=["o1"])
    b = backend(subject_claim="uid", permissions_claim="perms", roles_claim="groups", tenants_claim="orgs")
    identity = verified(b.authenticate(request(f"Bearer {token}"))).identity
    got = (identity.subject, identity.permissions, identity.roles, identity.tenants)
    assert got == ("bob", frozenset({"a", "b"}), frozenset({"g"}), frozenset({"o1"}))


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Digest x", "Token abc"])
def test_no_bearer_credentials(header: Any) -> None:
    assert backend().authenticate(request(header)) is None


def test_scheme_is_case_insensitive() -> None:
    assert backend().authenticate(request(f"bearer {tok()}")) is not None


@pytest.mark.parametrize(("token", "reason"), [
    pytest.param(tok(ttl=-120), "token expired", id="expired"),
    pytest.param(tok(key="x" * 48), "bad signature", id="wrong-key"),
    pytest.param(tok(exp=None), "missing required claim", id="no-exp"),
    pytest.param(tok(nbf=int(time.time()) + 600), "token not yet valid", id="not-yet-valid"),
    pytest.param(tok(subject=None), "token has no subject", id="no-subject"),
    pytest.param(tok(subject=""), "token has no subject", id="empty-subject"),
    pytest.param(raw_tok(sub=42), "invalid token", id="numeric-subject"),
    pytest.param(raw_tok(roles="admin"), None, id="roles-string-is-space-list"),
    pytest.param(raw_tok(roles={"admin": True}), "claim 'roles' is not a list of strings", id="roles-object"),
    pytest.param(tok(tenants=[1, 2]), "claim 'tenants' is not a list of strings", id="tenants-ints"),
    pytest.param(tok(aud="someone"), "wrong audience", id="unexpected-audience"),
    pytest.param("not-a-jwt", "malformed token", id="garbage"),
    pytest.param(tok()[:-4] + "AAAA", "bad signature", id="tampered-signature"),
    pytest.param(tok().rsplit(".", 1)[0] + ".", "malformed token", id="empty-signature"),
    pytest.param("a.b.c.d", "malformed token", id="four-parts"),
    pytest.param("e30.e30.e30", "algorithm not allowed", id="no-alg"),
    pytest.param("W10.e30.e30", "malformed token", id="header-not-object"),
    pytest.param("", "malformed token", id="empty"),
])
def test_invalid_tokens(token: Any, reason: Any) -> None:
    if reason is None:
        assert verified(backend().authenticate(request(f"Bearer {token}"))).identity.roles == {"admin"}
    else:
        assert refused(backend(), token) == reason


def test_alg_none_is_refused_even_with_valid_claims() -> None:
    unsigned = jwt.encode({"sub": "mallory", "roles": ["admin"], "exp": int(time.time()) + 60}, None,  # type: ignore[arg-type]
                          algorithm="none")
    assert refused(backend(), unsigned) in ("malformed token", "algorithm not allowed")
    none_with_sig = forge('{"alg":"none"}', json.dumps({"sub": "m", "exp": int(time.time()) + 60}))
    assert refused(backend(), none_with_sig) == "algorithm not allowed"


def test_algorithm_outside_allowlist_same_family() -> None:
    assert refused(backend(), tok(algorithm="HS512", key="k" * 64)) == "algorithm not allowed"


def test_duplicate_members_are_refused() -> None:
    exp = int(time.time()) + 60
    payload = f'{{"sub":"alice","roles":["user"],"roles":["admin"],"exp":{exp}}}'
    assert refused(backend(), forge('{"alg":"HS256","typ":"JWT"}', payload)) == "duplicate member in token"
    header = '{"alg":"HS256","alg":"HS256"}'
    assert refused(backend(), forge(header, f'{{"sub":"a","exp":{exp}}}')) == "duplicate member in token"


def test_crit_header_is_refused() -> None:
    exp = int(time.time()) + 60
    token = forge('{"alg":"HS256","crit":["exp"]}', f'{{"sub":"a","exp":{exp}}}')
    assert refused(backend(), token) == "unsupported critical header"


def test_oversized_header_is_refused() -> None:
    big = tok(padding="x" * 9000)
    assert refused(backend(), big) == "authorization header too large"
    assert backend(max_header_bytes=16384).authenticate(request(f"Bearer {big}")) is not None


def test_duplicate_authorization_headers_are_refused() -> None:
    # ASGI joins repeated headers with ", " - the result is never a valid token.
    assert refused(backend(), f"{tok()}, Bearer {tok(subject='admin')}") == "malformed token"


@pytest.mark.parametrize(("kwargs", "token_kwargs", "ok"), [
    pytest.param({"audience": "api"}, {"aud": "api"}, True, id="audience-ok"),
    pytest.param({"audience": "api"}, {"aud": ["web", "api"]}, True, id="audience-in-list"),
    pytest.param({"audience": "api"}, {"aud": "web"}, False, id="audience-wrong"),
    pytest.param({"audience": "api"}, {}, False, id="audience-missing"),
    pytest.param({"issuer": "https://idp"}, {"iss": "https://idp"}, True, id="issuer-ok"),
    pytest.param({"issuer": "https://idp"}, {"iss": "https://evil"}, False, id="issuer-wrong"),
    pytest.param({"issuer": "https://idp"}, {}, False, id="issuer-missing"),
    pytest.param({"leeway": 30}, {"ttl": -10}, True, id="leeway-covers"),
    pytest.param({"leeway": 30}, {"ttl": -60}, False, id="leeway-exceeded"),
    pytest.param({"require_exp": False}, {"exp": None}, True, id="exp-optional"),
])
def test_claim_checks(kwargs: Any, token_kwargs: Any, ok: Any) -> None:
    b = backend(**kwargs)
    token = tok(**token_kwargs)
    if ok:
        assert verified(b.authenticate(request(f"Bearer {token}"))).identity.subject == "alice"
    else:
        with pytest.raises(AuthenticationError):
            b.authenticate(request(f"Bearer {token}"))


def keypair(kind: str) -> Any:
    private: Any
    if kind == "RSA":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "EC":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public_pem


@pytest.mark.parametrize(("kind", "algorithm"), [("RSA", "RS256"), ("RSA", "PS256"), ("EC", "ES256"), ("OKP", "EdDSA")])
def test_asymmetric_algorithms(kind: str, algorithm: Any) -> None:
    private, public_pem = keypair(kind)
    b = BearerBackend(algorithms=[algorithm], key=public_pem)
    credential = verified(b.authenticate(request(f"Bearer {tok(key=private, algorithm=algorithm)}")))
    assert credential.identity.subject == "alice"
    other, _ = keypair(kind)
    assert refused(b, tok(key=other, algorithm=algorithm)) == "bad signature"


def test_rsa_public_key_can_never_verify_an_hmac_token() -> None:
    """Algorithm confusion: an HS256 token signed with the RSA public key PEM as its secret."""
    _, public_pem = keypair("RSA")
    b = BearerBackend(algorithms=["RS256"], key=public_pem)
    forged = forge('{"alg":"HS256","typ":"JWT"}', json.dumps({"sub": "mallory", "exp": int(time.time()) + 60}),
                   key=public_pem)
    assert refused(b, forged) == "algorithm not allowed"
    with pytest.raises(PolicyError, match="mixes key families"):
        BearerBackend(algorithms=["RS256", "HS256"], key=public_pem)
    with pytest.raises(PolicyError, match="cannot verify HS"):
        public_key(public_pem, "HMAC")


def test_hmac_key_length_is_enforced() -> None:
    with pytest.raises(PolicyError, match="needs at least 32"):
        BearerBackend(algorithms=["HS256"], key="short")
    with pytest.raises(PolicyError, match="needs at least 48"):
        BearerBackend(algorithms=["HS256", "HS384"], key="k" * 40)
    BearerBackend(algorithms=["HS256"], key="k" * 32)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_repeated_token_costs_no_signature_check(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = jwt.PyJWT.decode

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jwt.PyJWT, "decode", counting)
    b = backend()
    token = tok()
    first = b.authenticate(request(f"Bearer {token}"))
    for _ in range(5):
        assert b.authenticate(request(f"Bearer {token}")) is first
    assert len(calls) == 1
    b.authenticate(request(f"Bearer {tok(subject='bob')}"))
    assert len(calls) == 2


def test_cache_honours_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    b = backend(clock=clock)
    token = tok(ttl=60)
    first = b.authenticate(request(f"Bearer {token}"))
    assert b.authenticate(request(f"Bearer {token}")) is first
    calls = []
    original = jwt.PyJWT.decode

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jwt.PyJWT, "decode", counting)
    clock.now += 61  # past exp by the cache's clock: the entry is gone, the token is verified again
    b.authenticate(request(f"Bearer {token}"))
    assert calls == [1]


def test_quick_answers_from_the_cache_only_until_the_entry_expires() -> None:
    """The lane's lookup (``quick``) checks the entry's expiry itself: a token cached before its
    ``exp`` is never handed out after it, it goes back to ``authenticate``, which verifies it
    again (pyjwt judges ``exp`` by the real clock, which this test does not move)."""
    from routeguard.backends.base import UNSURE

    clock = Clock()
    b = backend(clock=clock)
    header = f"Bearer {tok(ttl=60)}"
    assert b.quick({}) is None  # no credential at all
    assert b.quick({"authorization": header}) is UNSURE  # never verified
    first = b.authenticate(request(header))
    assert b.quick({"authorization": header}) is first
    clock.now += 60  # at exp: the entry is over
    assert b.quick({"authorization": header}) is UNSURE
    again = b.authenticate(request(header))
    assert isinstance(first, Credential) and isinstance(again, Credential)
    assert again is not first and again.identity.subject == first.identity.subject


def test_invalid_tokens_are_not_cached() -> None:
    b = backend()
    token = tok()[:-4] + "AAAA"
    for _ in range(3):
        assert refused(b, token) == "bad signature"


def test_cache_is_bounded() -> None:
    b = backend(cache_size=10)
    for i in range(50):
        b.authenticate(request(f"Bearer {tok(subject=f's{i}')}"))
    assert len(b._cache) <= 10
