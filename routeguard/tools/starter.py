"""``routeguard init``: a starter policy for an existing app, written as commented TOML.

Conservative by construction: every route the app has gets a rule requiring an
authenticated identity, except exact well-known public paths (the login page, health probes,
``favicon.ico``, ``robots.txt``) and static roots (``/static/**``, ``/assets/**``,
``/.well-known/**``). A path is never public because of its last segment alone:
``/admin/token`` and ``/api/logout`` need an identity (RG-2026-23).

``mode = "report"`` lets a migration start by logging what would be refused. The output loads
with :meth:`routeguard.Policy.from_toml_string` and passes ``routeguard check --strict``:
routes whose patterns are the same glob (``/c/<int:id>`` and ``/c/<int:id>-<slug>`` are both
one segment) become one rule, rules are ordered most specific first, and a last lint pass
drops whatever earlier rules already decide.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ..core.rules import ANY, LITERAL, ONE, parse_pattern
from ..policy.model import Policy
from .introspect import AppRoute
from .reach import covered_methods, first_matches, method_classes

#: Login pages: public, and the first one the app has becomes ``login_url``.
LOGIN_PATHS: Final = ("/login", "/signin", "/sign-in", "/accounts/login", "/auth/login", "/users/sign_in",
                      "/admin/login")
#: Whole paths that are public on almost every site (exact; no other path starts public).
PUBLIC_PATHS: Final = frozenset({
    "/health", "/healthz", "/health/live", "/health/ready", "/livez", "/readyz", "/ping", "/status",
    "/favicon.ico", "/robots.txt", "/sitemap.xml", "/manifest.json", "/apple-touch-icon.png", *LOGIN_PATHS,
})
#: First segments whose whole subtree is public static content.
PUBLIC_PREFIXES: Final = frozenset({"static", "assets", ".well-known"})


def is_well_known_public(path: str) -> bool:
    """True for the exact paths and static roots that starter policies make public."""
    segments = parse_pattern(path)
    if segments and segments[0].kind == LITERAL and segments[0].value in PUBLIC_PREFIXES:
        return True
    return path in PUBLIC_PATHS


def _shape(path: str) -> tuple[tuple[int, str], ...]:
    """The glob with parameter names erased: ``/c/{id}`` and ``/c/*`` match the same paths."""
    return tuple((s.kind, s.value if s.kind == LITERAL else "") for s in parse_pattern(path))


def specificity(path: str) -> tuple[tuple[int, str], ...]:
    """Sort key: literals before parameters before ``**``, segment by segment; longer first."""
    order = {LITERAL: 0, ONE: 1, ANY: 2}
    key = tuple((order[kind], value) for kind, value in _shape(path))
    return (*key, (-1, ""))  # a shorter path ends before "**" of a longer one


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


@dataclass(slots=True)
class _Group:
    """Routes that one rule covers: same glob shape, methods unioned (None: any method)."""

    path: str
    public: bool
    methods: set[str] | None = field(default_factory=set)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, route: AppRoute) -> None:
        label = f"{route.endpoint} ({route.source})" if route.kind != "websocket" else f"websocket {route.endpoint}"
        if label not in self.sources:
            self.sources.append(label)
        if route.warning and route.warning not in self.warnings:
            self.warnings.append(route.warning)
        if route.methods is None:
            self.methods = None
        elif self.methods is not None:
            self.methods.update(route.methods)
        if route.path.count("{") > self.path.count("{"):  # keep the glob that names most parameters
            self.path = route.path


def _groups(routes: Sequence[AppRoute]) -> list[_Group]:
    groups: dict[tuple[tuple[int, str], ...], _Group] = {}
    for route in routes:
        shape = _shape(route.path)
        if shape not in groups:
            groups[shape] = _Group(route.path, is_well_known_public(route.path))
        groups[shape].add(route)
    ordered = sorted(groups.values(), key=lambda g: specificity(g.path))
    return _drop_decided(ordered)


def _rule_toml(group: _Group) -> list[str]:
    out = [f"path = {json.dumps(group.path)}"]
    if group.methods is not None:
        out.append(f"methods = {_toml_list(sorted(group.methods))}")
    return out


def _drop_decided(groups: list[_Group]) -> list[_Group]:
    """Remove rules (or methods of rules) that earlier rules decide anyway, so a reviewer reads
    only rules that matter and ``check --strict`` stays clean whatever shapes the routes have."""
    kept: list[_Group] = []
    for group in groups:
        text = "\n".join("[[rules]]\n" + "\n".join(_rule_toml(g)) for g in [*kept, group])
        rules = Policy.from_toml_string(text, resolve_secrets=False).compiled_rules
        rule, earlier = rules[-1], rules[:-1]
        classes = method_classes(rules)
        open_methods = [m for m in covered_methods(rule, classes)
                        if any(p.rule is None for p in first_matches(rule.segments, earlier, m))]
        if not open_methods:
            continue  # every path and method it covers is decided earlier
        if group.methods is not None:
            group.methods &= set(open_methods) | ({"HEAD"} if "GET" in open_methods else set())
        kept.append(group)
    return kept


def starter_policy(routes: Sequence[AppRoute], app: str) -> str:
    """The TOML text of a starter policy covering ``routes``."""
    groups = _groups(routes)
    public_gets = {g.path for g in groups if g.public and (g.methods is None or "GET" in g.methods)}
    login = next((p for p in LOGIN_PATHS if p in public_gets), None)

    out = [
        f"# routeguard starter policy for {app}, written by `routeguard init`.",
        "# Every route of the app has a rule below; anything else is refused (default deny).",
        "# Routes need an authenticated identity unless they are exact well-known public paths.",
        "# Review each rule, add roles = [...] where only some users belong, then run",
        "# `routeguard check --strict` and `routeguard routes` to see the permission matrix.",
        "",
        '# Start in report mode: refusals are logged ("would refuse") but not enforced.',
        '# Switch to "enforce" once the log shows only refusals you expect.',
        'mode = "report"',
        '# decision_log = "decisions.jsonl"   # record every decision; `routeguard suggest --from-log` reads it',
    ]
    if login:
        out.append(f"login_url = {json.dumps(login)}    # anonymous browsers are sent here")
    else:
        out.append('# login_url = "/login"    # set it to your login page (it must be public)')
    out += [
        "",
        "# Authentication: uncomment the backends your app uses. Secrets come from the environment.",
        "# [auth.bearer]",
        '# algorithms = ["HS256"]',
        '# secret_env = "APP_JWT_SECRET"',
        "#",
        "# [auth.session]",
        '# format = "starlette"            # or "flask": reads the session cookie your app writes',
        '# secret_env = "APP_SESSION_SECRET"',
    ]
    for group in groups:
        out += ["", f"# {', '.join(group.sources)}", *(f"# WARNING: {w}" for w in group.warnings),
                "[[rules]]", *_rule_toml(group)]
        if group.public:
            out.append('access = "public"        # well-known public path')
        else:
            out.append('access = "authenticated"  # add roles = ["..."] to narrow it')
    out.append("")
    return "\n".join(out)
