"""The pure decision core, tested with no server: build a request view, call decide."""

from __future__ import annotations

from typing import Any

import pytest

from routeguard import Identity, Policy, RequestView
from routeguard.core.decision import Outcome
from routeguard.core.engine import ANONYMOUS, AuthResult, Engine
from routeguard.core.firewall import Firewall

from .support import POLICY_TOML

USER = Identity.of("u1", roles=["user"], tenants=["acme"])
ADMIN = Identity.of("a1", roles=["admin"], tenants=["acme"])
OTHER_TENANT = Identity.of("g1", roles=["user"], tenants=["globex"])
READER = Identity.of("r1", roles=["user"], permissions=["reports:read", "reports:list"])
INVALID = AuthResult(invalid="bearer: token expired")


@pytest.fixture
def engine() -> Engine:
    policy = Policy.from_toml_string(POLICY_TOML, resolve_secrets=False)
    return Engine(policy.compiled_rules, Firewall())


def decide(
    engine: Engine, method: str, path: str, who: Identity | AuthResult | None = None, raw: str | None = None
) -> Any:
    auth = who if isinstance(who, AuthResult) else AuthResult(identity=who) if who else ANONYMOUS
    return engine.decide(RequestView(method=method, path=path, raw_path=raw), auth)


@pytest.mark.parametrize(("method", "path", "who", "outcome", "rule"), [
    pytest.param("GET", "/health", None, Outcome.ALLOW, 2, id="public-anon"),
    pytest.param("HEAD", "/health", None, Outcome.ALLOW, 2, id="public-head"),
    pytest.param("POST", "/health", None, Outcome.UNAUTHENTICATED, None, id="method-outside-rule-anon"),
    pytest.param("POST", "/health", USER, Outcome.FORBIDDEN, None, id="method-outside-rule-user"),
    pytest.param("GET", "/health", INVALID, Outcome.ALLOW, 2, id="public-ignores-invalid"),
    pytest.param("GET", "/api/items", None, Outcome.UNAUTHENTICATED, 9, id="auth-anon"),
    pytest.param("GET", "/api/items", USER, Outcome.ALLOW, 9, id="auth-user"),
    pytest.param("GET", "/api/items", INVALID, Outcome.UNAUTHENTICATED, 9, id="auth-invalid"),
    pytest.param("GET", "/admin", None, Outcome.UNAUTHENTICATED, 4, id="admin-anon"),
    pytest.param("GET", "/admin/users", USER, Outcome.FORBIDDEN, 4, id="admin-user"),
    pytest.param("GET", "/admin/users", ADMIN, Outcome.ALLOW, 4, id="admin-admin"),
    pytest.param("GET", "/secret/x", USER, Outcome.NOT_FOUND, 5, id="hidden-user"),
    pytest.param("GET", "/secret/x", None, Outcome.UNAUTHENTICATED, 5, id="hidden-anon-still-401"),
    pytest.param("GET", "/secret/x", ADMIN, Outcome.ALLOW, 5, id="hidden-admin"),
    pytest.param("GET", "/orgs/acme/projects", USER, Outcome.ALLOW, 6, id="tenant-member"),
    pytest.param("GET", "/orgs/acme/projects", OTHER_TENANT, Outcome.FORBIDDEN, 6, id="cross-tenant"),
    pytest.param("GET", "/orgs/acme", ADMIN, Outcome.ALLOW, 6, id="tenant-root"),
    pytest.param("GET", "/reports/q1", USER, Outcome.FORBIDDEN, 7, id="permission-missing"),
    pytest.param("GET", "/reports/q1", READER, Outcome.ALLOW, 7, id="permission-held"),
    pytest.param("DELETE", "/api/items/7", USER, Outcome.FORBIDDEN, 8, id="method-rule-user"),
    pytest.param("DELETE", "/api/items/7", ADMIN, Outcome.ALLOW, 8, id="method-rule-admin"),
    pytest.param("GET", "/api/items/7", USER, Outcome.ALLOW, 9, id="method-rule-skipped"),
    pytest.param("GET", "/archive/2020", ADMIN, Outcome.FORBIDDEN, 10, id="deny-admin"),
    pytest.param("GET", "/archive/2020", None, Outcome.UNAUTHENTICATED, 10, id="deny-anon"),
    pytest.param("GET", "/other", None, Outcome.UNAUTHENTICATED, None, id="default-deny-anon"),
    pytest.param("GET", "/other", ADMIN, Outcome.FORBIDDEN, None, id="default-deny-admin"),
    pytest.param("GET", "/", ADMIN, Outcome.FORBIDDEN, None, id="root-default-deny"),
])
def test_decision_matrix(engine: Any, method: Any, path: Any, who: Any, outcome: Any, rule: Any) -> None:
    decision = decide(engine, method, path, who)
    assert decision.outcome is outcome
    assert (decision.rule.position if decision.rule else None) == rule


