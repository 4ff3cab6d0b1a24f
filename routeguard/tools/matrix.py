"""The permission matrix: an app's real routes, the rule that decides each, and what every
kind of identity gets there. Rendered as a text table, Markdown, JSON or one HTML page.

Each row is one route and method. Which rules decide its paths is computed exactly
(:func:`routeguard.tools.reach.first_matches`): a route whose paths are split between rules, or
partly left to default deny, says so. Each cell is the real engine's decision
(:meth:`routeguard.Engine.authorize`) for one identity: ``anonymous``, ``authenticated`` (a
subject with no roles) and one identity per role named in the policy. A rule that also
needs a permission or a tenant is judged twice (with and without them) so the cell can say
"allowed with tenant" rather than guess.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..core.decision import Decision, Outcome, Reason
from ..core.engine import AuthResult, Engine, Route
from ..core.identity import Identity
from ..core.rules import CompiledRule, parse_pattern, split_path
from ..policy.model import Policy
from .introspect import AppRoute
from .lint import describe_methods
from .reach import Piece, first_matches, method_classes

ANONYMOUS: Final = "anonymous"
AUTHENTICATED: Final = "authenticated"

#: Cell labels, most permissive first; ``mixed`` when a route's paths get different answers.
LABELS: Final = ("allow", "tenant", "permission", "login", "deny", "hidden", "mixed")
_REFUSALS: Final = {Outcome.UNAUTHENTICATED: ("login", 401), Outcome.FORBIDDEN: ("deny", 403),
                    Outcome.NOT_FOUND: ("hidden", 404)}


@dataclass(frozen=True, slots=True)
class Cell:
    """What one identity gets on one row: a label from :data:`LABELS`, the guard's status
    (None when the app answers), a note, and whether the refusal is only reported."""

    label: str
    status: int | None = None
    note: str = ""
    report_only: bool = False

    def text(self) -> str:
        """Short form for tables: ``allow``, ``401``, ``403``, ``allow*`` ..."""
        base = {"allow": "allow", "tenant": "tenant", "permission": "perm", "mixed": "mixed"}.get(
            self.label, str(self.status))
        return base + ("~" if self.report_only else "")


@dataclass(frozen=True, slots=True)
class Row:
    """One route and method, the rules deciding its paths, and one cell per identity."""

    route: AppRoute
    method: str  # "*" for a mounted app that takes any method
    pieces: tuple[Piece, ...]
    cells: dict[str, Cell]
    sources: tuple[str, ...] = ()

    @property
    def default_deny(self) -> bool:
        """True when some path of this route matches no rule (default deny)."""
        return any(piece.rule is None for piece in self.pieces)

    @property
    def rule_text(self) -> str:
        """``#6 /admin/**``, several joined with ``+``, or ``DEFAULT DENY``."""
        parts = [f"#{p.rule.position} {p.rule.pattern}" if p.rule else "DEFAULT DENY" for p in self.pieces]
        return " + ".join(parts) if parts else "-"

    @property
    def requires(self) -> str:
        """What the deciding rule(s) require, in words."""
        return "; ".join(requirement(p.rule) for p in self.pieces) or "-"


@dataclass(frozen=True, slots=True)
class Matrix:
    """The whole permission matrix of one app under one policy."""

    app: str
    policy: str
    mode: str
    identities: tuple[str, ...]
    rows: tuple[Row, ...]
    unused_rules: tuple[CompiledRule, ...] = field(default=())

    @property
    def default_deny_rows(self) -> list[Row]:
        """Rows with at least one path that falls to default deny."""
        return [row for row in self.rows if row.default_deny]


def requirement(rule: CompiledRule | None) -> str:
    """``public``, ``authenticated``, ``role admin``, ``tenant org_id`` ... or ``default deny``."""
    if rule is None:
        return "default deny"
    if rule.access != "authenticated":
        return rule.access
    parts = []
    if rule.roles:
        parts.append(("role " if len(rule.roles) == 1 else "any role of ") + ", ".join(sorted(rule.roles)))
    if rule.permissions:
        parts.append(("permission " if len(rule.permissions) == 1 else "permissions ")
                     + ", ".join(sorted(rule.permissions)))
    if rule.tenant:
        parts.append(f"tenant {{{rule.tenant}}}")
    text = " + ".join(parts) or "authenticated"
    return text + (" (404 when refused)" if rule.hide else "")


