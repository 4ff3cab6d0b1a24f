"""``routeguard suggest --from-log FILE [--rules POLICY]``: a policy learned from traffic.

Like AppArmor's ``aa-logprof`` for complain mode: the decision log of an app running in
report mode records what the app itself answered to each identity column; each route group
(:mod:`routeguard.tools.traffic`) gets the narrowest requirement that covers every column the
app answered with success (status below 400) and grants no column the app only refused:
``public``, then one role, then any of several roles, then ``authenticated``. A group the app
never answered with success gets no rule (default deny). Literal siblings become a parameter,
and a subtree becomes ``**``, only where the requirements agree.

With ``--rules``, the requests the app answered with success that the current policy would
refuse are listed by rule (:func:`would_refuse`): what enforcing that policy would break.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ..core.engine import AuthResult, Engine
from ..core.request import RequestView
from ..policy.model import Policy
from .lint import STATIC_PREFIXES
from .routeglob import AppRoute
from .starter import specificity
from .traffic import ANONYMOUS, ANY, AUTHENTICATED, MIN_SIBLINGS, PARAM, REFUSALS, Node, Observation, build_trie

PUBLIC: Final = "public"
MAX_SHOWN: Final = 20  # would-be refusals listed per rule
_NAME: Final = re.compile(r"[^A-Za-z0-9_]")


def requirement(observations: Iterable[Observation]) -> str | None:
    """``public``, ``authenticated``, ``roles:a,b`` or None (no column was answered with success)."""
    success: set[tuple[str, tuple[str, ...]]] = set()
    refused: set[tuple[str, tuple[str, ...]]] = set()
    for seen in observations:
        column = (seen.column, seen.roles)
        if seen.status < 400:
            success.add(column)
        elif seen.status in REFUSALS:
            refused.add(column)
    refused -= success  # a column answered both ways: the app decides per object (ownership)
    if not success:
        return None
    if any(column == ANONYMOUS for column, _ in success):
        return PUBLIC
    if any(not roles for _, roles in success):
        return AUTHENTICATED
    refused_roles = {role for _, roles in refused for role in roles}
    held = Counter(role for _, roles in success | refused for role in roles)
    common = set.intersection(*(set(roles) for _, roles in success)) - refused_roles
    if common:
        return "roles:" + min(common, key=lambda role: (held[role], role))
    allowed = {role for _, roles in success for role in roles} - refused_roles
    if all(set(roles) & allowed for _, roles in success):
        return "roles:" + ",".join(sorted(allowed))
    return AUTHENTICATED


def _methods(node: Node) -> dict[str, str | None]:
    by_method: dict[str, list[Observation]] = {}
    for seen in node.seen:
        by_method.setdefault(seen.method, []).append(seen)
    return {method: requirement(group) for method, group in by_method.items()}


def signature(node: Node, path: tuple[str, ...] = ()) -> frozenset[tuple[tuple[str, ...], str, str | None]]:
    """The requirements of every group in a subtree, by relative path and method."""
    found = {(path, method, need) for method, need in _methods(node).items()}
    for segment, child in node.children.items():
        found |= signature(child, (*path, segment))
    return frozenset(found)


def _uniform(node: Node) -> bool:
    """True when every group below ``node`` (its own included) has one requirement per method."""
    needs: dict[str, str | None] = {}
    return all(needs.setdefault(method, need) == need for _, method, need in signature(node))


def collapse(node: Node, segments: tuple[str, ...] = ()) -> None:
    """Generalise the trie in place, bottom up: agreeing literal siblings become a parameter,
    an agreeing subtree seen at several depths becomes ``**``. Never at the root (``/{x}``
    and ``/**`` would cover every route added later), and a public ``**`` only under a static
    prefix (``check`` flags any other as wide-public)."""
    for segment, child in list(node.children.items()):
        collapse(child, (*segments, segment))
    if not segments:
        return
    literals: dict[frozenset[tuple[tuple[str, ...], str, str | None]], list[str]] = {}
    for segment, child in node.children.items():
        if segment not in (PARAM, ANY):
            literals.setdefault(signature(child), []).append(segment)
    for sig, names in literals.items():
        param = node.children.get(PARAM)
        if len(names) < MIN_SIBLINGS or (param is not None and signature(param) != sig):
            continue
        merged = Node()
        for child in [*([param] if param is not None else []), *(node.children[name] for name in names)]:
            merged.merge(child)
        if signature(merged) == sig:  # pooled answers still give every group the same requirement
            for name in names:
                del node.children[name]
            node.children[PARAM] = merged
    below = Node()
    for child in node.children.values():
        below.merge(child)
    depths = set().union(*(child.depths(1) for child in node.children.values())) if node.children else set()
    needs = {(method, need) for _, method, need in signature(below)}
    public = any(need == PUBLIC for _, need in needs)
    if len(depths) >= 2 and _uniform(below) and (not public or segments[0] in STATIC_PREFIXES):
        flat = Node(seen=list(below.all_seen()))
        theirs = _methods(flat)
        if set(theirs.items()) != needs:
            return  # pooled, the answers would give another requirement: keep the groups apart
        mine = _methods(node)
        if all(theirs.get(method, need) == need for method, need in mine.items()):
            flat.seen.extend(node.seen)
            node.seen = []
        node.children = {ANY: flat}


@dataclass(frozen=True, slots=True)
class Suggested:
    """One suggested rule: pattern, methods, requirement, and the traffic behind it."""

    path: str
    methods: tuple[str, ...]
    need: str
    requests: int
    columns: tuple[str, ...]


def _param_name(previous: str, used: set[str]) -> str:
    """``{user_id}`` after ``users``; ``{param}`` (``{param_2}`` ...) after another parameter."""
    base = "" if previous.startswith(("{", "*")) else _NAME.sub("_", previous)
    base = base[:-1] if base.endswith("s") and len(base) > 3 else base
    name = f"{base}_id" if base and not base[0].isdigit() else "param"
    stem, n = name, 2
    while name in used:
        name, n = f"{stem}_{n}", n + 1
    return name


def route_groups(observations: Sequence[Observation]) -> list[tuple[str, Node]]:
    """The generalised route groups of ``observations``: (glob, trie node) for every node that
    has observations of its own."""
    root = build_trie(observations)
    collapse(root)
    found: list[tuple[str, Node]] = []

    def walk(node: Node, segments: list[str], used: set[str]) -> None:
        if node.seen:
            found.append(("/" + "/".join(segments), node))
        for segment, child in node.children.items():
            if segment == PARAM:
                name = _param_name(segments[-1] if segments else "", used)
                walk(child, [*segments, "{" + name + "}"], used | {name})
            else:
                walk(child, [*segments, segment], used)

    walk(root, [], set())
    return found


def observed_routes(observations: Sequence[Observation]) -> list[AppRoute]:
    """The routes traffic shows, for an app whose router cannot be read."""
    return [AppRoute(path, tuple(sorted({s.method for s in node.seen})), "observed", f"{len(node.seen)} request(s)")
            for path, node in route_groups(observations)]


def suggested_rules(observations: Sequence[Observation]) -> list[Suggested]:
    """The rules covering ``observations``, most specific first."""
    rules: list[Suggested] = []
    for path, node in route_groups(observations):
        by_need: dict[str, list[str]] = {}
        for method, need in sorted(_methods(node).items()):
            if need is not None:
                by_need.setdefault(need, []).append(method)
        for need, methods in by_need.items():
            seen = [s for s in node.seen if s.method in methods]
            rules.append(Suggested(path, tuple(methods), need, len(seen), tuple(sorted({s.column for s in seen}))))
    return sorted(rules, key=lambda r: (specificity(r.path), r.methods))


def render_policy(rules: Sequence[Suggested], source: str, total: int) -> str:
    """The TOML text of the suggested policy."""
    out = [
        f"# routeguard policy suggested by `routeguard suggest` from {total} logged request(s) in {source}.",
        "# Each rule grants the narrowest requirement that covers every identity the app answered",
        "# with success; a path the app never answered with success has no rule (default deny).",
        "# Add your [auth.*] sections and login_url, review every rule, then `routeguard check --strict`.",
        'mode = "report"',
    ]
    for rule in rules:
        out += ["", f"# seen: {rule.requests} request(s) ({', '.join(rule.columns)})", "[[rules]]",
                f"path = {json.dumps(rule.path)}", f"methods = {json.dumps(list(rule.methods))}"]
        if rule.need.startswith("roles:"):
            out.append(f"roles = {json.dumps(rule.need.removeprefix('roles:').split(','))}")
        else:
            out.append(f"access = {json.dumps(rule.need)}")
    out.append("")
    return "\n".join(out)


def would_refuse(observations: Iterable[Observation], policy: Policy) -> list[str]:
    """Requests the app answered with success that ``policy`` (enforced) would refuse, grouped
    by the rule refusing them: one line each, most requests first."""
    engine = Engine(policy.compiled_rules)
    groups: Counter[tuple[str, str, str, str]] = Counter()
    for seen in observations:
        if seen.status >= 400:
            continue
        decision = engine.decide(RequestView(method=seen.method, path=seen.path), AuthResult(seen.identity()))
        if decision.refused:
            rule = decision.rule
            where = f"rule #{rule.position} {rule.pattern!r}" if rule is not None else "no rule (default deny)"
            groups[(where, seen.method, seen.path, seen.column)] += 1
    by_rule: dict[str, list[str]] = {}
    totals: Counter[str] = Counter()
    for (where, method, path, column), count in groups.most_common():
        totals[where] += count
        shown = by_rule.setdefault(where, [])
        if len(shown) < MAX_SHOWN:
            shown.append(f"  {method} {path} as {column}: {count} request(s)")
    out: list[str] = []
    for where, lines in by_rule.items():
        more = len([k for k in groups if k[0] == where]) - len(lines)
        out += [f"{where}: {totals[where]} request(s)", *lines, *([f"  ... and {more} more"] if more > 0 else [])]
    return out
