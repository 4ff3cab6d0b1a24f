"""The guard: the request flow both adapters share, as a short pipeline of named steps.

    firewall and match (:meth:`Engine.route`)
    -> login throttle      :mod:`routeguard.runtime.throttle` (POSTs to ``login_url``)
    -> authenticate        :mod:`routeguard.runtime.authenticate` (agreement, revocation, loader)
    -> throttle verdict    :func:`routeguard.runtime.throttle.guess_verdict`
    -> CSRF verdict        :func:`routeguard.core.csrf.cross_origin` (cookie-based identities)
    -> judge               :meth:`Engine.judge` (the verdicts above are its explicit inputs)
    -> hooks               :class:`routeguard.runtime.hooks.AuthorizationHooks` (membership
                           verdict re-judged, ownership ``check``)
    -> audit               :mod:`routeguard.runtime.audit` (log, counters, events)

Written once as an effect flow (:mod:`routeguard.runtime.effects`) and driven synchronously by
:class:`routeguard.WSGIGuard` and asynchronously by :class:`routeguard.ASGIGuard`. Anything
unexpected while deciding refuses the request; nothing here ever logs a credential.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ..backends.server_session import ServerSessionBackend
from ..core.csrf import SAFE_METHODS, cross_origin
from ..core.decision import Decision, Outcome
from ..core.engine import ANONYMOUS, AuthResult, Engine, Route
from ..core.firewall import Firewall
from ..core.override import OverrideError, override_methods
from ..core.request import RequestView
from ..core.responses import Response
from ..errors import ServiceUnavailableError
from .audit import Recorder, failure_decision, logger, printable
from .authenticate import Authenticator, revocation_entry, sources
from .cache import PerObject
from .decision_log import DecisionLog, entry, open_log
from .effects import Effect, Flow
from .hooks import AuthorizationHooks, HookRunner
from .lane import Lane
from .throttle import Throttle, guess_verdict

if TYPE_CHECKING:  # the model and the composition root load with the first Policy (see __init__)
    from ..policy.model import Policy

__all__ = ["Guard", "revocation_entry"]


class Guard:
    """The policy at run time, shared by both adapters (one per Policy: see :meth:`for_policy`).

    ``guard.counters()`` gives decisions by (rule position, outcome, report_only) for a dashboard.
    """

    def __init__(self, policy: Policy) -> None:
        from ..policy.build import runtime_for  # imported here: `import routeguard.asgi` stays light

        runtime = runtime_for(policy)  # the guard keeps no reference to the policy (see _GUARDS)
        self.store = runtime.store
        self.engine = Engine(
            runtime.rules,
            Firewall(policy.firewall.relax),
            report=policy.mode == "report",
            allow_preflight=policy.allow_preflight,
        )
        self.responder = runtime.responder
        self.recorder = Recorder(runtime.on_decision)
        self.hooks = HookRunner(policy.hooks.timeout, policy.hooks.threads)
        self.sources = sources(runtime.backends, self.hooks)
        self.backends = tuple(source.backend for source in self.sources)
        self.server_sessions = next((b for b in runtime.backends if isinstance(b, ServerSessionBackend)), None)
        loader = runtime.identity_loader
        self.authenticator = Authenticator(self.sources, self.store,
                                           self.hooks.hook(loader, "identity_loader") if loader is not None else None,
                                           policy.auth.identity_cache_ttl)
        self.authorization = AuthorizationHooks(self.engine, self.hooks, runtime.tenant_membership,
                                                policy.membership_cache_ttl, runtime.rules,
                                                runtime.checks)
        self.csrf_origins = frozenset(policy.csrf.trusted_origins) if policy.csrf.enabled else None
        self.method_override = policy.method_override
        self.throttle = Throttle(policy.throttle, self.store, policy.login_url) if policy.throttle.enabled else None
        self.decision_log: DecisionLog | None = open_log(policy.decision_log) if policy.decision_log else None
        # The plain lane, when it can ever answer for this policy: never while a hook or the
        # decision log wants every request's view.
        self.lane = Lane(self.engine, self.backends, self.store, self.recorder, loader=loader is not None,
                         overrides=self.method_override != "ignored",
                         login_paths=self.throttle.login_paths if self.throttle is not None else None,
                         csrf=self.csrf_origins is not None) \
            if Lane.serves(self.backends) and runtime.on_decision is None and self.decision_log is None else None

    @classmethod
    def for_policy(cls, policy: Policy) -> Guard:
        """The Guard of ``policy``, built once and shared by every adapter of that policy object
        (held outside the frozen model: a copy of the policy is another object, another guard)."""
        return _GUARDS.get(policy, lambda: cls(policy))

    def counters(self) -> dict[tuple[int | None, str, bool], int]:
        """Decisions so far by (rule position or None, outcome, report_only)."""
        return self.recorder.counters()

    # -- the pipeline -----------------------------------------------------------------------
    def evaluate(self, request: RequestView, usernames: tuple[str, ...] | None = ()) -> Flow[Decision]:
        """Decide one request (a flow: drive it with ``run_sync`` or ``run_async``).

        ``usernames``: what a POST to ``login_url`` names in its body (the adapters read it);
        None when the body could not be read: the login is refused (RG-2026-29).
        """
        engine = self.engine
        route = engine.route(request)
        if isinstance(route, Decision):
            return route
        overrides: tuple[str, ...] = ()  # the methods the app may turn this request into
        if self.method_override != "ignored":
            try:
                overrides = override_methods(request)
            except OverrideError as exc:
                return Decision(Outcome.BAD_REQUEST, str(exc), route.rule)
            if overrides and self.method_override == "refuse":
                return Decision(Outcome.BAD_REQUEST, "method override refused (method_override = 'refuse')",
                                route.rule)
        public = route.rule is not None and route.rule.access == "public" and not overrides
        throttle = self.throttle
        if throttle is not None and throttle.is_login_post(request):
            if usernames is None:  # a body too large or unparsable would dodge the username limit
                return Decision(Outcome.BAD_REQUEST, "login body too large or unreadable", route.rule)
            try:
                wait = yield from throttle.login_refusal(throttle.client(request), usernames)
            except ServiceUnavailableError as exc:  # never an unthrottled login
                return Decision(Outcome.UNAVAILABLE, f"unavailable: {exc}", route.rule)
            if wait is not None:
                return engine.judge(route, ANONYMOUS, throttled=(wait, "too many failed logins"))
        try:
            auth = yield from self.authenticator.authenticate(request)
            throttled = None
            if throttle is not None and (auth.invalid is not None or (public and auth.identity is not None)):
                auth, throttled = yield from guess_verdict(throttle, request, auth, public, self._report(route))
            origins = self.csrf_origins
            forged = None
            if auth.cookie_based and origins is not None:
                forged = cross_origin(_as_unsafe(request, overrides) if overrides else request, origins)
            hooks = self.authorization
            if throttled is None and forged is None:  # the common case: the rule alone decides
                decision = engine.authorize(route, auth)
                if hooks.wanted(decision, route):
                    decision = yield from hooks.authorize(decision, route, auth)
            else:
                decision = engine.judge(route, auth, throttled=throttled, forged=forged)
            for method in overrides:  # the app may run any of them: each must be allowed too
                if decision.outcome is not Outcome.ALLOW:
                    break
                target = engine.route_as(request, method)
                judged = yield from hooks.authorize(engine.judge(target, auth), target, auth)
                if judged.outcome is not Outcome.ALLOW:
                    decision = dataclasses.replace(judged, reason=f"method override {method}: {judged.reason}")
        except ServiceUnavailableError as exc:
            # Nothing withheld: the credential was not rejected, and logout must still find it.
            if public:
                return engine.authorize(route, ANONYMOUS)  # a public page never needs the store
            logger.warning("refusing %s %s: %s", printable(request.method, 32), printable(request.path), exc)
            return Decision(Outcome.UNAVAILABLE, f"unavailable: {exc}", route.rule)
        return dataclasses.replace(decision, withheld=auth.withheld) if auth.withheld else decision

    def authenticate(self, request: RequestView) -> Generator[Effect, Any, AuthResult]:
        """The authenticate step alone (``logout`` uses it to find a credential)."""
        return self.authenticator.authenticate(request)

    def _report(self, route: Route) -> bool:
        rule = route.rule
        return self.engine.report if rule is None or rule.report is None else rule.report

    def forget_user(self, subject: str | None = None) -> None:
        """Drop the identity loader's cache (for one subject, or all)."""
        self.authenticator.forget_user(subject)

    # -- after the decision -----------------------------------------------------------------
    def failed(self, exc: BaseException) -> Decision:
        """The decision for an unexpected error while deciding: refuse (503), traceback at DEBUG."""
        return failure_decision(exc)

    def finish(self, decision: Decision, request: RequestView) -> Response | None:
        """Record the decision; the guard's response, or None when the app should answer."""
        response = None if decision.allowed else self.responder.render(decision, request)
        self.recorder.record(decision, request, response.status if response is not None else None)
        return response

    def log_decision(self, decision: Decision, request: RequestView, status: int | None,
                     response: Response | None = None) -> None:
        """Append one line to the decision log: ``status`` is what the client got (the app's
        answer when the app answered), ``response`` the guard's own refusal if it sent one."""
        log = self.decision_log
        if log is None:
            return
        would = None
        if decision.outcome is not Outcome.ALLOW:
            would = response.status if response is not None else self.responder.render(decision, request).status
        log.write(entry(decision, request, status, would))


def _as_unsafe(request: RequestView, overrides: tuple[str, ...]) -> RequestView:
    """``request`` as the CSRF check must see it: a GET the app may run as a DELETE is unsafe."""
    if request.method in SAFE_METHODS:
        unsafe = next((method for method in overrides if method not in SAFE_METHODS), None)
        if unsafe is not None:
            return dataclasses.replace(request, method=unsafe)
    return request


#: The guard of each live policy object (Guard.for_policy).
_GUARDS: PerObject[Guard] = PerObject()