def policy_roles(policy: Policy) -> list[str]:
    """Every role some rule names, sorted."""
    return sorted({role for rule in policy.compiled_rules for role in rule.roles})


def build(routes: Sequence[AppRoute], policy: Policy, *, app: str = "", source: str = "",
          roles: Sequence[str] | None = None) -> Matrix:
    """The matrix of ``routes`` under ``policy``; one column per role the policy names (or per
    role of ``roles``, to compare two policies column by column)."""
    rules = policy.compiled_rules
    engine = Engine(rules, report=policy.mode == "report")
    identities = (ANONYMOUS, AUTHENTICATED, *(policy_roles(policy) if roles is None else roles))
    classes = method_classes(rules)
    rows: list[Row] = []
    index: dict[tuple[str, str], int] = {}
    used: set[int] = set()
    for route in routes:
        for method in route.methods or ("*",):
            key = (route.path, method)
            if key in index:  # "/admin" and "/admin/" are one row
                old = rows[index[key]]
                rows[index[key]] = Row(old.route, old.method, old.pieces, old.cells, (*old.sources, route.source))
                continue
            segments = parse_pattern(route.path)
            if method == "*":
                pieces = _merge(first_matches(segments, rules, m) for m in classes)
            else:
                pieces = first_matches(segments, rules, method)
            used.update(p.rule.index for p in pieces if p.rule is not None)
            cells = {name: _cell(engine, pieces, name) for name in identities}
            index[key] = len(rows)
            rows.append(Row(route, method, tuple(pieces), cells, (route.source,)))
    unused = tuple(rule for rule in rules if rule.index not in used)
    return Matrix(app, source, policy.mode, identities, tuple(rows), unused)


def _merge(groups: Iterable[list[Piece]]) -> list[Piece]:
    seen: dict[int | None, Piece] = {}
    for pieces in groups:
        for piece in pieces:
            seen.setdefault(piece.rule.index if piece.rule else None, piece)
    return sorted(seen.values(), key=lambda p: p.rule.index if p.rule else 1 << 30)


def _identity(name: str, rule: CompiledRule | None, params: dict[str, str], best: bool) -> Identity | None:
    if name == ANONYMOUS:
        return None
    roles = () if name == AUTHENTICATED else (name,)
    if not best or rule is None:
        return Identity.of(f"<{name}>", roles=roles)
    tenant = params.get(rule.tenant) if rule.tenant else None
    return Identity.of(f"<{name}>", roles=roles, permissions=rule.permissions, tenants=[tenant] if tenant else [])


def _piece_cell(engine: Engine, piece: Piece, name: str) -> Cell:
    rule = piece.rule
    params = rule.capture(split_path(piece.witness)) if rule else {}
    route = Route(rule, params)
    worst = engine.authorize(route, AuthResult(_identity(name, rule, params, best=False)))
    if worst.outcome is Outcome.ALLOW:
        return Cell("allow")
    best = engine.authorize(route, AuthResult(_identity(name, rule, params, best=True)))
    if best.outcome is Outcome.ALLOW and rule is not None:
        label = "tenant" if worst.reason is Reason.TENANT else "permission"
        needs = []
        if rule.permissions:
            needs.append("permission " + ", ".join(sorted(rule.permissions)))
        if rule.tenant:
            needs.append(f"a tenant matching {{{rule.tenant}}}")
        status = _REFUSALS.get(worst.outcome, ("deny", 403))[1]  # the engine applied hide (404)
        return Cell(label, status, "allowed with " + " and ".join(needs), worst.report_only)
    return _refused(worst)


def _refused(decision: Decision) -> Cell:
    label, status = _REFUSALS.get(decision.outcome, ("deny", 403))
    return Cell(label, status, decision.reason, decision.report_only)