def test_firewall_runs_before_any_rule(engine: Any) -> None:
    decision = decide(engine, "GET", "/public/../admin", ADMIN, raw="/public/../admin")
    assert decision.outcome is Outcome.BAD_REQUEST
    assert decision.rule is None
    assert decision.reason == "firewall: dot_segment"


def test_decision_carries_identity_params_and_reason(engine: Any) -> None:
    decision = decide(engine, "GET", "/orgs/acme/projects", USER)
    assert decision.identity is USER
    assert dict(decision.params) == {"org_id": "acme"}
    refused = decide(engine, "GET", "/orgs/acme/projects", OTHER_TENANT)
    assert refused.reason == "tenant not allowed"
    assert decide(engine, "GET", "/admin", USER).reason == "missing role"
    assert decide(engine, "GET", "/reports/x", USER).reason == "missing permission"
    invalid = decide(engine, "GET", "/api/x", INVALID)
    assert invalid.invalid_credentials and "token expired" in invalid.reason
    assert decide(engine, "GET", "/health", INVALID).identity is None


def test_tenant_value_comes_from_the_path_not_the_identity() -> None:
    policy = Policy.from_toml_string('[[rules]]\npath = "/t/{tid}/**"\ntenant = "tid"\n')
    engine = Engine(policy.compiled_rules)
    many = Identity.of("m", tenants=["a", "b"])
    assert decide(engine, "GET", "/t/a/x", many).outcome is Outcome.ALLOW
    assert decide(engine, "GET", "/t/b", many).outcome is Outcome.ALLOW
    assert decide(engine, "GET", "/t/c/x", many).outcome is Outcome.FORBIDDEN
    assert decide(engine, "GET", "/t/A/x", many).outcome is Outcome.FORBIDDEN


def test_roles_any_of_permissions_all_of() -> None:
    policy = Policy.from_toml_string('[[rules]]\npath = "/x"\nroles = ["a", "b"]\npermissions = ["p", "q"]\n')
    engine = Engine(policy.compiled_rules)
    assert decide(engine, "GET", "/x", Identity.of("s", roles=["b"], permissions=["p", "q"])).allowed
    assert not decide(engine, "GET", "/x", Identity.of("s", roles=["b"], permissions=["p"])).allowed
    assert not decide(engine, "GET", "/x", Identity.of("s", roles=["c"], permissions=["p", "q"])).allowed


def test_report_mode_marks_refusals_but_not_firewall() -> None:
    policy = Policy.from_toml_string('mode = "report"\n[[rules]]\npath = "/x"\nroles = ["a"]\n'
                                     '[[rules]]\npath = "/y"\nroles = ["a"]\nmode = "enforce"\n')
    engine = Engine(policy.compiled_rules, report=True)
    refused = decide(engine, "GET", "/x", USER)
    assert refused.outcome is Outcome.FORBIDDEN and refused.report_only and refused.allowed
    assert decide(engine, "GET", "/nothing", None).report_only
    enforced = decide(engine, "GET", "/y", USER)
    assert enforced.outcome is Outcome.FORBIDDEN and not enforced.report_only and not enforced.allowed
    firewall = decide(engine, "GET", "/a/../x", USER, raw="/a/../x")
    assert firewall.outcome is Outcome.BAD_REQUEST and not firewall.allowed


def test_per_rule_report_inside_enforcing_policy() -> None:
    policy = Policy.from_toml_string('[[rules]]\npath = "/new/**"\nroles = ["a"]\nmode = "report"\n')
    engine = Engine(policy.compiled_rules)
    assert decide(engine, "GET", "/new/x", USER).report_only
    assert not decide(engine, "GET", "/old", USER).report_only


def test_websocket_requests_match_as_get() -> None:
    policy = Policy.from_toml_string('[[rules]]\npath = "/ws"\nmethods = ["GET"]\n')
    engine = Engine(policy.compiled_rules)
    view = RequestView(method="GET", path="/ws", websocket=True)
    assert engine.decide(view, AuthResult(identity=USER)).allowed
