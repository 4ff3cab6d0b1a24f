"""``routeguard diff MODULE:APP OLD NEW``: what a policy change does to access, cell by cell.

``terraform plan`` for access: both policies are judged on the same app's routes with the same
identity columns (anonymous, authenticated, every role either policy names), and only the cells
that change are printed as ``route, method, identity: before -> after``. A change *widens* when
the identity gets further than before: a refusal becomes allowed or conditionally allowed, a
conditional allow becomes unconditional, an enforced refusal becomes report-only, or a route
whose paths get different answers (``mixed``) changes in a way that cannot be ranked (counted
as widening, so ``--strict`` asks a human). ``OLD`` or ``NEW`` may be ``REV:PATH`` to read a
policy from git (``HEAD~1:routeguard.toml``).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..errors import PolicyError
from ..policy.model import Policy
from .introspect import AppRoute
from .matrix import Cell, Matrix, build, policy_roles

_REVISION: Final = re.compile(r"[A-Za-z0-9_][\w./~^@{}-]*")  # never an option ("-...")
#: How far each cell label lets an identity get; higher is wider.
_RANK: Final = {"allow": 3, "tenant": 2, "permission": 2, "mixed": 1, "login": 0, "deny": 0, "hidden": 0}


@dataclass(frozen=True, slots=True)
class Change:
    """One cell that differs between the two policies."""

    method: str
    path: str
    identity: str
    before: Cell
    after: Cell

    @property
    def widens(self) -> bool:
        """True when the identity gets further than before (unrankable changes count)."""
        old, new = _RANK[self.before.label], _RANK[self.after.label]
        if new != old:
            return new > old
        if self.before.label == "mixed":
            return True  # mixed -> mixed with other parts: cannot be ranked, a human must look
        refused = _RANK[self.after.label] < _RANK["allow"]
        return refused and self.after.report_only and not self.before.report_only


def load_policy(reference: str) -> Policy:
    """A policy file, or ``REV:PATH`` read from git when no such file exists."""
    path = Path(reference)
    if path.exists() or ":" not in reference:
        return Policy.from_toml(path, resolve_secrets=False)
    revision, _, name = reference.partition(":")
    if not _REVISION.fullmatch(revision) or not name:
        raise PolicyError(f"{reference}: no such file, and not a git REV:PATH")
    try:
        shown = subprocess.run(["git", "show", f"{revision}:{name}"],  # noqa: S603, S607 - revision checked above
                               capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PolicyError(f"{reference}: cannot run git ({exc})") from None
    if shown.returncode != 0:
        detail = " ".join(shown.stderr.split()) or "git show failed"
        raise PolicyError(f"{reference}: no such file, and not a git revision:path ({detail})")
    return Policy.from_toml_string(shown.stdout, base_dir=Path(name).parent, source=reference,
                                   resolve_secrets=False)


def compare(routes: Sequence[AppRoute], old: Policy, new: Policy) -> tuple[list[Change], Matrix, Matrix]:
    """The changed cells, and both matrices (same rows and columns)."""
    roles = sorted(set(policy_roles(old)) | set(policy_roles(new)))
    before, after = build(routes, old, roles=roles), build(routes, new, roles=roles)
    changes = []
    for old_row, new_row in zip(before.rows, after.rows, strict=True):
        for name in before.identities:
            a, b = old_row.cells[name], new_row.cells[name]
            if (a.label, a.status, a.report_only) != (b.label, b.status, b.report_only) or (
                    a.label == "mixed" and a.note != b.note):
                method = "WS" if old_row.route.kind == "websocket" else old_row.method
                changes.append(Change(method, old_row.route.path, name, a, b))
    return changes, before, after


def render_table(changes: Sequence[Change]) -> str:
    """One aligned line per changed cell, widening ones marked."""
    if not changes:
        return "no access changes\n"
    table = [["METHOD", "PATH", "IDENTITY", "BEFORE", "", "AFTER", ""]]
    for c in changes:
        table.append([c.method, c.path, c.identity, c.before.text(), "->", c.after.text(),
                      "WIDENS" if c.widens else "narrows"])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in table]
    return "\n".join([*lines, "", _summary(changes)]) + "\n"


def render_markdown(changes: Sequence[Change]) -> str:
    """A Markdown table for a pull-request comment."""
    if not changes:
        return "**routeguard**: no access changes\n"
    lines = ["| route | method | identity | before | after | |", "|---|---|---|---|---|---|"]
    for c in changes:
        mark = "**widens**" if c.widens else "narrows"
        lines.append(f"| `{c.path.replace('`', '')}` | {c.method} | {c.identity} | {_md(c.before)} | "
                     f"{_md(c.after)} | {mark} |")
    return "\n".join([*lines, "", _summary(changes)]) + "\n"


def _md(cell: Cell) -> str:
    return cell.text().replace("|", "\\|").replace("~", "\\~")


def to_json(changes: Sequence[Change]) -> dict[str, Any]:
    """The changes as plain data."""
    def cell(c: Cell) -> dict[str, Any]:
        return {"label": c.label, "status": c.status, "report_only": c.report_only, "note": c.note}

    return {
        "changes": [{"method": c.method, "path": c.path, "identity": c.identity, "before": cell(c.before),
                     "after": cell(c.after), "widens": c.widens} for c in changes],
        "widening": sum(c.widens for c in changes),
    }


def render_json(changes: Sequence[Change]) -> str:
    """:func:`to_json`, indented."""
    return json.dumps(to_json(changes), indent=2) + "\n"


def _summary(changes: Sequence[Change]) -> str:
    widening = sum(c.widens for c in changes)
    return f"{len(changes)} cell(s) change, {widening} widen access (~ = refusal only reported)"
