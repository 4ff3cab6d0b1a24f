"""Glob patterns and the compiled first-match matcher."""

from __future__ import annotations

import random
from typing import Any

import pytest

from routeguard.core.rules import CompiledRule, Matcher, match_segments, parse_pattern, split_path
from routeguard.errors import PatternError


def matched(matcher: Matcher, method: str, path: str) -> CompiledRule:
    """The rule ``matcher`` picks for ``method path`` (there must be one)."""
    found = matcher.match(method, path)
    assert found is not None, (method, path)
    return found[0]


def compiled(patterns: list[str | tuple[str, list[str]]]) -> list[CompiledRule]:
    rules = []
    for index, item in enumerate(patterns):
        pattern, methods = (item, None) if isinstance(item, str) else item
        segments = parse_pattern(pattern)
        params = tuple(s.value for s in segments if s.kind == 1 and s.value)
        rules.append(CompiledRule(index=index, pattern=pattern, segments=segments,
                                  methods=frozenset(methods) if methods else None, params=params))
    return rules


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    pytest.param("/", "/", {}, id="root"),
    pytest.param("/", "/a", None, id="root-only"),
    pytest.param("/health", "/health", {}, id="literal"),
    pytest.param("/health", "/health/", {}, id="trailing-slash-ignored"),
    pytest.param("/health", "/healthcheck", None, id="anchored-end"),
    pytest.param("/health", "/api/health", None, id="anchored-start"),
    pytest.param("/Health", "/health", None, id="case-sensitive"),
    pytest.param("/a/*", "/a/b", {}, id="star-one"),
    pytest.param("/a/*", "/a", None, id="star-not-zero"),
    pytest.param("/a/*", "/a/b/c", None, id="star-not-two"),
    pytest.param("/admin/**", "/admin", {}, id="dstar-zero"),
    pytest.param("/admin/**", "/admin/", {}, id="dstar-slash"),
    pytest.param("/admin/**", "/admin/users/7/delete", {}, id="dstar-deep"),
    pytest.param("/admin/**", "/administrator", None, id="dstar-segment-boundary"),
    pytest.param("/**", "/", {}, id="all-root"),
    pytest.param("/**", "/x/y", {}, id="all-deep"),
    pytest.param("/orgs/{org}/**", "/orgs/acme/p/1", {"org": "acme"}, id="param"),
    pytest.param("/orgs/{org}/**", "/orgs", None, id="param-needs-segment"),
    pytest.param("/a/**/b/{x}", "/a/b/1", {"x": "1"}, id="dstar-middle-zero"),
    pytest.param("/a/**/b/{x}", "/a/q/r/b/1", {"x": "1"}, id="dstar-middle-many"),
    pytest.param("/a/**/b/{x}", "/a/q/r/b", None, id="dstar-middle-miss"),
    pytest.param("/**/edit", "/x/y/edit", {}, id="dstar-lead"),
    pytest.param("/files/{name}", "/files/r%C3%A9sum%C3%A9", {"name": "r%C3%A9sum%C3%A9"}, id="literal-text"),
])
def test_pattern_semantics(pattern: Any, path: Any, expected: Any) -> None:
    assert match_segments(parse_pattern(pattern), split_path(path)) == expected
    found = Matcher(compiled([pattern])).match("GET", path)
    assert (found[1] if found else None) == expected


@pytest.mark.parametrize(("pattern", "message"), [
    pytest.param("admin", "must start with '/'", id="relative"),
    pytest.param("/a**b", "whole segment", id="partial-dstar"),
    pytest.param("/a/*.css", "whole segment", id="partial-star"),
    pytest.param("/a/{id", "not a parameter", id="unbalanced-open"),
    pytest.param("/a/id}", "not a parameter", id="unbalanced-close"),
    pytest.param("/a/{}", "not a parameter", id="empty-param"),
    pytest.param("/a/{1x}", "not a parameter", id="bad-param-name"),
    pytest.param("/a/x{id}", "not a parameter", id="param-in-segment"),
    pytest.param("/{id}/{id}", "twice", id="duplicate-param"),
    pytest.param("/a//b", "empty segment", id="empty-segment"),
    pytest.param("/a/../b", "'..'", id="dot-dot"),
    pytest.param("/a/./b", "'.'", id="dot"),
    pytest.param("/a/**/**", "repeats", id="double-dstar"),
    pytest.param("/a%2fb", "never match", id="escape"),
    pytest.param("/a;b", "never match", id="semicolon"),
    pytest.param("/a?x=1", "never match", id="query"),
    pytest.param("/a b", "never match", id="space"),
])
def test_malformed_patterns(pattern: Any, message: Any) -> None:
    with pytest.raises(PatternError, match=message):
        parse_pattern(pattern)


def test_first_match_wins_in_policy_order() -> None:
    rules = compiled(["/api/public", "/api/**", "/api/{x}"])
    assert matched(Matcher(rules), "GET", "/api/public").index == 0
    assert matched(Matcher(rules), "GET", "/api/other").index == 1
    reordered = compiled(["/api/**", "/api/public"])
    assert matched(Matcher(reordered), "GET", "/api/public").index == 0


def test_method_filter_and_head_implied() -> None:
    rules = compiled([("/items", ["GET", "HEAD"]), ("/items", ["POST"]), "/**"])
    matcher = Matcher(rules)
    assert matched(matcher, "GET", "/items").index == 0
    assert matched(matcher, "HEAD", "/items").index == 0
    assert matched(matcher, "POST", "/items").index == 1
    assert matched(matcher, "DELETE", "/items").index == 2


def test_no_match_is_none() -> None:
    assert Matcher(compiled(["/a", "/b/*"])).match("GET", "/c") is None
    assert Matcher([]).match("GET", "/") is None


def test_nested_dstar_stays_fast_on_long_paths() -> None:
    rules = compiled(["/**/a/**/b/**/c/**/zzz"])
    path = "/" + "/".join(["a", "b", "c"] * 400)
    assert Matcher(rules).match("GET", path) is None  # linear: a lazily built DFA, no backtracking


def reference(rules: list[CompiledRule], method: str, path: str) -> Any:
    for rule in rules:
        if rule.accepts(method):
            params = match_segments(rule.segments, split_path(path))
            if params is not None:
                return rule.index, params
    return None


SEGMENTS = ["a", "b", "api", "v1", "{p}", "*", "**", "x"]


def random_pattern(rng: random.Random, names: list[str]) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(0, 4)):
        seg = rng.choice(SEGMENTS)
        if seg == "{p}":
            seg = "{" + f"p{len(names)}" + "}"
            names.append(seg)
        if seg == "**" and parts and parts[-1] == "**":
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


def test_trie_agrees_with_plain_first_match_on_random_rule_sets() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        rules = []
        for i in range(rng.randint(1, 12)):
            pattern = random_pattern(rng, [])
            methods = rng.choice([None, frozenset({"GET", "HEAD"}), frozenset({"POST"})])
            segments = parse_pattern(pattern)
            params = tuple(s.value for s in segments if s.kind == 1 and s.value)
            rules.append(CompiledRule(index=i, pattern=pattern, segments=segments, methods=methods, params=params))
        matcher = Matcher(rules)
        for _ in range(20):
            path = "/" + "/".join(rng.choice(["a", "b", "api", "v1", "x", "y"]) for _ in range(rng.randint(0, 5)))
            method = rng.choice(["GET", "HEAD", "POST"])
            found = matcher.match(method, path)
            got = (found[0].index, found[1]) if found else None
            assert got == reference(rules, method, path), (path, method, [r.pattern for r in rules])
