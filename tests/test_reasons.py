"""Layers signal through enums and typed methods, not string literals (issue 11 item 4):
the engine's fixed reasons are ``Reason`` members, store I/O is one typed effect per operation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Generator
from typing import Any

import pytest

from routeguard import Identity, Policy, RequestView
from routeguard.core.decision import Outcome, Reason
from routeguard.core.engine import ANONYMOUS, AuthResult, Engine
from routeguard.core.firewall import Firewall
from routeguard.runtime.effects import Effect, run_async, run_sync
from routeguard.stores import open_store

from .support import POLICY_TOML

USER = Identity.of("u1", roles=["user"], tenants=["acme"])
ADMIN = Identity.of("a1", roles=["admin"], tenants=["acme"])
GLOBEX = Identity.of("g1", roles=["user"], tenants=["globex"])


@pytest.fixture(scope="module")
def engine() -> Engine:
    policy = Policy.from_toml_string(POLICY_TOML, resolve_secrets=False)
    return Engine(policy.compiled_rules, Firewall())


@pytest.mark.parametrize(("method", "path", "who", "reason"), [
    pytest.param("GET", "/health", None, Reason.PUBLIC, id="public"),
    pytest.param("GET", "/api/items", USER, Reason.ALLOWED, id="allowed"),
    pytest.param("GET", "/api/items", None, Reason.NO_CREDENTIALS, id="anonymous"),
    pytest.param("GET", "/admin/users", USER, Reason.MISSING_ROLE, id="missing-role"),
    pytest.param("GET", "/reports/q1", USER, Reason.MISSING_PERMISSION, id="missing-permission"),
    pytest.param("GET", "/orgs/acme/projects", GLOBEX, Reason.TENANT, id="cross-tenant"),
    pytest.param("GET", "/archive/2020", ADMIN, Reason.DENY_RULE, id="deny-rule"),
    pytest.param("GET", "/other", ADMIN, Reason.DEFAULT_DENY, id="default-deny"),
])
def test_fixed_reasons_are_members(engine: Engine, method: str, path: str, who: Identity | None,
                                   reason: Reason) -> None:
    auth = AuthResult(identity=who) if who else ANONYMOUS
    decision = engine.decide(RequestView(method=method, path=path), auth)
    assert decision.reason is reason and decision.code is reason
    # The text users see (logs, audit events, decision log) is unchanged.
    assert str(decision.reason) == reason.value
    assert json.dumps({"r": decision.reason}) == json.dumps({"r": reason.value})


@pytest.mark.parametrize(("path", "auth", "outcome"), [
    pytest.param("/admin/..%2fx", ANONYMOUS, Outcome.BAD_REQUEST, id="firewall"),
    pytest.param("/api/items", AuthResult(invalid="bearer: token expired"), Outcome.UNAUTHENTICATED, id="invalid"),
])
def test_reasons_with_details_have_no_code(engine: Engine, path: str, auth: AuthResult, outcome: Outcome) -> None:
    decision = engine.decide(RequestView(method="GET", path=path, raw_path=path), auth)
    assert decision.outcome is outcome
    assert decision.code is None and not isinstance(decision.reason, Reason)


def test_hidden_refusal_keeps_its_reason(engine: Engine) -> None:
    decision = engine.decide(RequestView(method="GET", path="/secret/x"), AuthResult(identity=USER))
    assert decision.outcome is Outcome.NOT_FOUND and decision.code is Reason.MISSING_ROLE


def _store_flow(store: Any) -> Generator[Effect, Any, list[Any]]:
    yield store.set_effect("k", b"v", 60)
    got = yield store.get_effect("k")
    first = yield store.incr_effect("n", 60)
    second = yield store.incr_effect("n", 60)
    ttl = yield store.ttl_effect("n")
    yield store.delete_effect("k")
    gone = yield store.get_effect("k")
    return [got, first, second, 0 < ttl <= 60, gone]


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_typed_store_effects_under_both_drivers(driver: str, tmp_path: Any) -> None:
    for url in ("memory://", f"sqlite:///{tmp_path}/{driver}.db"):
        store = open_store(url)
        flow = _store_flow(store)
        result = run_sync(flow) if driver == "sync" else asyncio.run(run_async(flow))
        assert result == [b"v", 1, 2, True, None], url
        store.close()


def test_stores_have_no_string_dispatch() -> None:
    """``store.effect("get", ...)`` looked its operation up by name at run time (a typo was a 503)."""
    for url in ("memory://", "sqlite:///:memory:"):
        assert not hasattr(open_store(url), "effect")
