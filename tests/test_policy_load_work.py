"""Loading at scale (issue 16): the work ``Policy`` does per rule, counted rather than timed.

Each rule's pattern is parsed once (pydantic re-runs the rule's validator after its custom
``__init__``; the second run does nothing), each rule is compiled once (``build()`` recompiles
only rules with a ``check`` to import), the login-URL check builds no matcher of its own, and
equal role/method/permission sets are one shared frozenset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from routeguard import Policy, PolicyError
from routeguard.core import rules as core_rules
from routeguard.policy import model
from routeguard.policy.build import build

N = 60


def _policy_toml(count: int, check: bool = False) -> str:
    lines = ['login_url = "/login"', "[[rules]]", 'path = "/login"', 'access = "public"']
    for i in range(count):
        lines += ["[[rules]]", f'path = "/svc{i}/items/{{item}}/**"', 'methods = ["GET", "POST"]',
                  f'roles = ["{"admin" if i % 2 else "staff"}"]']
    if check:
        lines += ["[[rules]]", 'path = "/checked/**"', 'check = "tests.test_policy_load_work:allow"']
    return "\n".join(lines) + "\n"


def allow(*args: Any) -> bool:
    return True


def _counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls = [0]
    original: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.mark.parametrize("resolve", [pytest.param(True, id="resolved"), pytest.param(False, id="lint-only")])
def test_each_rule_is_parsed_and_compiled_once(monkeypatch: pytest.MonkeyPatch, resolve: bool) -> None:
    parsed = _counting(monkeypatch, model, "parse_pattern")
    compiled = _counting(monkeypatch, model, "compile_rule")
    policy = Policy.from_toml_string(_policy_toml(N), resolve_secrets=resolve)
    assert len(policy.compiled_rules) == N + 1
    assert parsed[0] == N + 1
    assert compiled[0] == N + 1


def test_build_compiles_no_rule_again(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = _counting(monkeypatch, model, "compile_rule")
    policy = Policy.from_toml_string(_policy_toml(N, check=True))
    assert compiled[0] == N + 2  # every rule once: the build imports checks, it compiles nothing
    checks = build(policy).checks
    assert dict(checks) == {len(policy.compiled_rules) - 1: allow}
    assert compiled[0] == N + 2


def test_loading_builds_no_matcher(monkeypatch: pytest.MonkeyPatch) -> None:
    built = _counting(monkeypatch, core_rules.Matcher, "__init__")
    Policy.from_toml_string(_policy_toml(N), resolve_secrets=False)
    assert built[0] == 0


def test_equal_name_sets_are_one_frozenset() -> None:
    compiled = Policy.from_toml_string(_policy_toml(N), resolve_secrets=False).compiled_rules[1:]
    assert len({id(rule.roles) for rule in compiled}) == 2
    assert len({id(rule.methods) for rule in compiled}) == 1
    assert compiled[0].methods == frozenset({"GET", "HEAD", "POST"})
    assert {rule.roles for rule in compiled} == {frozenset({"admin"}), frozenset({"staff"})}


@pytest.mark.parametrize(
    ("rules", "error"),
    [
        pytest.param([{"path": "/login", "access": "public"}], None, id="public"),
        pytest.param([{"path": "/**", "methods": ["GET"], "access": "public"}], None, id="public-glob"),
        pytest.param([{"path": "/login", "methods": ["POST"], "access": "public"}, {"path": "/**"}],
                     "rule #2 ('/**', access 'authenticated')", id="public-for-post-only"),
        pytest.param([{"path": "/login", "roles": ["admin"]}, {"path": "/login", "access": "public"}],
                     "rule #1 ('/login', access 'authenticated')", id="first-rule-wins"),
        pytest.param([{"path": "/other", "access": "public"}], "no rule covers it", id="uncovered"),
    ],
)
def test_login_url_check_without_a_matcher(rules: list[dict[str, Any]], error: str | None) -> None:
    if error is None:
        assert Policy(login_url="/login?next=/", rules=rules).login_url == "/login?next=/"
        return
    with pytest.raises(PolicyError, match="must be covered by a public rule") as info:
        Policy(login_url="/login", rules=rules)
    assert error in str(info.value)
