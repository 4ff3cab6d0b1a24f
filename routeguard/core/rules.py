"""Route globs and the compiled first-match matcher.

A pattern is split on ``/`` into segments: ``*`` is exactly one non-empty segment, ``**`` (a
whole segment) is zero or more segments, ``{name}`` is one non-empty segment captured under
``name``, anything else matches literally and case-sensitively. Patterns are always anchored
at both ends: ``/health`` never covers ``/healthcheck``.

All rules compile into one segment trie, run as a lazily built DFA over the path's segments:
the cost of a lookup is linear in the path's length, whatever the number of rules or of
``**`` in them (no backtracking), while the answer stays exactly "the first rule, in policy
order, whose pattern and methods match".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from ..errors import PatternError
from ._slots import fast_init

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


# Equal segments and capture lists are one object each, whatever the number of rules using
# them (100,000 rules under ``/api/...`` share one ``api`` segment). Bounded: policies built in
# a loop do not grow them without end; clearing only costs sharing.
_SHARED_MAX: Final = 4096
_LITERALS: dict[str, Segment] = {}
_PARAMS: dict[str, Segment] = {}
_STAR: Final = Segment(ONE)
_STARSTAR: Final = Segment(ANY)
_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _shared_segment(cache: dict[str, Segment], kind: int, value: str) -> Segment:
    segment = cache.get(value)
    if segment is None:
        if len(cache) >= _SHARED_MAX:
            cache.clear()
        segment = cache[value] = Segment(kind, value)
    return segment


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
            segments.append(_STARSTAR)
        elif text == "*":
            segments.append(_STAR)
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
            segments.append(_shared_segment(_PARAMS, ONE, name))
        else:
            bad = _FORBIDDEN_IN_LITERAL.search(text)
            if bad:
                raise PatternError(
                    f"pattern {pattern!r}: character {bad.group()!r} in {text!r} can never match a "
                    "judged path (patterns match the decoded path; no query, no escapes)"
                )
            segments.append(_shared_segment(_LITERALS, LITERAL, text))
    return tuple(segments)


def pattern_params(segments: Sequence[Segment]) -> tuple[str, ...]:
    """Names of the ``{params}`` a pattern captures, in order (equal tuples are one object)."""
    names = tuple(s.value for s in segments if s.kind == ONE and s.value)
    if not names:
        return ()
    shared = _NAMES.get(names)
    if shared is None:
        if len(_NAMES) >= _SHARED_MAX:
            _NAMES.clear()
        shared = _NAMES[names] = names
    return shared


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

    Two passes, each linear in ``len(segments) * len(path)`` whatever the ``**`` count: a
    backward pass marks which pattern suffixes can match which path suffixes, then a forward
    pass lets each ``**`` take as little as it can (so an ambiguous capture is the leftmost).
    """
    n_pat, n_path = len(segments), len(path)
    can = [bytearray(n_path + 1) for _ in range(n_pat + 1)]  # can[p][i]: segments[p:] matches path[i:]
    can[n_pat][n_path] = 1
    for p in range(n_pat - 1, -1, -1):
        seg, row, after = segments[p], can[p], can[p + 1]
        if seg.kind == ANY:
            row[n_path] = after[n_path]
            for i in range(n_path - 1, -1, -1):
                row[i] = after[i] or row[i + 1]
        elif seg.kind == LITERAL:
            for i in range(n_path):
                row[i] = after[i + 1] and path[i] == seg.value
        else:
            for i in range(n_path):
                row[i] = after[i + 1] and path[i] != ""
    if not can[0][0]:
        return None
    captured: dict[str, str] = {}
    i = 0
    for p, seg in enumerate(segments):
        if seg.kind == ANY:
            after = can[p + 1]
            while not after[i]:  # can[p][i] holds, so some j >= i has after[j]
                i += 1
            continue
        if seg.kind == ONE and seg.value:
            captured[seg.value] = path[i]
        i += 1
    return captured


