"""Policy lint: findings about a policy that loads but probably does not mean what it says.

Load errors (unknown keys, malformed patterns, a ``login_url`` no public rule covers) are
:class:`~routeguard.PolicyError` at load time; this module looks for what is valid yet
suspicious:

- ``shadowed``: a rule that can never decide a request, because every path and method it
  covers is decided by earlier rules (exact, see :mod:`routeguard.tools.reach`);
- ``shadowed-methods``: a rule that names methods and is reached for some but never for others;
- ``duplicate``: a rule with the same pattern (parameter names aside) and methods as an
  earlier one;
- ``wide-public``: a public rule wider than it looks (``/**``, ``/*``, ``/api/**``): it makes
  every path below it public, including routes added later;
- ``report-mode``: refusals are logged but not enforced (the policy or a rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..core.rules import ANY, LITERAL, ONE, CompiledRule, Segment
from ..policy.model import Policy
from .reach import OTHER_METHOD, covered_methods, first_matches, method_classes

#: Public subtrees that are public by convention; ``/static/**`` is not a surprise.
STATIC_PREFIXES: Final = frozenset({
    ".well-known", "assets", "css", "favicon.ico", "fonts", "images", "img", "js", "media", "public",
    "static",
})


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint finding; ``rule`` is the 1-based position it is about (None: the policy)."""

    code: str
    rule: int | None
    pattern: str | None
    message: str

    def __str__(self) -> str:
        where = f"rule #{self.rule} (path {self.pattern!r})" if self.rule is not None else "policy"
        return f"{where}: {self.message} [{self.code}]"


def describe_methods(rule: CompiledRule) -> str:
    """``GET, POST`` (HEAD implied by GET is left out) or ``any method``."""
    if rule.methods is None:
        return "any method"
    shown = sorted(rule.methods - ({"HEAD"} if "GET" in rule.methods else set()))
    return ", ".join(shown)


def _label(rule: CompiledRule) -> str:
    return f"#{rule.position} ({rule.pattern!r})"


def _shape(segments: Sequence[Segment]) -> tuple[tuple[int, str], ...]:
    """The pattern with parameter names erased: ``/a/{x}`` and ``/a/*`` are the same language."""
    return tuple((s.kind, s.value if s.kind == LITERAL else "") for s in segments)


def lint(policy: Policy) -> list[Finding]:
    """Every finding for ``policy``, in rule order (policy-wide findings first)."""
    findings: list[Finding] = []
    if policy.mode == "report":
        findings.append(Finding("report-mode", None, None,
                                "mode = 'report': refusals are logged but NOT enforced; switch to 'enforce'"))
    rules = policy.compiled_rules
    classes = method_classes(rules)
    for j, rule in enumerate(rules):
        earlier = rules[:j]
        duplicate = next((e for e in earlier if _shape(e.segments) == _shape(rule.segments)
                          and e.methods == rule.methods), None)
        if duplicate is not None:
            findings.append(Finding("duplicate", rule.position, rule.pattern,
                                    f"same pattern and methods as rule {_label(duplicate)}; it can never match"))
        else:
            findings.extend(_shadowing(rule, earlier, classes))
        wide = _wide_public(rule)
        if wide is not None:
            findings.append(Finding("wide-public", rule.position, rule.pattern, wide))
        if rule.report:
            findings.append(Finding("report-mode", rule.position, rule.pattern,
                                    "mode = 'report': this rule's refusals are logged but NOT enforced"))
    return findings


def _shadowing(rule: CompiledRule, earlier: Sequence[CompiledRule], classes: Sequence[str]) -> list[Finding]:
    methods = covered_methods(rule, classes)
    deciders: dict[int, CompiledRule] = {}
    shadowed_methods: list[str] = []
    for method in methods:
        pieces = first_matches(rule.segments, earlier, method)
        if all(piece.rule is not None for piece in pieces):
            shadowed_methods.append(method)
            deciders.update((p.rule.index, p.rule) for p in pieces if p.rule is not None)
    if not shadowed_methods:
        return []
    by = ", ".join(_label(r) for _, r in sorted(deciders.items()))
    if len(shadowed_methods) == len(methods):
        stricter = [r for r in deciders.values() if r.access == "public"] if rule.access != "public" else []
        note = "; a public rule decides first, so these paths are public" if stricter else ""
        return [Finding("shadowed", rule.position, rule.pattern,
                        f"never matches: every path and method it covers is decided earlier by {by}{note}")]
    if rule.methods is None:  # "/a" GET first, "/a" for the other methods: intended, not a finding
        return []
    named = [m for m in shadowed_methods if m != OTHER_METHOD]
    named = [m for m in named if not (m == "HEAD" and "GET" in named)]
    return [Finding("shadowed-methods", rule.position, rule.pattern,
                    f"never decides {', '.join(named)}: earlier rule(s) {by} decide those first")]


def _wide_public(rule: CompiledRule) -> str | None:
    if rule.access != "public":
        return None
    segments = rule.segments
    if not segments:
        return None
    first = segments[0]
    if first.kind == ANY:
        return "public for every path of the site; list the public routes instead"
    if first.kind == ONE:
        return "public for every top-level path (the first segment is a wildcard)"
    if any(s.kind == ANY for s in segments):
        if first.value in STATIC_PREFIXES:
            return None
        prefix = rule.pattern.partition("/**")[0] or "/"
        return (f"public for everything under {prefix} at any depth, including routes added later; "
                "list the public routes explicitly")
    return None
