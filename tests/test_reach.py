"""Exact first-match reasoning (routeguard.tools.reach) against brute force and the real Matcher."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routeguard.core.rules import CompiledRule, Matcher, match_segments, parse_pattern, split_path
from routeguard.tools.reach import OTHER_METHOD, first_matches, method_classes, render_path


def rule(index: int, pattern: str, methods: list[str] | None = None) -> CompiledRule:
    compiled = None if methods is None else frozenset(methods) | ({"HEAD"} if "GET" in methods else set())
    return CompiledRule(index=index, pattern=pattern, segments=parse_pattern(pattern), methods=compiled)


def deciders(target: str, patterns: list[str | tuple[str, list[str]]], method: str = "GET",
             empty: bool = False) -> list[int | None]:
    rules = [rule(i, p) if isinstance(p, str) else rule(i, *p) for i, p in enumerate(patterns)]
    return [p.rule.position if p.rule else None for p in first_matches(parse_pattern(target), rules, method,
                                                                        empty_segments=empty)]


@pytest.mark.parametrize(
    ("target", "rules", "method", "expected"),
    [
        pytest.param("/admin/users", ["/admin/**"], "GET", [1], id="literal-under-globstar"),
        pytest.param("/admin/**", ["/admin/**"], "GET", [1], id="same-pattern"),
        pytest.param("/admin/**", ["/admin/*"], "GET", [1, None], id="star-leaves-admin-and-deeper"),
        pytest.param("/admin/**", ["/admin", "/admin/*", "/admin/*/**"], "GET", [1, 2, 3], id="union-covers"),
        pytest.param("/**", [], "GET", [None], id="no-rules-default-deny"),
        pytest.param("/a/{x}", ["/a/b", "/a/*"], "GET", [1, 2], id="literal-then-param"),
        pytest.param("/a/b", ["/a/*", "/a/b"], "GET", [1], id="param-first-takes-all"),
        pytest.param("/a/b", [("/a/b", ["POST"])], "GET", [None], id="other-method-falls-through"),
        pytest.param("/a/b", [("/a/b", ["GET"])], "HEAD", [1], id="get-covers-head"),
        pytest.param("/x/**/y", ["/x/**"], "GET", [1], id="inner-globstar"),
        pytest.param("/**/y", ["/*/y", "/y"], "GET", [1, 2, None], id="deep-y-left"),
        pytest.param("/a/*", ["/a/**"], "GET", [1], id="no-empty-segments-by-default"),
        pytest.param("/a/**", ["/a/*/**", "/a"], "GET", [1, 2], id="star-globstar-plus-root"),
    ],
)
def test_first_matches_table(target: str, rules: list[str | tuple[str, list[str]]], method: str,
                             expected: list[int | None]) -> None:
    assert deciders(target, rules, method) == expected


@pytest.mark.parametrize(
    ("target", "rules", "expected_strict", "expected_relaxed"),
    [
        pytest.param("/a/**", ["/a/*/**", "/a"], [1, 2], [1, 2, None], id="a-empty-segment-escapes"),
        pytest.param("/a/**", ["/a/**"], [1], [1], id="globstar-takes-empty-too"),
    ],
)
def test_empty_segments_only_when_relaxed(target: str, rules: list[str | tuple[str, list[str]]],
                                          expected_strict: list[int | None],
                                          expected_relaxed: list[int | None]) -> None:
    assert deciders(target, rules) == expected_strict
    assert deciders(target, rules, empty=True) == expected_relaxed


def test_witness_is_decided_by_its_rule() -> None:
    rules = [rule(0, "/api/token", ["POST"]), rule(1, "/api/**"), rule(2, "/orgs/{org}/**")]
    pieces = first_matches(parse_pattern("/**"), rules, "POST")
    assert [p.witness for p in pieces] == ["/api/token", "/api", "/orgs/x", "/"]
    matcher = Matcher(rules)
    for piece in pieces:
        found = matcher.match("POST", piece.witness)
        assert (found[0] if found else None) is piece.rule


def test_method_classes_name_every_method_plus_other() -> None:
    rules = [rule(0, "/a", ["GET"]), rule(1, "/b", ["DELETE"]), rule(2, "/c")]
    assert method_classes(rules) == ["DELETE", "GET", "HEAD", OTHER_METHOD]


@pytest.mark.parametrize("segments", [(), ("a",), ("",), ("a", ""), ("", ""), ("a", "", "b")],
                         ids=["root", "one", "empty", "trailing-empty", "two-empty", "inner-empty"])
def test_render_path_round_trips(segments: tuple[str, ...]) -> None:
    assert split_path(render_path(segments)) == segments


# -- brute force ---------------------------------------------------------------------------------

SEGMENTS = ["a", "b", "*", "{p}", "**"]
ALPHABET = ["a", "b", "c"]  # "c" is a segment no pattern names
MAX_LEN = 6


@st.composite
def patterns(draw: st.DrawFn) -> str:
    parts: list[str] = []
    for seg in draw(st.lists(st.sampled_from(SEGMENTS), max_size=3)):
        if seg == "**" and parts and parts[-1] == "**":
            continue
        if seg == "{p}" and "{p}" in parts:
            seg = "*"
        parts.append(seg)
    return "/" + "/".join(parts)


rule_specs = st.tuples(patterns(), st.sampled_from([None, ["GET"], ["POST"], ["GET", "POST"]]))


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(
    target=patterns(),
    specs=st.lists(rule_specs, max_size=4),
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT"]),
    empty=st.booleans(),
)
def test_first_matches_agrees_with_brute_force(target: str, specs: list[tuple[str, list[str] | None]],
                                               method: str, empty: bool) -> None:
    """Sound: every witness is a path of the target that the real Matcher gives to that rule.
    Complete: every rule the Matcher picks for some path of the target (all paths up to
    MAX_LEN segments over a small alphabet) is among the pieces."""
    rules = [rule(i, p, m) for i, (p, m) in enumerate(specs)]
    matcher = Matcher(rules)
    target_segments = parse_pattern(target)
    pieces = first_matches(target_segments, rules, method, empty_segments=empty)
    for piece in pieces:
        assert match_segments(target_segments, split_path(piece.witness)) is not None
        found = matcher.match(method, piece.witness)
        assert (found[0] if found else None) is piece.rule
    claimed = {p.rule.index if p.rule else None for p in pieces}
    alphabet = ALPHABET + ([""] if empty else [])
    seen: set[int | None] = set()
    for length in range(MAX_LEN + 1):
        for path in itertools.product(alphabet, repeat=length):
            if match_segments(target_segments, path) is None:
                continue
            found = matcher.match(method, render_path(path))
            seen.add(found[0].index if found else None)
    assert seen <= claimed
    assert len(pieces) == len(claimed)
