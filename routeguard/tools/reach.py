"""Exact reasoning over route globs: which rules decide which paths, decided symbolically.

A compiled pattern is a regular language over path segments: a literal matches one equal
segment, ``*``/``{name}`` one non-empty segment, ``**`` any run of segments. Every question
the linter and the permission matrix ask ("is rule #5 ever reached?", "which rules decide
the paths of route ``/orgs/{id}/projects``, and does any part fall to default deny?") is a
question about first-match over such languages, answered here exactly, never by sampling.

How: each pattern is a small NFA whose states are pattern positions (``**`` loops on itself
and may be skipped). We explore the product of the target's NFA and the subset
construction of every candidate rule's NFA, breadth first, from the empty path. In each
reachable product state where the target accepts, the first candidate that accepts is the
rule deciding those paths (none: default deny). The state space is finite, so the search
ends, and breadth-first order makes each witness a shortest path of its part.

The alphabet is abstracted without loss: segments that equal no literal at an active
position behave identically in every pattern, so one fresh segment stands for all of them.
Judged paths have no empty segment (the firewall rejects ``//``, and when that class is
relaxed the engine collapses ``//`` to ``/`` before matching), so the empty segment is left
out unless a caller asks for it. Methods work the same way: the methods some rule names, plus
one stand-in for every other method.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ..core.rules import ANY, LITERAL, CompiledRule, Segment

#: Stands for every HTTP method no rule names (it is not a valid method token, so no rule
#: can name it by accident).
OTHER_METHOD: Final = "<other>"

_States = frozenset[int]


class _NFA:
    """One pattern as an NFA over segments; states are pattern positions."""

    __slots__ = ("n", "segments", "start")

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.segments = tuple(segments)
        self.n = len(self.segments)
        self.start = self._closure((0,))

    def _closure(self, states: Iterable[int]) -> _States:
        out: set[int] = set()
        stack = list(states)
        while stack:
            p = stack.pop()
            if p in out:
                continue
            out.add(p)
            if p < self.n and self.segments[p].kind == ANY:
                stack.append(p + 1)  # "**" may match zero segments
        return frozenset(out)

    def step(self, states: _States, symbol: str) -> _States:
        nxt: list[int] = []
        for p in states:
            if p >= self.n:
                continue
            seg = self.segments[p]
            if seg.kind == ANY:
                nxt.append(p)
            elif seg.kind == LITERAL:
                if symbol == seg.value:
                    nxt.append(p + 1)
            elif symbol:  # "*" and "{name}": one non-empty segment
                nxt.append(p + 1)
        return self._closure(nxt) if nxt else frozenset()

    def accepts(self, states: _States) -> bool:
        return self.n in states

    def literals(self, states: _States) -> Iterable[str]:
        for p in states:
            if p < self.n and self.segments[p].kind == LITERAL:
                yield self.segments[p].value


@dataclass(frozen=True, slots=True)
class Piece:
    """The part of a target's paths that one rule decides (``rule`` None: default deny),
    with ``witness``, a shortest concrete path of that part."""

    rule: CompiledRule | None
    witness: str


def fresh_segment(taken: Iterable[str]) -> str:
    """A segment equal to none of ``taken``: it stands for "any other segment"."""
    used = set(taken)
    candidate, n = "x", 0
    while candidate in used:
        n += 1
        candidate = f"x{n}"
    return candidate


def first_matches(
    target: Sequence[Segment],
    rules: Sequence[CompiledRule],
    method: str,
    *,
    empty_segments: bool = False,
) -> list[Piece]:
    """Which of ``rules`` decide the paths ``target`` covers, for ``method`` (first match
    wins), in policy order; a last ``Piece(None, ...)`` when some paths match no rule.

    ``empty_segments`` also considers paths with empty segments, as the bare
    :class:`~routeguard.rules.Matcher` would see them (the engine never passes one: see the
    module docstring). Returns ``[]`` when ``target`` covers no path.
    """
    candidates = [rule for rule in rules if rule.accepts(method)]
    automata = [_NFA(rule.segments) for rule in candidates]
    goal = _NFA(target)
    every_literal = {s.value for s in target if s.kind == LITERAL}
    for rule in candidates:
        every_literal.update(s.value for s in rule.segments if s.kind == LITERAL)
    other = fresh_segment(every_literal)

    start = (goal.start, tuple(a.start for a in automata))
    seen = {start}
    queue: deque[tuple[tuple[_States, tuple[_States, ...]], tuple[str, ...]]] = deque([(start, ())])
    found: dict[int | None, tuple[str, ...]] = {}
    while queue:
        (states, rule_states), path = queue.popleft()
        if goal.accepts(states):
            decider = next((i for i, (a, s) in enumerate(zip(automata, rule_states, strict=True)) if a.accepts(s)),
                           None)
            found.setdefault(decider, path)
        symbols = set(goal.literals(states))
        for automaton, s in zip(automata, rule_states, strict=True):
            symbols.update(automaton.literals(s))
        symbols.add(other)
        if empty_segments:
            symbols.add("")
        for symbol in sorted(symbols):
            nxt = goal.step(states, symbol)
            if not nxt:
                continue
            key = (nxt, tuple(a.step(s, symbol) if s else s for a, s in zip(automata, rule_states, strict=True)))
            if key not in seen:
                seen.add(key)
                queue.append((key, (*path, symbol)))
    ordered = sorted(found.items(), key=lambda item: len(candidates) if item[0] is None else item[0])
    return [Piece(None if i is None else candidates[i], render_path(path)) for i, path in ordered]


def render_path(segments: Sequence[str]) -> str:
    """Split segments back into a path that :func:`~routeguard.rules.split_path` reads the same
    way (a trailing empty segment needs one extra ``/``, since one trailing slash is ignored)."""
    path = "/" + "/".join(segments)
    return path + "/" if segments and not segments[-1] else path


def method_classes(rules: Iterable[CompiledRule]) -> list[str]:
    """Every method some rule names, plus :data:`OTHER_METHOD` for all the others."""
    named: set[str] = set()
    for rule in rules:
        named.update(rule.methods or ())
    return [*sorted(named), OTHER_METHOD]


def covered_methods(rule: CompiledRule, classes: Sequence[str]) -> list[str]:
    """The method classes ``rule`` applies to."""
    return [m for m in classes if rule.accepts(m)]
