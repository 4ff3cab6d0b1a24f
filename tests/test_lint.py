"""Policy lint: shadowed (exactly), duplicate, wide public rules, report mode."""

from __future__ import annotations

import random

import pytest

from routeguard import Policy, Rule
from routeguard.core.rules import Matcher
from routeguard.tools.lint import Finding, lint
from routeguard.tools.reach import render_path

from .test_reach import ALPHABET, MAX_LEN


def findings(*rules: dict[str, object], **policy: object) -> list[tuple[str, int | None]]:
    return [(f.code, f.rule) for f in lint(Policy(rules=[Rule(**r) for r in rules], **policy))]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param([{"path": "/api/**"}, {"path": "/api/admin/**", "roles": ["admin"]}],
                     [("shadowed", 2)], id="narrower-after-wider"),
        pytest.param([{"path": "/api/admin/**", "roles": ["admin"]}, {"path": "/api/**"}],
                     [], id="narrower-first-is-fine"),
        pytest.param([{"path": "/a", "methods": ["GET"]}, {"path": "/a", "methods": ["GET"], "access": "public"}],
                     [("duplicate", 2)], id="duplicate"),
        pytest.param([{"path": "/x/{id}"}, {"path": "/x/*"}], [("duplicate", 2)], id="duplicate-param-names-aside"),
        pytest.param([{"path": "/a", "methods": ["GET"]}, {"path": "/a", "methods": ["POST"]}], [],
                     id="same-path-other-method"),
        pytest.param([{"path": "/a", "methods": ["GET"]}, {"path": "/a", "methods": ["GET", "POST"]}],
                     [("shadowed-methods", 2)], id="some-methods-shadowed"),
        pytest.param([{"path": "/a"}, {"path": "/a", "methods": ["GET", "POST"]}], [("shadowed", 2)],
                     id="all-methods-earlier"),
        pytest.param([{"path": "/a", "methods": ["GET"]}, {"path": "/a"}], [], id="any-method-still-reached"),
        pytest.param([{"path": "/y/*", "methods": ["GET"]}, {"path": "/y/**", "methods": ["GET"]}], [],
                     id="globstar-reaches-y-itself"),
        pytest.param([{"path": "/y"}, {"path": "/y/*"}, {"path": "/y/*/**"}, {"path": "/y/**"}],
                     [("shadowed", 4)], id="union-of-three-shadows"),
        pytest.param([{"path": "/**", "access": "public"}], [("wide-public", 1)], id="everything-public"),
        pytest.param([{"path": "/*", "access": "public"}], [("wide-public", 1)], id="top-level-public"),
        pytest.param([{"path": "/api/**", "access": "public"}], [("wide-public", 1)], id="api-public"),
        pytest.param([{"path": "/static/**", "access": "public"}], [], id="static-public-is-expected"),
        pytest.param([{"path": "/api/**", "access": "deny"}], [], id="wide-deny-is-fine"),
        pytest.param([{"path": "/**", "access": "public"}, {"path": "/admin/**", "roles": ["admin"]}],
                     [("wide-public", 1), ("shadowed", 2)], id="public-catch-all-first"),
        pytest.param([{"path": "/a", "mode": "report"}], [("report-mode", 1)], id="rule-report-mode"),
    ],
)
def test_findings(rules: list[dict[str, object]], expected: list[tuple[str, int | None]]) -> None:
    assert findings(*rules) == expected


def test_policy_report_mode_is_a_finding() -> None:
    assert findings({"path": "/a"}, mode="report") == [("report-mode", None)]


def test_shadowed_by_public_says_so() -> None:
    policy = Policy(rules=[Rule(path="/api/**", access="public"), Rule(path="/api/admin", roles=["admin"])])
    shadowed = [f for f in lint(policy) if f.code == "shadowed"]
    assert len(shadowed) == 1
    assert "#1 ('/api/**')" in shadowed[0].message
    assert "public" in shadowed[0].message
    assert str(shadowed[0]).startswith("rule #2 (path '/api/admin'): never matches")


def test_relaxed_empty_segments_change_nothing() -> None:
    """With ``empty_segment`` relaxed the engine judges "/a//" as "/a": rule #3 stays shadowed."""
    from routeguard import Engine, RequestView
    from routeguard.core.firewall import Firewall

    rules = [Rule(path="/a/*/**"), Rule(path="/a"), Rule(path="/a/**")]
    relaxed = Policy(rules=rules, firewall={"relax": ["empty_segment"]})
    assert [(f.code, f.rule) for f in lint(relaxed)] == [("shadowed", 3)]
    assert [(f.code, f.rule) for f in lint(Policy(rules=rules))] == [("shadowed", 3)]
    engine = Engine(relaxed.compiled_rules, Firewall(["empty_segment"]))
    for path in ("/a//", "/a//b", "//a"):
        route = engine.route(RequestView("GET", path, raw_path=path))
        assert getattr(route, "rule", None) is not None and route.rule.position != 3  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["examples/fastapi_app/routeguard.toml", "examples/flask_app/routeguard.toml"],
                         ids=["fastapi", "flask"])
def test_example_policies_lint_clean(path: str) -> None:
    assert lint(Policy.from_toml(path, resolve_secrets=False)) == []


def test_finding_str_for_policy_wide() -> None:
    assert str(Finding("report-mode", None, None, "m")) == "policy: m [report-mode]"


def _random_policy(seed: int) -> list[Rule]:
    rng = random.Random(seed)
    rules = []
    for _ in range(rng.randint(1, 5)):
        segs: list[str] = []
        for _ in range(rng.randint(0, 3)):
            seg = rng.choice(["a", "b", "*", "**"])
            if seg == "**" and segs and segs[-1] == "**":
                seg = "a"
            segs.append(seg)
        rules.append(Rule(path="/" + "/".join(segs), methods=rng.choice([None, ["GET"], ["POST"]])))
    return rules


@pytest.mark.parametrize("seed", range(60))
def test_shadowed_agrees_with_enumeration(seed: int) -> None:
    """A rule is reported shadowed exactly when no enumerated request reaches it (every
    pattern here is short enough for paths of MAX_LEN segments to reach any reachable rule)."""
    import itertools

    rules = _random_policy(seed)
    policy = Policy(rules=rules)
    matcher = Matcher(policy.compiled_rules)
    reached: set[int] = set()
    for method in ("GET", "HEAD", "POST", "PUT"):
        for length in range(MAX_LEN + 1):
            for path in itertools.product(ALPHABET, repeat=length):
                found = matcher.match(method, render_path(path))
                if found:
                    reached.add(found[0].position)
    never = {f.rule for f in lint(policy) if f.code in ("shadowed", "duplicate")}
    assert never == set(range(1, len(rules) + 1)) - reached


def test_lint_handles_a_large_policy() -> None:
    rng = random.Random(7)
    words = ["api", "v1", "users", "orgs", "items", "admin", "files", *[f"w{i}" for i in range(40)]]
    rules = []
    for _ in range(300):
        segs = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.3:
            segs[rng.randrange(len(segs))] = "{id}"
        if rng.random() < 0.2:
            segs.append("**")
        rules.append(Rule(path="/" + "/".join(segs), methods=rng.choice([None, ["GET"], ["POST"], ["DELETE"]])))
    result = lint(Policy(rules=rules))
    assert any(f.code == "duplicate" for f in result)