def _cell(engine: Engine, pieces: Sequence[Piece], name: str) -> Cell:
    cells = [_piece_cell(engine, piece, name) for piece in pieces]
    if not cells:
        return Cell("deny", 403, "route covers no path")
    if all(c.label == cells[0].label and c.status == cells[0].status for c in cells):
        return cells[0]
    parts = [f"{'#' + str(p.rule.position) if p.rule else 'default deny'} ({p.witness}): {c.text()}"
             for p, c in zip(pieces, cells, strict=True)]
    return Cell("mixed", None, "; ".join(parts), any(c.report_only for c in cells))


# -- renderers ---------------------------------------------------------------------------------

def _header(matrix: Matrix) -> list[str]:
    return ["METHOD", "PATH", "RULE", "REQUIRES", *matrix.identities]


def _cells(matrix: Matrix, row: Row) -> list[str]:
    flag = "! " if row.default_deny else ""
    method = "WS" if row.route.kind == "websocket" else row.method
    return [method, flag + row.route.path, row.rule_text, row.requires,
            *(row.cells[name].text() for name in matrix.identities)]


def _footer(matrix: Matrix) -> list[str]:
    lines = []
    if matrix.default_deny_rows:
        lines.append(f"! {len(matrix.default_deny_rows)} route(s) fall to default deny (no rule matches)")
    for rule in matrix.unused_rules:
        lines.append(f"rule #{rule.position} ({rule.pattern!r}, {describe_methods(rule)}) matches no route")
    if matrix.mode == "report":
        lines.append("mode = 'report': refusals are logged, not enforced (cells marked ~)")
    lines.append("cells: allow = the app answers; 401 = sign in first; 403/404 = refused; "
                 "tenant/perm = allowed only with the tenant or permission")
    return lines


def render_table(matrix: Matrix) -> str:
    """A plain-text table with aligned columns."""
    table = [_header(matrix), *(_cells(matrix, row) for row in matrix.rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in table]
    return "\n".join([*lines, "", *_footer(matrix)]) + "\n"


def render_markdown(matrix: Matrix) -> str:
    """A GitHub-flavoured Markdown table."""
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")

    def code(text: str) -> str:
        return "`" + text.replace("`", "") + "`"

    header = _header(matrix)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in matrix.rows:
        method = "WS" if row.route.kind == "websocket" else row.method
        path = code(row.route.path) + (" **default deny**" if row.default_deny else "")
        rule = " + ".join(f"#{p.rule.position} {code(p.rule.pattern)}" if p.rule else "**DEFAULT DENY**"
                          for p in row.pieces) or "-"
        cells = [esc(row.cells[name].text()) for name in matrix.identities]
        lines.append("| " + " | ".join([method, path, rule, esc(row.requires), *cells]) + " |")
    return "\n".join([*lines, "", *(f"- {esc(line)}" for line in _footer(matrix))]) + "\n"


def to_json(matrix: Matrix) -> dict[str, Any]:
    """The matrix as plain JSON-able data."""
    def rule(r: CompiledRule | None) -> dict[str, Any] | None:
        if r is None:
            return None
        return {"position": r.position, "pattern": r.pattern, "access": r.access, "requires": requirement(r),
                "methods": None if r.methods is None else sorted(r.methods)}

    return {
        "app": matrix.app,
        "policy": matrix.policy,
        "mode": matrix.mode,
        "identities": list(matrix.identities),
        "routes": [
            {
                "method": row.method,
                "path": row.route.path,
                "kind": row.route.kind,
                "endpoint": row.route.endpoint,
                "sources": list(row.sources),
                "default_deny": row.default_deny,
                "rules": [{"rule": rule(p.rule), "example": p.witness} for p in row.pieces],
                "cells": {name: {"label": c.label, "status": c.status, "note": c.note, "report_only": c.report_only}
                          for name, c in row.cells.items()},
            }
            for row in matrix.rows
        ],
        "unused_rules": [rule(r) for r in matrix.unused_rules],
    }


def render_json(matrix: Matrix) -> str:
    """:func:`to_json`, indented."""
    return json.dumps(to_json(matrix), indent=2) + "\n"