@fast_init
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
    check_name: str | None = None  # the rule's ownership check (imported by the runtime)
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
    """A trie node: one pattern prefix. A ``**`` node (its parent's ``any``) loops on any segment.

    A child slot (a ``literals`` value, ``one``, ``any``) holds a node, or the one rule that
    continues there while no other rule shares the prefix: its node is built when a second rule
    or a request first needs it (:func:`_expand`). 100,000 rules under distinct prefixes cost one
    dict entry each instead of a chain of nodes.
    """

    __slots__ = ("any", "depth", "literals", "loops", "one", "terminals")

    def __init__(self, depth: int = 0, loops: bool = False) -> None:
        # The empty dict and tuple are shared until the node gets its own (see _insert).
        self.literals: dict[str, _Node | CompiledRule] = _NO_LITERALS
        self.one: _Node | CompiledRule | None = None
        self.any: _Node | CompiledRule | None = None
        self.depth = depth  # segments from the root
        self.loops = loops
        self.terminals: list[CompiledRule] | tuple[()] = ()  # in any order: states sort them


_NO_LITERALS: Final[dict[str, _Node | CompiledRule]] = {}  # never written: a node gets its own dict first


def _set_child(node: _Node, seg: Segment, child: _Node | CompiledRule) -> None:
    if seg.kind == LITERAL:
        if node.literals is _NO_LITERALS:
            node.literals = {}
        node.literals[seg.value] = child
    elif seg.kind == ONE:
        node.one = child
    else:
        node.any = child


def _insert(node: _Node, rule: CompiledRule) -> None:
    """Put ``rule`` (whose first ``node.depth`` segments lead to ``node``) below ``node``."""
    segments = rule.segments
    while node.depth < len(segments):
        seg = segments[node.depth]
        kind = seg.kind
        child = node.literals.get(seg.value) if kind == LITERAL else node.one if kind == ONE else node.any
        if child is None:
            _set_child(node, seg, rule)  # pending: no node until another rule or a request needs it
            return
        node = child if isinstance(child, _Node) else _expand(node, child)
    if isinstance(node.terminals, list):
        node.terminals.append(rule)
    else:
        node.terminals = [rule]


def _expand(node: _Node, pending: CompiledRule) -> _Node:
    """Build the child of ``node`` where the rule ``pending`` waits, and return it. The child
    is complete before it replaces the rule, so a request matching at the same time (another
    thread) sees the rule or the node, and either answers the same."""
    seg = pending.segments[node.depth]
    child = _Node(node.depth + 1, loops=seg.kind == ANY)
    _insert(child, pending)
    _set_child(node, seg, child)
    return child


class _State:
    """A set of trie nodes the path so far can have reached (one state of the lazy DFA).

    ``next`` caches the transition for each literal any of its nodes knows; every other
    non-empty segment goes to ``other``, an empty one to ``empty`` (both computed once).
    """

    __slots__ = ("accept", "empty", "key", "keys", "next", "nodes", "other")

    def __init__(self, nodes: tuple[_Node, ...]) -> None:
        self.nodes = nodes
        self.key = tuple(map(id, nodes))  # nodes are sorted by id: one key per set
        self.next: dict[str, _State] = {}
        self.keys = frozenset(key for node in nodes for key in node.literals)
        self.other: _State | None = None
        self.empty: _State | None = None
        self.accept = tuple(sorted((rule for node in nodes for rule in node.terminals), key=lambda r: r.index))


def _closure(nodes: Iterable[_Node]) -> tuple[_Node, ...]:
    """``nodes`` plus the ``**`` nodes they lead to without consuming a segment."""
    found: dict[int, _Node] = {}
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if id(node) not in found:
            found[id(node)] = node
            child = node.any
            if child is not None:
                stack.append(child if isinstance(child, _Node) else _expand(node, child))
    return tuple(sorted(found.values(), key=id))


_Captures = tuple[tuple[int, str], ...] | None


