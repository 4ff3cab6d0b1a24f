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

from ..errors import PatternError

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


def ambiguous_params(segments: Sequence[Segment]) -> tuple[str, ...]:
    """The ``{params}`` with a ``**`` on both sides: which path segment they capture depends
    on how much each ``**`` takes, and routers decide that differently (Starlette's ``{p:path}``
    is greedy). A param with ``**`` on one side only sits at a fixed distance from the other end.
    """
    stars = [i for i, seg in enumerate(segments) if seg.kind == ANY]
    if len(stars) < 2:
        return ()
    return tuple(
        seg.value for i, seg in enumerate(segments) if seg.kind == ONE and seg.value and stars[0] < i < stars[-1]
    )


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
    __slots__ = ("any", "leaf", "literals", "min_index", "nested", "one", "terminals")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.one: _Node | None = None
        self.any: _Node | None = None
        self.terminals: list[CompiledRule] = []
        self.min_index = 1 << 62
        self.leaf = True  # no children: only the end of the path can match here
        self.nested = False  # a "**" somewhere below this node

    def seal(self) -> bool:
        """Set ``leaf`` and ``nested`` over the subtree; True when it holds a ``**``."""
        children = [*self.literals.values(), *(c for c in (self.one, self.any) if c is not None)]
        self.leaf = not children
        nested = False
        for child in children:
            nested = child.seal() or nested
        self.nested = nested
        return nested or self.any is not None


_Captures = tuple[tuple[int, str], ...] | None


def _capture_plan(segments: Sequence[Segment]) -> _Captures:
    """Where each ``{param}`` sits in the path, when that is fixed (no ``**`` before it).

    None means the position depends on what a ``**`` consumed: captures then come from
    :func:`match_segments`.
    """
    plan = []
    for position, seg in enumerate(segments):
        if seg.kind == ANY:
            if any(later.kind == ONE and later.value for later in segments[position + 1:]):
                return None
            break
        if seg.kind == ONE and seg.value:
            plan.append((position, seg.value))
    return tuple(plan)


class Matcher:
    """All rules compiled into one trie; :meth:`match` returns the first matching rule.

    ``Matcher(rules).match("GET", "/orgs/acme/x")`` -> ``(rule, {"org_id": "acme"})`` or None.
    """

    __slots__ = ("_plans", "_root", "rules")

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self._root = _Node()
        self._plans: dict[int, _Captures] = {}
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
            self._plans[rule.index] = _capture_plan(rule.segments) if rule.params else ()
        # terminals are appended in policy order already, so each list is sorted by index
        self._root.seal()

    def match(self, method: str, path: str) -> tuple[CompiledRule, dict[str, str]] | None:
        """The first rule matching ``method`` and the decoded ``path``, with its captures."""
        if path.endswith("/"):
            path = path[:-1]
        segs = path[1:].split("/") if path else []
        rules = self.rules
        best = _search(self._root, segs, 0, len(segs), method, len(rules), None)
        if best >= len(rules):
            return None
        rule = rules[best]  # rule.index is its position in the policy
        plan = self._plans[best]
        if not plan:
            return rule, {} if plan is not None else match_segments(rule.segments, segs) or {}
        captured = {}
        for position, name in plan:
            captured[name] = segs[position]
        return rule, captured


def _search(
    node: _Node, segs: list[str], i: int, n: int, method: str, best: int, seen: set[tuple[int, int]] | None
) -> int:
    """The smallest rule index below ``best`` matching ``segs[i:]`` from ``node``, else ``best``.

    Literal-only stretches of the trie are walked in a loop; recursion happens only where a
    segment can go two ways (a literal and a wildcard child).
    """
    while node.min_index < best:
        one, star = node.one, node.any
        if i == n:
            for rule in node.terminals:  # sorted by index
                if rule.index >= best:
                    break
                methods = rule.methods
                if methods is None or method in methods:
                    best = rule.index
                    break
        else:
            seg = segs[i]
            child = node.literals.get(seg)
            if star is None and (one is None or not seg):
                if child is None:
                    return best
                node, i = child, i + 1  # the only way on: no recursion
                continue
            if child is not None:
                best = _search(child, segs, i + 1, n, method, best, seen)
            if one is not None and seg:
                if star is None:
                    node, i = one, i + 1
                    continue
                best = _search(one, segs, i + 1, n, method, best, seen)
        if star is not None and star.min_index < best:
            # "**" consumes i..n segments. A "**" that ends its patterns can only finish at n.
            if star.leaf:
                return _search(star, segs, n, n, method, best, seen)
            if not star.nested:
                for j in range(i, n + 1):
                    best = _search(star, segs, j, n, method, best, seen)
                    if star.min_index >= best:
                        break
                return best
            # Nested "**": (node, position) pairs already explored cannot improve on the best
            # found since, so each is visited once (keeps several "**" polynomial).
            if seen is None:
                seen = set()
            key = id(star)
            for j in range(i, n + 1):
                if (key, j) in seen:
                    continue
                seen.add((key, j))
                best = _search(star, segs, j, n, method, best, seen)
                if star.min_index >= best:
                    break
        return best
    return best
