"""JWKS: keys fetched from a real HTTP server on 127.0.0.1, rotation, unknown kid, outages."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from routeguard import Policy, PolicyError

from .support import sender


def jwk(private: Any, kid: str, alg: str | None = "RS256") -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(private, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    data = json.loads(algorithm.to_jwk(private.public_key()))
    data["kid"] = kid
    if alg:
        data["alg"] = alg
    data["use"] = "sig"
    return dict(data)


class JWKSServer:
    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.hits = 0
        self.failing = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                if server.failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks() -> Iterator[Any]:
    server = JWKSServer()
    yield server
    server.close()


KEY_1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rs_token(key: Any, kid: str | None, **claims: Any) -> str:
    payload = {"sub": "alice", "roles": ["user"], "aud": "api", "iss": "https://idp.test",
               "exp": int(time.time()) + 300, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid} if kid else None)


def make_policy(url: str, min_refresh: float = 60) -> Policy:
    return Policy.from_toml_string(f"""
[auth.bearer]
algorithms = ["RS256"]
jwks_url = "{url}"
jwks_min_refresh = {min_refresh}
audience = "api"
issuer = "https://idp.test"

[[rules]]
path = "/api/**"

[[rules]]
path = "/public"
access = "public"
""")


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: Any) -> Any:
    return request.param


def get(send: Any, tok: Any) -> Any:
    return send("GET", "/api/items", {"Authorization": f"Bearer {tok}"})


def test_keys_are_fetched_once_and_cached(kind: str, jwks: Any) -> None:
    jwks.document = {"keys": [jwk(KEY_1, "k1")]}
    send = sender(kind, make_policy(jwks.url))
    for _ in range(5):
        assert get(send, rs_token(KEY_1, "k1")).status == 200
    assert jwks.hits == 1


@pytest.mark.slow
def test_rotation_to_a_new_kid_refetches(kind: str, jwks: Any) -> None:
    jwks.document = {"keys": [jwk(KEY_1, "k1")]}
    send = sender(kind, make_policy(jwks.url, min_refresh=1))
    assert get(send, rs_token(KEY_1, "k1")).status == 200
    jwks.document = {"keys": [jwk(KEY_1, "k1"), jwk(KEY_2, "k2")]}
    time.sleep(1.05)
    assert get(send, rs_token(KEY_2, "k2")).status == 200
    assert jwks.hits == 2
    assert get(send, rs_token(KEY_1, "k1")).status == 200  # the old key still works while listed


@pytest.mark.slow
def test_unknown_kid_refetches_at_most_once_per_interval(kind: str, jwks: Any) -> None:
    jwks.document = {"keys": [jwk(KEY_1, "k1")]}
    send = sender(kind, make_policy(jwks.url, min_refresh=60))
    assert get(send, rs_token(KEY_1, "k1")).status == 200
    for i in range(10):
        reply = get(send, rs_token(ATTACKER, f"made-up-{i}"))
        assert reply.status == 401 and "invalid_token" in reply.headers["www-authenticate"]
    assert jwks.hits == 1  # the initial fetch only: within min_refresh nobody can force refetches


def test_forged_token_with_known_kid_is_refused(kind: str, jwks: Any) -> None:
    jwks.document = {"keys": [jwk(KEY_1, "k1")]}
    send = sender(kind, make_policy(jwks.url))
    assert get(send, rs_token(ATTACKER, "k1")).status == 401
    hs = jwt.encode({"sub": "m", "exp": int(time.time()) + 60}, "x" * 32, algorithm="HS256", headers={"kid": "k1"})
    assert get(send, hs).status == 401


def test_fetch_failure_refuses_with_503_and_recovers(kind: str, jwks: Any) -> None:
    jwks.failing = True
    send = sender(kind, make_policy(jwks.url, min_refresh=1))
    reply = get(send, rs_token(KEY_1, "k1"))
    assert reply.status == 503 and reply.json() == {"error": "Service Unavailable"}
    public = send("GET", "/public", {"Authorization": f"Bearer {rs_token(KEY_1, 'k1')}"})
    assert public.status not in (401, 403, 503)  # a public page does not depend on the key server
    jwks.failing = False
    jwks.document = {"keys": [jwk(KEY_1, "k1")]}
    time.sleep(1.05)
    assert get(send, rs_token(KEY_1, "k1")).status == 200


def test_unreachable_key_server_refuses(kind: str) -> None:
    send = sender(kind, make_policy("http://127.0.0.1:1/jwks.json"))
    assert get(send, rs_token(KEY_1, "k1")).status == 503


def test_keys_of_another_family_or_alg_are_ignored(kind: str, jwks: Any) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks.document = {"keys": [jwk(ec_key, "k1", alg="ES256"), jwk(KEY_2, "k2", alg="RS512"),
                              {"kty": "oct", "k": "c2VjcmV0", "kid": "k3"}]}
    send = sender(kind, make_policy(jwks.url))
    assert get(send, rs_token(KEY_1, "k1")).status == 401  # kid k1 is an EC key: not usable for RS256
    assert get(send, rs_token(KEY_2, "k2")).status == 401  # the JWK says RS512, the token RS256
    assert get(send, rs_token(KEY_1, "k3")).status == 401


def test_single_key_without_kid(kind: str, jwks: Any) -> None:
    jwks.document = {"keys": [jwk(KEY_1, "only")]}
    send = sender(kind, make_policy(jwks.url))
    assert get(send, rs_token(KEY_1, None)).status == 200


def test_fetch_does_not_block_the_event_loop(jwks: Any) -> None:
    """Under ASGI the fetch runs in a worker thread: another task keeps running meanwhile."""
    import asyncio

    from routeguard.backends.jwks import JWKSKeys, fetch_json

    def slow_fetch(url: Any, timeout: Any) -> Any:
        time.sleep(0.3)
        return fetch_json(url, timeout)

    jwks.document = {"keys": [jwk(KEY_1, "k1")]}
    keys = JWKSKeys(jwks.url, family="RSA", fetch=slow_fetch)

    async def scenario() -> Any:
        from routeguard.runtime.effects import run_async

        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        key = await run_async(keys({"kid": "k1", "alg": "RS256"}))
        task.cancel()
        return key, ticks

    key, ticks = asyncio.run(scenario())
    assert key is not None and ticks >= 10


def test_jwks_url_must_be_http() -> None:
    with pytest.raises(PolicyError, match="http"):
        make_policy("file:///etc/passwd")
