"""Route globs and the compiled first-match matcher.

A pattern is split on ``/`` into segments: ``*`` is exactly one non-empty segment, ``**`` (a
whole segment) is zero or more segments, ``{name}`` is one non-empty segment captured under
``name``, anything else matches literally and case-sensitively. Patterns are always anchored
at both ends: ``/health`` never covers ``/healthcheck``.

All rules compile into one segment trie, so the cost of a lookup follows the depth of the
path, not the number of rules, while the answer stays exactly "the first rule, in policy
order, whose pattern and methods match".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .errors import PatternError

Access = Literal["public", "authenticated", "deny"]
ACCESS_VALUES: Final = ("public", "authenticated", "deny")

LITERAL: Final = 0
ONE: Final = 1  # "*" or "{name}"
ANY: Final = 2  # "**"

_PARAM: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FORBIDDEN_IN_LITERAL: Final = re.compile(r"[\x00-\x20\x7f%;\\?#]")


@dataclass(frozen=True, slots=True)
class Segment:
    """One compiled pattern segment: a literal, a single-segment wildcard or ``**``."""

    kind: int
    value: str = ""  # the literal text, or the parameter name ("" for "*")


def split_path(path: str) -> tuple[str, ...]:
    """``/a/b/`` -> ``("a", "b")``; ``/`` -> ``()``. One trailing slash does not count."""
    if path.endswith("/"):
        path = path[:-1]
    return tuple(path[1:].split("/")) if path else ()


def parse_pattern(pattern: str) -> tuple[Segment, ...]:
    """Compile a glob into segments, raising :class:`PatternError` for anything ambiguous."""
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise PatternError(f"pattern {pattern!r} must start with '/'")
    if pattern == "/":
        return ()
    body = pattern[1:-1] if pattern.endswith("/") else pattern[1:]
    segments: list[Segment] = []
    names: set[str] = set()
    for text in body.split("/"):
        if text == "":
            raise PatternError(f"pattern {pattern!r} has an empty segment ('//')")
        if text in (".", ".."):
            raise PatternError(f"pattern {pattern!r} has a {text!r} segment, which no request can carry")
        if text == "**":
            if segments and segments[-1].kind == ANY:
                raise PatternError(f"pattern {pattern!r} repeats '**'; one covers any depth")
            segments.append(Segment(ANY))
        elif text == "*":
            segments.append(Segment(ONE))
        elif "*" in text:
            raise PatternError(f"pattern {pattern!r}: '*' and '**' must be a whole segment, not {text!r}")
        elif "{" in text or "}" in text:
            match = _PARAM.fullmatch(text)
            if match is None:
                raise PatternError(
                    f"pattern {pattern!r}: {text!r} is not a parameter; write '{{name}}' as a whole segment"
                )
            name = match.group(1)
            if name in names:
                raise PatternError(f"pattern {pattern!r} captures {{{name}}} twice")
            names.add(name)
            segments.append(Segment(ONE, name))
        else:
            bad = _FORBIDDEN_IN_LITERAL.search(text)
            if bad:
                raise PatternError(
                    f"pattern {pattern!r}: character {bad.group()!r} in {text!r} can never match a "
                    "judged path (patterns match the decoded path; no query, no escapes)"
                )
            segments.append(Segment(LITERAL, text))
    return tuple(segments)


def pattern_params(segments: Sequence[Segment]) -> tuple[str, ...]:
    """Names of the ``{params}`` a pattern captures, in order."""
    return tuple(s.value for s in segments if s.kind == ONE and s.value)


def match_segments(segments: Sequence[Segment], path: Sequence[str]) -> dict[str, str] | None:
    """Match one pattern against split path segments; the captured params, or None.

    Dynamic programming over (pattern position, path position), so several ``**`` in one
    pattern stay linear in the product of the two lengths.
    """
    n_pat, n_path = len(segments), len(path)
    failed: set[tuple[int, int]] = set()
    captured: dict[str, str] = {}

    def walk(p: int, i: int) -> bool:
        while p < n_pat:
            seg = segments[p]
            if seg.kind == ANY:
                if (p, i) in failed:
                    return False
                for j in range(i, n_path + 1):
                    if walk(p + 1, j):
                        return True
                failed.add((p, i))
                return False
            if i >= n_path:
                return False
            text = path[i]
            if seg.kind == LITERAL:
                if text != seg.value:
                    return False
            elif not text:
                return False
            elif seg.value:
                captured[seg.value] = text
            p += 1
            i += 1
        return i == n_path

    return captured if walk(0, 0) else None


@dataclass(frozen=True, slots=True, eq=False)
class CompiledRule:
    """A validated rule, ready for matching; ``position`` is 1-based, as users count."""

    index: int
    pattern: str
    segments: tuple[Segment, ...]
    methods: frozenset[str] | None = None
    access: Access = "authenticated"
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    tenant: str | None = None
    hide: bool = False
    report: bool | None = None  # None: the policy's mode decides
    check: Callable[..., Any] | None = None
    check_name: str | None = None
    params: tuple[str, ...] = field(default=())

    @property
    def position(self) -> int:
        """1-based position of the rule in the policy."""
        return self.index + 1

    def accepts(self, method: str) -> bool:
        """Whether the rule applies to ``method`` (a rule naming GET also covers HEAD)."""
        return self.methods is None or method in self.methods

    def capture(self, path: Sequence[str]) -> dict[str, str]:
        """The ``{params}`` of a path this rule is known to match."""
        if not self.params:
            return {}
        return match_segments(self.segments, path) or {}


class _Node:
    __slots__ = ("any", "literals", "min_index", "one", "terminals")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.one: _Node | None = None
        self.any: _Node | None = None
        self.terminals: list[CompiledRule] = []
        self.min_index = 1 << 62


class Matcher:
    """All rules compiled into one trie; :meth:`match` returns the first matching rule.

    ``Matcher(rules).match("GET", "/orgs/acme/x")`` -> ``(rule, {"org_id": "acme"})`` or None.
    """

    __slots__ = ("_root", "rules")

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self._root = _Node()
        for rule in self.rules:
            node = self._root
            node.min_index = min(node.min_index, rule.index)
            for seg in rule.segments:
                if seg.kind == LITERAL:
                    node = node.literals.setdefault(seg.value, _Node())
                elif seg.kind == ONE:
                    node.one = node.one or _Node()
                    node = node.one
                else:
                    node.any = node.any or _Node()
                    node = node.any
                node.min_index = min(node.min_index, rule.index)
            node.terminals.append(rule)
        # terminals are appended in policy order already, so each list is sorted by index

    def match(self, method: str, path: str) -> tuple[CompiledRule, dict[str, str]] | None:
        """The first rule matching ``method`` and the decoded ``path``, with its captures."""
        segs = split_path(path)
        best = self._search(self._root, segs, 0, method, len(self.rules), None)
        if best >= len(self.rules):
            return None
        rule = self.rules[best]
        return rule, rule.capture(segs)

    def _search(
        self,
        node: _Node,
        segs: tuple[str, ...],
        i: int,
        method: str,
        best: int,
        seen: set[tuple[int, int]] | None,
    ) -> int:
        if node.min_index >= best:
            return best
        n = len(segs)
        if i == n:
            for rule in node.terminals:
                if rule.index >= best:
                    break
                if rule.methods is None or method in rule.methods:
                    best = rule.index
                    break
        else:
            seg = segs[i]
            child = node.literals.get(seg)
            if child is not None:
                best = self._search(child, segs, i + 1, method, best, seen)
            if node.one is not None and seg:
                best = self._search(node.one, segs, i + 1, method, best, seen)
        star = node.any
        if star is not None and star.min_index < best:
            # "**" consumes i..n segments; (node, position) pairs already explored cannot
            # improve on the best found since, so each is visited once (bounds nested "**").
            if seen is None:
                seen = set()
            key = id(star)
            for j in range(i, n + 1):
                if (key, j) in seen:
                    continue
                seen.add((key, j))
                best = self._search(star, segs, j, method, best, seen)
                if star.min_index >= best:
                    break
        return best
