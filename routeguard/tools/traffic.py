"""Observed traffic: a decision log (``decision_log = "decisions.jsonl"``) read back as
requests per identity column, with paths generalised into route groups.

A column is what the permission matrix calls an identity: ``anonymous`` (no credential, or
one that was rejected), ``authenticated`` (no roles) or the identity's roles joined by ``+``.
Paths are generalised as ``aa-logprof`` does with file paths: a segment that looks like a value
(a number, a UUID, a long token) becomes a parameter; literal siblings whose answers agree
become a parameter when there are at least :data:`MIN_SIBLINGS` of them; and a subtree whose
answers all agree, seen at several depths, becomes ``**``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..core.engine import AuthResult, Engine
from ..core.identity import Identity
from ..core.request import RequestView
from ..core.rules import Matcher
from ..errors import RouteGuardError
from ..policy.model import Policy, Rule
from .starter import specificity

ANONYMOUS: Final = "anonymous"
AUTHENTICATED: Final = "authenticated"
MIN_SIBLINGS: Final = 3
PARAM: Final = "{}"
ANY: Final = "**"
#: Statuses that say "not for you" (a refusal of the identity), as opposed to a bad request.
REFUSALS: Final = frozenset({401, 403, 404})
_VALUE: Final = re.compile(
    r"\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,}"
    r"|(?=[^/]*\d)[A-Za-z0-9_-]{20,}|[^/]*@[^/]*"
)


class LogError(RouteGuardError):
    """Raised when a decision log cannot be read or holds no usable line."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One logged request: method, judged path, identity column and roles, the status the
    client got, and the guard's decision (``outcome``, ``would_status``)."""

    method: str
    path: str
    column: str
    roles: tuple[str, ...]
    status: int
    outcome: str = "allow"
    would_status: int | None = None

    @property
    def segments(self) -> list[str]:
        """The path's non-empty segments."""
        return [s for s in self.path.split("/") if s]

    def identity(self) -> Identity | None:
        """An identity of this column (None for anonymous)."""
        if self.column == ANONYMOUS:
            return None
        return Identity.of(f"<{self.column}>", roles=self.roles)


def column_of(kind: str, roles: Sequence[str]) -> str:
    """The identity column of a logged identity kind and its roles."""
    if kind != AUTHENTICATED:
        return ANONYMOUS
    return "+".join(sorted(roles)) if roles else AUTHENTICATED


def read_log(path: str | Path) -> list[Observation]:
    """Every usable line of a decision log (lines without a status are skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LogError(f"cannot read decision log {str(path)!r} ({exc.strerror})") from None
    found: list[Observation] = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
            status = data["status"]
            roles = tuple(str(r) for r in data.get("roles") or ())
            if not isinstance(status, int) or not str(data["path"]).startswith("/"):
                continue
            found.append(Observation(str(data["method"]).upper(), str(data["path"]),
                                     column_of(str(data.get("identity", ANONYMOUS)), roles), roles, status,
                                     str(data.get("outcome", "allow")), data.get("would_status")))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    if not found:
        raise LogError(f"decision log {str(path)!r} has no usable line (one JSON object a line with method, path, "
                       "status; written by decision_log = \"...\" in a policy)")
    return found


def is_value(segment: str) -> bool:
    """True for a segment that looks like data rather than a route name."""
    return _VALUE.fullmatch(segment) is not None


@dataclass(slots=True)
class Node:
    """A trie of generalised paths: the observations that end here, and child segments."""

    seen: list[Observation] = field(default_factory=list)
    children: dict[str, Node] = field(default_factory=dict)

    def child(self, segment: str) -> Node:
        """The child for ``segment``, created if needed."""
        found = self.children.get(segment)
        if found is None:
            found = self.children[segment] = Node()
        return found

    def all_seen(self) -> Iterator[Observation]:
        """Every observation in this subtree."""
        yield from self.seen
        for node in self.children.values():
            yield from node.all_seen()

    def depths(self, depth: int = 0) -> set[int]:
        """The depths (relative to this node) where observations end."""
        found = {depth} if self.seen else set()
        for node in self.children.values():
            found |= node.depths(depth + 1)
        return found

    def merge(self, other: Node) -> None:
        """Add ``other``'s observations and children into this node."""
        self.seen.extend(other.seen)
        for segment, node in other.children.items():
            self.child(segment).merge(node)


def build_trie(observations: Iterable[Observation]) -> Node:
    """The trie of observed paths, value-like segments already generalised."""
    root = Node()
    for seen in observations:
        node = root
        for segment in seen.segments:
            node = node.child(PARAM if is_value(segment) else segment)
        node.seen.append(seen)
    return root


@dataclass(slots=True)
class Seen:
    """Observed traffic on one matrix cell: requests, and those the policy would refuse."""

    requests: int = 0
    refused: int = 0


def overlay(matrix_rows: Sequence[tuple[str, str]], identities: Sequence[str], observations: Iterable[Observation],
            policy: Policy) -> dict[tuple[int, str], Seen]:
    """Traffic per (row index, identity column) of a permission matrix whose rows are
    ``(glob, method)`` (method ``*``: any). Each request counts on the most specific row whose glob
    matches it, in each column it belongs to (every role it holds, else ``authenticated``), and
    as refused when the app answered it with success but ``policy``, enforced, would refuse it:
    what enforcing would break."""
    globs = sorted({path for path, _ in matrix_rows}, key=lambda glob: (specificity(glob), glob))
    matcher = Matcher(tuple(Rule(path=glob).compile(i) for i, glob in enumerate(globs)))
    index = {(path, method): i for i, (path, method) in enumerate(matrix_rows)}
    engine = Engine(policy.compiled_rules)
    found: dict[tuple[int, str], Seen] = {}
    for seen in observations:
        hit = matcher.match(seen.method, seen.path)
        if hit is None:
            continue
        glob = globs[hit[0].index]
        method = "GET" if seen.method == "HEAD" else seen.method
        row = index.get((glob, method), index.get((glob, "*")))
        if row is None:
            continue
        identity = seen.identity()
        refused = seen.status < 400 and engine.decide(RequestView(method=seen.method, path=seen.path),
                                                      AuthResult(identity)).refused
        if identity is None:
            columns = [ANONYMOUS]
        else:
            columns = [role for role in seen.roles if role in identities] or [AUTHENTICATED]
        for column in columns:
            cell = found.setdefault((row, column), Seen())
            cell.requests += 1
            cell.refused += refused
    return found
