"""Rule-count scaling: routeguard's compiled trie against pycasbin's keyMatch2 and a naive list.

The rule sets look like a real REST API (versioned resources, ``{params}`` for ids, nested
collections, tenant subtrees ending in ``**``); the set for 100 rules is the first 100 rules of
the set for 1,000, and so on. Every matcher answers the same queries, and the suite checks that
they agree on every answer before it times anything.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import casbin

from routeguard import Policy
from routeguard.core.rules import Matcher

_WORDS = (
    "account", "alert", "asset", "audit", "batch", "billing", "build", "cart", "catalog", "channel",
    "comment", "contract", "coupon", "customer", "device", "document", "domain", "event", "export",
    "feature", "file", "group", "import", "incident", "invoice", "job", "ledger", "license", "media",
    "message", "metric", "note", "order", "partner", "payment", "plan", "policy", "price", "product",
    "profile", "project", "quota", "refund", "release", "report", "review", "role", "schedule",
    "secret", "segment", "service", "shipment", "store", "subscription", "task", "team", "ticket",
    "token", "user", "vendor", "webhook", "workflow",
)  # fmt: skip
_ROLES = ("admin", "editor", "viewer", "billing", "support")


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One generated rule: glob pattern, methods (None: all), role."""

    pattern: str
    methods: tuple[str, ...] | None
    role: str


def generate_rules(count: int, seed: int = 7) -> list[RuleSpec]:
    """``count`` realistic rules; a smaller count is always a prefix of a larger one."""
    rng = random.Random(seed)
    resources = [f"{a}-{b}s" if a != b else f"{a}s" for a, b in itertools.product(_WORDS, _WORDS)]
    rng.shuffle(resources)
    rules: list[RuleSpec] = []
    for round_ in range(8):  # each round another API area (about 19,000 rules each)
        area = "" if round_ == 0 else f"/area{round_}"
        for n, resource in enumerate(resources):
            version = f"v{1 + n % 3}"
            ident = resource.replace("-", "_")[:-1] + "_id"
            child = rng.choice(_WORDS) + "s"
            role = rng.choice(_ROLES)
            base = f"/api{area}/{version}/{resource}"
            rules += [
                RuleSpec(base, ("GET", "POST"), role),
                RuleSpec(f"{base}/{{{ident}}}", ("GET", "PUT", "DELETE"), role),
                RuleSpec(f"{base}/{{{ident}}}/history", ("GET",), role),
                RuleSpec(f"{base}/{{{ident}}}/{child}/{{child_id}}", None, role),
                RuleSpec(f"/orgs/{{org_id}}{area}/{resource}/**", None, role),
            ]
            if len(rules) >= count:
                return rules[:count]
    raise ValueError(f"cannot generate {count} rules")


def concrete_path(pattern: str, rng: random.Random) -> str:
    """A request path that ``pattern`` matches (parameters and ``**`` filled in)."""
    parts = []
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            parts += ["items", str(rng.randrange(10_000))]
        elif segment.startswith("{"):
            parts.append(f"{rng.randrange(1 << 32):08x}")
        else:
            parts.append(segment)
    return "/" + "/".join(parts)


def generate_queries(rules: Sequence[RuleSpec], count: int, seed: int = 11) -> list[tuple[str, str, str]]:
    """(role, method, path): about 90% aimed at a rule drawn uniformly (with its role), 10% at
    nothing (default deny)."""
    rng = random.Random(seed)
    queries = []
    for i in range(count):
        if i % 10 == 9:  # default deny: an unknown resource
            queries.append((rng.choice(_ROLES), "GET", f"/api/v1/unknown-{i}s/{rng.randrange(1000)}"))
            continue
        spec = rules[rng.randrange(len(rules))]
        method = rng.choice(spec.methods) if spec.methods else rng.choice(("GET", "POST", "DELETE"))
        queries.append((spec.role, method, concrete_path(spec.pattern, rng)))
    return queries


# -- the three matchers ---------------------------------------------------------------------------
Matcher_ = Callable[[str, str, str], int | None]  # (role, method, path) -> index of the deciding rule, or None


def routeguard_matcher(rules: Sequence[RuleSpec]) -> Matcher_:
    """routeguard's compiled matcher, built from a validated Policy (as an app would), plus the
    rule's role check: the index of the first matching rule when it grants ``role``, else None."""
    policy = Policy(
        rules=[{"path": r.pattern, "methods": list(r.methods) if r.methods else None, "roles": [r.role]} for r in rules]
    )
    matcher = Matcher(policy.compiled_rules)

    def match(role: str, method: str, path: str) -> int | None:
        found = matcher.match(method, path)
        if found is None or role not in found[0].roles:
            return None
        return found[0].index

    return match


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            out.append("(?:/.*)?")
        elif segment == "*":
            out.append("/[^/]+")
        elif segment.startswith("{"):
            out.append(f"/(?P<{segment[1:-1]}>[^/]+)")
        else:
            out.append("/" + re.escape(segment))
    return re.compile("".join(out) + "/?")


def naive_matcher(rules: Sequence[RuleSpec]) -> Matcher_:
    """What a hand-written guard does: precompiled anchored regexes tried in order."""
    compiled = [(_glob_regex(r.pattern), frozenset(r.methods) if r.methods else None, r.role) for r in rules]

    def match(role: str, method: str, path: str) -> int | None:
        for index, (regex, methods, granted) in enumerate(compiled):
            if (methods is None or method in methods) and regex.fullmatch(path):
                return index if role == granted else None
        return None

    return match


CASBIN_MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && keyMatch2(r.obj, p.obj) && regexMatch(r.act, p.act)
"""


def casbin_pattern(pattern: str) -> str:
    """Our glob as a keyMatch2 pattern: ``{id}`` -> ``:id``, a trailing ``/**`` -> ``/*``."""
    return "/".join(":" + s[1:-1] if s.startswith("{") else ("*" if s == "**" else s) for s in pattern.split("/"))


def casbin_enforcer(rules: Sequence[tuple[str, str, str]]) -> casbin.Enforcer:
    """A pycasbin enforcer with the RESTful keyMatch2 model and ``rules`` as (sub, obj, act)."""
    enforcer = casbin.Enforcer(casbin.Enforcer.new_model(text=CASBIN_MODEL))
    enforcer.add_policies([list(r) for r in rules])
    return enforcer


def casbin_matcher(rules: Sequence[RuleSpec]) -> Callable[[str, str, str], bool]:
    """pycasbin's RESTful keyMatch2 model, one policy line per rule: ``p, role, /path/:id, GET``."""
    enforcer = casbin_enforcer(
        [(r.role, casbin_pattern(r.pattern), "|".join(f"^{m}$" for m in r.methods) if r.methods else ".*")
         for r in rules]
    )

    def match(role: str, method: str, path: str) -> bool:
        return bool(enforcer.enforce(role, path, method))

    return match
