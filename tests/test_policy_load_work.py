"""Loading at scale (issue 16): the work and memory ``Policy`` spends per rule, counted rather than timed.

Each rule's pattern is parsed once (pydantic re-runs the rule's validator after its custom
``__init__``; the second run does nothing), each rule is compiled once (``build()`` recompiles
only rules with a ``check`` to import), the login-URL check builds no matcher of its own, and
equal role/method/permission sets are one shared frozenset.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from routeguard import Policy, PolicyError, Rule
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


# -- memory: a rule given as a plain dict keeps no Rule object ----------------------------------

MEMORY_RULES = 5_000


def test_loading_memory_per_rule() -> None:
    """Peak and kept memory of a 5,000-rule TOML load, per rule (allocations are deterministic
    enough to bound; no timing). Measured: ~760 B peak (the parsed TOML itself is ~480 of it) and
    ~370-470 B kept, against ~2,400 and ~1,800 with one pydantic Rule per rule."""
    Policy.from_toml_string(_policy_toml(5), resolve_secrets=False)  # imports and caches warm
    text = _policy_toml(MEMORY_RULES)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        policy = Policy.from_toml_string(text, resolve_secrets=False)
        kept, peak = (value - base for value in tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    assert len(policy.compiled_rules) == MEMORY_RULES + 1
    assert peak / MEMORY_RULES < 1000
    assert kept / MEMORY_RULES < 650


def _rule_dicts() -> list[dict[str, Any]]:
    return [
        {"path": "/login", "access": "public"},
        {"path": "/a/{id}", "methods": ["get", "POST", "get"], "roles": ["b", "a", "b"], "tenant": "id"},
        {"path": "/b/**", "permissions": ["p"], "hide": False, "mode": "report", "check": "x.y:z"},
        {"path": "/c", "access": "authenticated", "hide": True, "mode": "enforce"},
        {"path": "/d", "access": "deny"},
    ]


def _toml_rules(rules: list[dict[str, Any]]) -> str:
    def value(item: Any) -> str:
        return f"[{', '.join(map(value, item))}]" if isinstance(item, list) else json.dumps(item)

    return "".join(f"[[rules]]\n{''.join(f'{key} = {value(item)}{chr(10)}' for key, item in rule.items())}"
                   for rule in rules)


def test_rules_built_on_demand_equal_the_model_s() -> None:
    given = _rule_dicts()
    expected = [Rule(**rule) for rule in given]
    for policy in (Policy.from_toml_string(_toml_rules(given), resolve_secrets=False), Policy(rules=given)):
        assert policy.rules == expected
        assert [rule.model_fields_set for rule in policy.rules] == [rule.model_fields_set for rule in expected]
        assert policy.model_dump()["rules"] == [rule.model_dump() for rule in expected]
        assert list(policy.model_dump()) == list(Policy.model_fields)  # rules in its field place
        assert policy.rules is policy.rules
        assert [rule.compile(i) == compiled for i, (rule, compiled)  # CompiledRule compares by identity
                in enumerate(zip(policy.rules, policy.compiled_rules, strict=True))] == [False] * len(given)
        assert [(c.pattern, c.methods, c.roles, c.permissions, c.tenant, c.hide, c.report, c.check_name, c.params)
                for c in policy.compiled_rules] == [
            (c.pattern, c.methods, c.roles, c.permissions, c.tenant, c.hide, c.report, c.check_name, c.params)
            for c in (rule.compile(i) for i, rule in enumerate(expected))]


def test_a_callers_rule_list_is_left_as_given() -> None:
    given = _rule_dicts()
    Policy(rules=given)
    assert given == _rule_dicts()
    rules = [Rule(path="/x", check=allow), {"path": "/y"}]
    policy = Policy(rules=rules)
    assert policy.rules[0] is rules[0]  # a Rule is kept as given (a callable check stays)
    assert dict((rule.index, check) for rule, check in policy.rule_checks()) == {0: allow}


def test_rule_errors_keep_the_model_s_order_and_wording() -> None:
    with pytest.raises(PolicyError) as info:
        Policy(mode="bad", rules=[{"path": "/ok"}, {"path": "x"}, {"path": "/y", "rolez": ["a"]}], auth={"bogus": 1})
    assert str(info.value) == (
        "mode: Input should be 'enforce' or 'report'; "
        "rule #2 (path 'x'): path: pattern 'x' must start with '/'; "
        "rule #3 (path '/y'): unknown key 'rolez' (did you mean 'roles'?); "
        "auth: unknown key 'bogus'"
    )


# -- the matcher: nodes only where rules share a prefix or a request went ------------------------


def _trie_nodes(matcher: core_rules.Matcher) -> int:
    root = matcher._start.nodes[0]
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        count += 1
        children = [*node.literals.values(), node.one, node.any]
        stack += [child for child in children if isinstance(child, core_rules._Node)]
    return count


def _scale_rules(count: int) -> tuple[core_rules.CompiledRule, ...]:
    rules = [{"path": "/api/{version}/**", "methods": ["OPTIONS"], "access": "public"}]
    rules += [{"path": f"/svc{i}/items/{{item}}/detail", "roles": [f"r{i % 7}"]} for i in range(count)]
    return Policy(rules=rules).compiled_rules


def test_matcher_builds_nodes_on_demand_and_work_is_flat() -> None:
    works = []
    for count in (10, 10_000):
        matcher = core_rules.Matcher(_scale_rules(count))
        assert _trie_nodes(matcher) == 1  # the root: each rule waits in its first slot, no chain per rule
        before = matcher.work
        found = matcher.match("GET", "/svc7/items/42/detail")
        assert found is not None and found[0].pattern == "/svc7/items/{item}/detail" and found[1] == {"item": "42"}
        assert matcher.match("GET", "/svc7/items/42") is None
        assert matcher.match("GET", "/svc7/items/42/detail/x") is None
        works.append(matcher.work - before)
        assert _trie_nodes(matcher) == 1 + 4  # the chain of the one rule a request reached
        assert matcher.match("OPTIONS", "/api/v1/x") == (matcher.rules[0], {"version": "v1"})
    assert works[0] == works[1]  # the same transitions to build, whatever the number of rules


def test_engine_prebuilds_decisions_for_public_rules_only() -> None:
    from routeguard.core.engine import Engine

    engine = Engine(_scale_rules(30))
    assert set(engine.public) == {0}  # the one public rule; 30 role rules get none
