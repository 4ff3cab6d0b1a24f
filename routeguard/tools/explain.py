"""``routeguard explain``: how the real engine judges one request, step by step.

Nothing is re-implemented here: the request view is built from the raw target the way a
server builds it, the firewall, matcher and authorization are :class:`routeguard.Engine`'s,
and the response is :class:`routeguard.responses.Responder`'s. The identity is given on the
command line instead of being read from credentials, so no secret is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, unquote_to_bytes

from ..core.decision import Decision, Outcome, Reason
from ..core.engine import AuthResult, Engine, Route
from ..core.firewall import INVALID_UTF8, Firewall
from ..core.identity import Identity
from ..core.request import RequestView
from ..core.responses import Response
from ..core.rules import CompiledRule
from ..errors import ExplainInputError
from ..policy.build import responder as policy_responder
from ..policy.model import Policy
from .matrix import requirement

#: Methods accepted without a rule naming them (RFC 9110 and RFC 5789).
STANDARD_METHODS: Final = ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")
_HEADER: Final = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*)")
_SHOWN_HEADERS: Final = ("location", "www-authenticate", "retry-after", "content-type", "cache-control", "vary")


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything ``explain`` reports about one request."""

    request: RequestView
    browser: bool
    firewall: str | None  # the violated class, or None
    route: Route | None  # None when the firewall rejected the request
    identity: Identity | None
    decision: Decision
    response: Response | None  # the guard's answer to a refusal (even report-only); None if allowed
    notes: tuple[str, ...] = field(default=())


def known_methods(policy: Policy) -> set[str]:
    """Standard methods plus any method a rule names."""
    named = {m for rule in policy.compiled_rules for m in rule.methods or ()}
    return set(STANDARD_METHODS) | named


def request_view(method: str, target: str, headers: Sequence[str] = ()) -> RequestView:
    """The request a server would hand the guard for ``method`` and a raw ``target``
    (percent-encoded, with an optional query); ``headers`` are ``"Name: value"`` lines."""
    parsed: dict[str, str] = {}
    for line in headers:
        found = _HEADER.fullmatch(line.strip())
        if found is None:
            raise ExplainInputError(f"header {line!r} is not 'Name: value'")
        name, value = found.group(1).lower(), found.group(2)
        parsed[name] = parsed[name] + ", " + value if name in parsed else value
    raw_path, _, query = target.partition("?")
    path_error = None
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        path, path_error = unquote(raw_path, errors="replace"), INVALID_UTF8
    return RequestView(method=method, path=path, raw_path=raw_path, query=query, headers=parsed,
                       path_error=path_error)


def explain(policy: Policy, method: str, target: str, *, headers: Sequence[str] = (),
            identity: Identity | None = None, invalid_credentials: bool = False) -> Explanation:
    """Judge one request with the policy's engine. ``method`` must be known (see
    :func:`known_methods`); ``identity`` None means anonymous."""
    method = method.upper()
    known = known_methods(policy)
    if method not in known:
        raise ExplainInputError(f"unknown HTTP method {method!r} (known: {', '.join(sorted(known))})")
    request = request_view(method, target, headers)
    engine = Engine(policy.compiled_rules, Firewall(policy.firewall.relax), report=policy.mode == "report",
                    allow_preflight=policy.allow_preflight)
    responder = policy_responder(policy)  # statuses and headers; the HTML template is not read
    browser = responder.is_browser(request)
    routed = engine.route(request)
    if isinstance(routed, Decision):
        firewall = routed.reason.removeprefix("firewall: ") if routed.outcome is Outcome.BAD_REQUEST else None
        response = responder.render(routed, request) if routed.refused else None
        return Explanation(request, browser, firewall, None, identity, routed, response,
                           ("CORS preflight: allowed without credentials",) if firewall is None else ())
    auth = AuthResult(invalid="credential rejected") if invalid_credentials else AuthResult(identity)
    decision = engine.authorize(routed, auth)
    response = responder.render(decision, request) if decision.refused else None
    return Explanation(request, browser, None, routed, identity, decision, response,
                       tuple(_notes(policy, routed.rule, decision, method)))