def _capture_plan(segments: Sequence[Segment]) -> _Captures:
    """Where each ``{param}`` sits in the path, when that is fixed: counted from the start
    (no ``**`` before it) or from the end (negative: no ``**`` after it).

    None means a param lies between two ``**``: captures then come from :func:`match_segments`.
    """
    stars = [i for i, seg in enumerate(segments) if seg.kind == ANY]
    plan = []
    for position, seg in enumerate(segments):
        if seg.kind == ONE and seg.value:
            if not stars or position < stars[0]:
                plan.append((position, seg.value))
            elif position > stars[-1]:
                plan.append((position - len(segments), seg.value))
            else:
                return None
    return tuple(plan)


class Matcher:
    """All rules compiled into one trie, run as a lazily built DFA over path segments.

    ``Matcher(rules).match("GET", "/orgs/acme/x")`` -> ``(rule, {"org_id": "acme"})`` or None.
    Each path segment costs one dictionary lookup once the states it passes are built, and
    building a state's transition costs at most the trie's size, so a match is linear in the
    path's length for any policy (several ``**`` never backtrack). At most ``max_states``
    states are kept; beyond that, new ones are built per request and dropped (memory stays
    bounded whatever paths clients send). ``work`` counts trie nodes visited while building
    transitions (a regression test bounds it).
    """

    __slots__ = ("_dead", "_plans", "_start", "_states", "max_states", "rules", "work")

    def __init__(self, rules: Iterable[CompiledRule], max_states: int = 4096) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self.max_states = max_states
        self.work = 0
        root = _Node()
        self._plans: dict[int, _Captures] = {}
        plans: dict[_Captures, _Captures] = {}  # equal plans are one tuple
        for rule in self.rules:
            _insert(root, rule)
            plan = _capture_plan(rule.segments) if rule.params else ()
            self._plans[rule.index] = plans.setdefault(plan, plan)
        self._states: dict[tuple[int, ...], _State] = {}
        self._dead = self._intern(())
        self._start = self._intern(_closure([root]))

    def _intern(self, nodes: tuple[_Node, ...]) -> _State:
        state = self._states.get(tuple(map(id, nodes)))
        if state is None:
            state = _State(nodes)
            if len(self._states) < self.max_states:
                self._states[state.key] = state
        return state

    def _step(self, state: _State, seg: str) -> _State:
        """The state after ``seg`` (a transition not cached yet, or not cacheable)."""
        literal = seg in state.keys
        if not literal:
            cached = state.other if seg else state.empty
            if cached is not None:
                return cached
        target = self._transition(state, seg)
        if self._states.get(target.key) is target:  # only interned states: the cache stays bounded
            if literal:
                state.next[seg] = target
            elif seg:
                state.other = target
            else:
                state.empty = target
        return target

    def _transition(self, state: _State, seg: str) -> _State:
        reached: list[_Node] = []
        for node in state.nodes:
            self.work += 1
            if node.loops:
                reached.append(node)  # "**" takes this segment too
            child = node.literals.get(seg)
            if child is not None:
                reached.append(child if isinstance(child, _Node) else _expand(node, child))
            one = node.one
            if seg and one is not None:
                reached.append(one if isinstance(one, _Node) else _expand(node, one))
        return self._intern(_closure(reached)) if reached else self._dead

    def match(self, method: str, path: str) -> tuple[CompiledRule, dict[str, str]] | None:
        """The first rule matching ``method`` and the decoded ``path``, with its captures."""
        if path.endswith("/"):
            path = path[:-1]
        segs = path[1:].split("/") if path else []
        state, dead = self._start, self._dead
        for seg in segs:
            following = state.next.get(seg)
            if following is None:
                following = state.other  # a segment no literal of this state names (an id)
                if following is None or not seg or seg in state.keys:
                    following = self._step(state, seg)
            state = following
            if state is dead:
                return None
        for rule in state.accept:  # sorted by policy position: the first that takes the method
            methods = rule.methods
            if methods is None or method in methods:
                break
        else:
            return None
        plan = self._plans[rule.index]
        if not plan:
            return rule, {} if plan is not None else match_segments(rule.segments, segs) or {}
        return rule, {name: segs[position] for position, name in plan}
