"""Shared fixtures: the test policy and `send` over both adapters."""

from __future__ import annotations

import pytest

from routeguard import Policy

from .support import JWT_SECRET, POLICY_TOML, SESSION_SECRET, Send, sender


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
