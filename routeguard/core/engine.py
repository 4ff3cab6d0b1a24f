"""The decision core: request facts and an authentication result in, a Decision out.

Pure and total: no I/O, no framework, no exception escapes for a policy outcome. Anything
that is not explicitly allowed by the first matching rule is refused (default deny).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from ._empty import EMPTY
from ._slots import fast_init
from .decision import Decision, Outcome, Reason
from .firewall import Firewall
from .identity import Credential, Identity
from .request import RequestView
from .rules import CompiledRule, Matcher

_NO_PARAMS: Mapping[str, str] = EMPTY
_SLASHES = re.compile(r"/{2,}")


@fast_init
@dataclass(frozen=True, slots=True)
class AuthResult:
    """What authentication established: an identity, a rejected credential, or neither.

    ``cookie_based``: every credential that proved the identity came from a cookie (so a
    browser may have sent it cross-site: the CSRF check applies). ``withheld``: cookies of
    rejected credentials, removed from the request the app sees.
    """

    identity: Identity | None = None
    invalid: str | None = None  # why a presented credential was rejected
    credential: Credential | None = None  # what proved the identity (for logout and revocation)
    cookie_based: bool = False
    withheld: tuple[str, ...] = ()
    genuine: bool = False  # the rejected credential was issued by the app (expired, revoked...): no guess
    others: tuple[Credential, ...] = ()  # further credentials of the same subject (revoked by logout too)




@fast_init
@dataclass(frozen=True, slots=True)
class Route:
    """The rule a request falls under (None: default deny) and the parameters it captured."""

    rule: CompiledRule | None
    params: Mapping[str, str] = _NO_PARAMS


ANONYMOUS = AuthResult()


def route_of(rule: CompiledRule, params: dict[str, str]) -> Route:
    """The route of a rule the matcher found, with the parameters it captured (read-only)."""
    return Route(rule, MappingProxyType(params) if params else _NO_PARAMS)


def _judged_path(request: RequestView) -> str:
    path = request.path
    if "//" in path:  # only when the empty_segment class is relaxed: judge "//admin" as "/admin",
        path = _SLASHES.sub("/", path)  # as werkzeug routes it, never as a path another rule covers
    return path


def is_preflight(request: RequestView) -> bool:
    """A CORS preflight: OPTIONS with ``Origin`` and ``Access-Control-Request-Method``."""
    headers = request.headers
    return (
        request.method == "OPTIONS"
        and headers.get("origin") is not None
        and headers.get("access-control-request-method") is not None
    )


class Engine:
    """Firewall, first-match lookup and authorization over a compiled rule list.

    ``engine.decide(request, AuthResult(identity))`` is the whole judgement; the adapters
    call :meth:`route` first so that a firewall rejection costs no authentication.
    """

    __slots__ = ("allow_preflight", "firewall", "matcher", "public", "report")

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        firewall: Firewall | None = None,
        report: bool = False,
        allow_preflight: bool = False,
    ):
        self.matcher = Matcher(rules)
        #: The decision of each public rule for an anonymous request without parameters: immutable,
        #: so one per rule serves every request.
        self.public = {rule.index: Decision(Outcome.ALLOW, Reason.PUBLIC, rule) for rule in self.matcher.rules
                       if rule.access == "public"}
        self.firewall = firewall or Firewall()
        self.report = report
        self.allow_preflight = allow_preflight

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        """The compiled rules, in policy order."""
        return self.matcher.rules

    def route(self, request: RequestView) -> Route | Decision:
        """The matching route; or a final decision: 400 from the firewall, or an allowed
        CORS preflight (when enabled; it carries no credentials by design)."""
        violation = self.firewall.check(request.raw_path, request.path, request.path_error)
        if violation is not None:
            return Decision(Outcome.BAD_REQUEST, f"firewall: {violation}")
        path = _judged_path(request)
        if self.allow_preflight and is_preflight(request):
            # A preflight carries no credentials by design; it passes when the request it
            # announces could be allowed here (a rule covers it and does not deny everyone).
            announced = request.headers.get("access-control-request-method", "").strip().upper()
            target = self.matcher.match(announced, path)
            if target is not None and target[0].access != "deny":
                return Decision(Outcome.ALLOW, Reason.PREFLIGHT, target[0])
        # ASGI websocket scopes are GET; a WSGI handshake keeps its own method
        return self._match(request.method, path)

    def route_as(self, request: RequestView, method: str) -> Route:
        """The route ``request`` takes under another ``method`` (a method override); the
        firewall has passed it already."""
        return self._match(method, _judged_path(request))

    def _match(self, method: str, path: str) -> Route:
        found = self.matcher.match(method, path)
        return Route(None) if found is None else route_of(*found)

    def decide(self, request: RequestView, auth: AuthResult = ANONYMOUS) -> Decision:
        """Judge one request completely."""
        route = self.route(request)
        if isinstance(route, Decision):
            return route
        return self.authorize(route, auth)

    def judge(
        self,
        route: Route,
        auth: AuthResult,
        *,
        throttled: tuple[int, str] | None = None,
        forged: str | None = None,
        member: bool = False,
    ) -> Decision:
        """The decision on ``route`` from the verdicts of the guard's steps, all pure inputs:
        ``throttled`` (seconds to wait and why: 429), ``forged`` (a CSRF refusal: 403, on
        public rules too), ``member`` (the membership hook vouched for the route's tenant)."""
        if throttled is not None:
            wait, reason = throttled
            rule = route.rule
            report = self.report if rule is None or rule.report is None else rule.report
            return Decision(Outcome.TOO_MANY_REQUESTS, reason, rule, retry_after=wait, report_only=report)
        if forged is not None:
            return self.refuse(Outcome.FORBIDDEN, forged, route, auth.identity)
        return self.authorize(route, auth, member)

    def authorize(self, route: Route, auth: AuthResult, member: bool = False) -> Decision:
        """Apply the route's rule (or default deny) to the authentication result.

        ``member`` says a membership hook vouched for the identity in the route's tenant.
        """
        rule, params = route.rule, route.params
        identity = auth.identity
        if rule is not None and rule.access == "public":
            if identity is None and not params and auth.credential is None:
                return self.public[rule.index]
            return Decision(Outcome.ALLOW, Reason.PUBLIC, rule, identity, params, credential=auth.credential)
        if identity is None:
            reason = f"invalid credentials: {auth.invalid}" if auth.invalid else Reason.NO_CREDENTIALS
            return self._refuse(Outcome.UNAUTHENTICATED, reason, rule, None, params, auth.invalid is not None)
        if rule is None:
            return self._refuse(Outcome.FORBIDDEN, Reason.DEFAULT_DENY, None, identity, params)
        refusal = self.refusal(rule, identity, params, member)
        if refusal is not None:
            return self.refuse(Outcome.FORBIDDEN, refusal, route, identity)
        return Decision(Outcome.ALLOW, Reason.ALLOWED, rule, identity, params, credential=auth.credential)

    @staticmethod
    def refusal(
        rule: CompiledRule, identity: Identity, params: Mapping[str, str], member: bool = False
    ) -> Reason | None:
        """Why ``rule`` refuses ``identity`` (None: it does not)."""
        if rule.access == "deny":
            return Reason.DENY_RULE
        if rule.roles and rule.roles.isdisjoint(identity.roles):
            return Reason.MISSING_ROLE
        if rule.permissions and not rule.permissions <= identity.permissions:
            return Reason.MISSING_PERMISSION
        if rule.tenant is not None and not member and params.get(rule.tenant) not in identity.tenants:
            return Reason.TENANT
        return None

    def refuse(self, outcome: Outcome, reason: str, route: Route, identity: Identity | None) -> Decision:
        """A refusal on ``route`` that honours ``hide`` (403 becomes 404) and report-only mode."""
        if outcome is Outcome.FORBIDDEN and route.rule is not None and route.rule.hide:
            outcome = Outcome.NOT_FOUND
        return self._refuse(outcome, reason, route.rule, identity, route.params)

    def _refuse(
        self,
        outcome: Outcome,
        reason: str,
        rule: CompiledRule | None,
        identity: Identity | None,
        params: Mapping[str, str],
        invalid: bool = False,
    ) -> Decision:
        report = self.report if rule is None or rule.report is None else rule.report
        return Decision(outcome, reason, rule, identity, params, invalid, report)
