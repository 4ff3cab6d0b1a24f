"""RG-2026-13 on a shared store: two real guard processes (uvicorn + ASGIGuard, wsgiref +
WSGIGuard) on one SQLite file or one private redis-server count failures together, and the
throttle refuses guesses on both without ever refusing a valid credential."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .support import PASSWORD, bearer, token
from .test_shared_store import Process, shared_stores

pytestmark = pytest.mark.slow

FORGED = bearer(token(key="forged-secret-0123456789abcdef-0123456789abcdef"))


@pytest.fixture
def start() -> Iterator[Any]:
    started: list[Process] = []

    def launch(kind: str, store: str, *options: str) -> Process:
        process = Process(kind, store, *options)
        started.append(process)
        return process

    yield launch
    for process in started:
        process.stop()


def login(server: Process, user: str, password: str) -> httpx.Response:
    return httpx.post(server.url + "/login", json={"user": user, "password": password})


def too_many(response: httpx.Response) -> bool:
    return response.status_code == 429 and 1 <= int(response.headers["retry-after"]) <= 60


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
def test_rg_2026_13_guessed_credentials_across_processes(
    start: Any, tmp_path: Path, redis_server: Any, store_kind: Any
) -> None:
    store = shared_stores(tmp_path, redis_server)[store_kind]
    a, b = start("asgi", store, "--throttle", "4"), start("wsgi", store, "--throttle", "4")
    expired = bearer(token("alice", exp=int(time.time()) - 60))
    revoked = bearer(token("alice", jti=str(uuid.uuid4())))
    assert httpx.post(a.url + "/logout", headers=revoked).json() == {"revoked": True}
    for server in (a, b, a, b, a, b):  # honest failures: 401, never counted
        assert httpx.get(server.url + "/me", headers=expired).status_code == 401
        assert httpx.get(server.url + "/me", headers=revoked).status_code == 401
    statuses = [httpx.get(server.url + "/me", headers=FORGED).status_code for server in (a, b, a, b)]
    assert statuses == [401, 401, 401, 401]  # the whole allowance: honest failures took none of it
    assert too_many(httpx.get(b.url + "/me", headers=FORGED))  # the fifth guess, on either process
    assert too_many(httpx.get(a.url + "/me", headers=FORGED))
    alice = bearer(token("alice", jti=str(uuid.uuid4())))
    for server in (a, b):
        assert httpx.get(server.url + "/me", headers=alice).json()["subject"] == "alice"  # never refused
        assert httpx.get(server.url + "/me", headers=expired).status_code == 401  # still honest
        assert too_many(login(server, "alice", PASSWORD))  # the client is locked at the login form too


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
def test_rg_2026_13_failed_logins_across_processes(
    start: Any, tmp_path: Path, redis_server: Any, store_kind: Any
) -> None:
    store = shared_stores(tmp_path, redis_server)[store_kind]
    options = ("--throttle", "8", "--username-limit", "2")
    a, b = start("asgi", store, *options), start("wsgi", store, *options)

    # Per username: one failure on each process locks alice on both, right password included.
    assert login(a, "alice", "wrong").json() == {"retry_after": None}
    assert 1 <= login(b, "alice", "wrong").json()["retry_after"] <= 60
    assert too_many(login(a, "alice", PASSWORD)) and too_many(login(b, "alice", PASSWORD))
    assert login(b, "bob", PASSWORD).status_code == 303  # other users sign in

    # A successful login on one process resets the username for both.
    assert login(a, "carol", "wrong").status_code == 401
    assert login(b, "carol", PASSWORD).status_code == 303
    assert login(a, "carol", "wrong").status_code == 401
    assert login(b, "carol", PASSWORD).status_code == 303  # one failure since the reset: not locked

    # Per client: password spraying over many usernames (4 failures so far, the limit is 8).
    statuses = [login(server, f"user{i}", "wrong").status_code for i, server in enumerate((a, b, a, b))]
    assert statuses == [401, 401, 401, 401]
    for server in (a, b):
        assert too_many(login(server, "dave", PASSWORD))
        assert too_many(httpx.get(server.url + "/me", headers=FORGED))  # one counter per client
        assert httpx.get(server.url + "/me", headers=bearer(token("alice"))).status_code == 200


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
def test_rg_2026_13_public_rules_across_processes(
    start: Any, tmp_path: Path, redis_server: Any, store_kind: str
) -> None:
    store = shared_stores(tmp_path, redis_server)[store_kind]
    a, b = start("asgi", store, "--throttle", "4"), start("wsgi", store, "--throttle", "4")
    alice = bearer(token("alice"))
    assert httpx.get(a.url + "/whoami", headers=alice).json() == {"subject": "alice"}
    for server in (a, b, a, b, a):  # guesses on a public page count; the page still answers
        reply = httpx.get(server.url + "/whoami", headers=FORGED)
        assert reply.status_code == 200 and reply.json() == {"subject": None}
    for server in (b, a):  # one shared counter: over the limit on both processes
        assert too_many(httpx.get(server.url + "/me", headers=FORGED))
        assert httpx.get(server.url + "/whoami", headers=alice).json() == {"subject": None}  # ignored
        assert httpx.get(server.url + "/me", headers=alice).json()["subject"] == "alice"  # never refused


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
def test_rg_2026_13_report_mode_across_processes(
    start: Any, tmp_path: Path, redis_server: Any, store_kind: str
) -> None:
    store = shared_stores(tmp_path, redis_server)[store_kind]
    options = ("--report", "--throttle", "3", "--username-limit", "2")
    a, b = start("asgi", store, *options), start("wsgi", store, *options)
    alice = bearer(token("alice"))
    for server in (a, b, a, b, a, b):  # would-be 429s: logged, never enforced
        assert httpx.get(server.url + "/whoami", headers=FORGED).status_code == 200
        assert login(server, "alice", "wrong").status_code == 401  # the app's answer, not the guard's
    for server in (a, b):
        assert httpx.get(server.url + "/whoami", headers=alice).json() == {"subject": "alice"}
        assert login(server, "alice", PASSWORD).status_code == 303