def _notes(policy: Policy, rule: CompiledRule | None, decision: Decision, method: str) -> list[str]:
    notes = []
    if rule is not None and rule.check_name:
        notes.append(f"the rule's check {rule.check_name!r} also runs at request time (not evaluated here)")
    if rule is not None and rule.tenant and decision.reason is Reason.TENANT and policy.tenant_membership:
        notes.append("the tenant_membership hook may still admit this identity at request time")
    if decision.report_only:
        notes.append("report mode: the refusal is logged and the request reaches the app")
    session = policy.auth.session
    if (session is not None and policy.csrf.enabled and method not in ("GET", "HEAD", "OPTIONS", "TRACE")
            and decision.allowed and rule is not None and rule.access != "public"):
        notes.append("if a session cookie authenticates it, a request the browser marks cross-site "
                     "(Sec-Fetch-Site, Origin) is refused (CSRF)")
    return notes


def _rule_line(rule: CompiledRule | None) -> str:
    if rule is None:
        return "none matches: default deny"
    methods = "any method" if rule.methods is None else ", ".join(sorted(rule.methods))
    return f"#{rule.position} {rule.pattern!r} ({methods}): {requirement(rule)}"


def _identity_line(identity: Identity | None, invalid: bool) -> str:
    if invalid:
        return "invalid credentials (presented but rejected)"
    if identity is None:
        return "anonymous (no credentials)"
    parts = [identity.subject]
    for label, values in (("roles", identity.roles), ("permissions", identity.permissions),
                          ("tenants", identity.tenants)):
        if values:
            parts.append(f"{label}: {', '.join(sorted(values))}")
    return "; ".join(parts)


def render_text(result: Explanation) -> str:
    """The explanation as aligned ``label  value`` lines."""
    req = result.request
    target = (req.raw_path or req.path) + (f"?{req.query}" if req.query else "")
    lines = [("request", f"{req.method} {target} ({'browser' if result.browser else 'API client'})")]
    if req.raw_path is not None and req.raw_path != req.path:
        lines.append(("decoded", req.path))
    lines.append(("firewall", f"REJECT ({result.firewall})" if result.firewall else "pass"))
    if result.route is not None:
        lines.append(("rule", _rule_line(result.route.rule)))
        if result.route.params:
            lines.append(("params", ", ".join(f"{k}={v!r}" for k, v in result.route.params.items())))
        lines.append(("identity", _identity_line(result.identity, result.decision.invalid_credentials)))
    decision = result.decision
    lines.append(("outcome", f"{decision.outcome.value}: {decision.reason}"))
    if result.response is None:
        lines.append(("response", "the request reaches the app"))
    else:
        resp = result.response
        verb = "would answer" if decision.report_only else "answers"
        lines.append(("response", f"the guard {verb} {resp.status}"))
        headers = dict(resp.headers)
        for name in _SHOWN_HEADERS:
            if name in headers:
                lines.append(("", f"{name}: {headers[name]}"))
        if resp.body and "json" in headers.get("content-type", ""):
            lines.append(("", f"body: {resp.body.decode()}"))
    lines += [("note", note) for note in result.notes]
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label.ljust(width)}  {value}".rstrip() for label, value in lines) + "\n"


def to_json(result: Explanation) -> dict[str, Any]:
    """The explanation as plain JSON-able data."""
    rule = result.route.rule if result.route is not None else None
    params: Mapping[str, str] = result.route.params if result.route is not None else {}
    resp = result.response
    return {
        "request": {"method": result.request.method, "raw_path": result.request.raw_path,
                    "path": result.request.path, "query": result.request.query, "browser": result.browser},
        "firewall": {"passed": result.firewall is None, "violation": result.firewall},
        "rule": None if rule is None else {"position": rule.position, "pattern": rule.pattern,
                                           "access": rule.access, "requires": requirement(rule)},
        "default_deny": result.route is not None and rule is None,
        "params": dict(params),
        "outcome": result.decision.outcome.value,
        "reason": result.decision.reason,
        "report_only": result.decision.report_only,
        "response": None if resp is None else {"status": resp.status, "headers": dict(resp.headers),
                                               "body": resp.body.decode("utf-8", "replace")},
        "notes": list(result.notes),
    }


def render_json(result: Explanation) -> str:
    """:func:`to_json`, indented."""
    return json.dumps(to_json(result), indent=2) + "\n"
