"""The request flow both adapters share.

firewall -> (CORS preflight) -> match -> throttle login POSTs -> authenticate (revocation,
identity loader) -> throttle guessed credentials (:mod:`routeguard.runtime.throttle`) -> CSRF for cookie
sessions -> authorize (membership hook, ownership check) -> app or guard response.

Written once as an effect flow (see :mod:`routeguard.effects`) and driven synchronously by
:class:`routeguard.WSGIGuard` and asynchronously by :class:`routeguard.ASGIGuard`. Anything
unexpected while deciding refuses the request; nothing here ever logs a credential.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator, Mapping
from typing import Any, Final

from ..backends.base import Backend
from ..backends.server_session import ServerSessionBackend
from ..core.csrf import SAFE_METHODS, cross_origin
from ..core.decision import Decision, Outcome, Reason
from ..core.engine import ANONYMOUS, AuthResult, Engine, Route
from ..core.firewall import Firewall
from ..core.identity import Credential, Identity
from ..core.override import OverrideError, override_methods
from ..core.request import RequestView
from ..core.responses import Response
from ..errors import AmbiguousCookieError, AuthenticationError, ServiceUnavailableError
from ..policy.model import Policy
from .audit import Recorder, logger, printable
from .cache import TTLCache
from .decision_log import DecisionLog, entry, open_log
from .effects import Effect, Flow
from .hooks import Hook, HookedBackend, HookRunner
from .throttle import Throttle

_HOOK_CACHE_SIZE: Final = 10_000


def revocation_entry(key: str) -> str:
    """The store key under which a revoked credential is listed."""
    return "revoked:" + key


@dataclasses.dataclass(frozen=True, slots=True)
class _Loaded:
    """What the identity loader said about one subject (cached briefly)."""

    refused: str | None = None
    roles: frozenset[str] | None = None
    permissions: frozenset[str] | None = None
    tenants: frozenset[str] | None = None


def _loaded(result: Any, subject: str) -> _Loaded:
    """Interpret an identity loader's answer: None/False refuse; Identity or mapping update."""
    if result is None or result is False:
        return _Loaded(refused="user unknown or disabled")
    if isinstance(result, Identity):
        if result.subject != subject:
            return _Loaded(refused="identity loader returned another subject")
        return _Loaded(None, result.roles, result.permissions, result.tenants)
    if isinstance(result, Mapping):
        if result.get("disabled") is True or result.get("active") is False:
            return _Loaded(refused="user disabled")

        def strings(key: str) -> frozenset[str] | None:
            value = result.get(key)
            if value is None:
                return None
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"identity loader: {key!r} must be a list of strings")
            return frozenset(value)

        return _Loaded(None, strings("roles"), strings("permissions"), strings("tenants"))
    raise TypeError(f"identity loader returned {type(result).__name__}; expected Identity, mapping or None")


class Guard:
    """The policy at run time, shared by both adapters (one per Policy: see :meth:`for_policy`).

    ``guard.counters()`` gives decisions by (rule position, outcome, report_only) for a dashboard.
    """

    def __init__(self, policy: Policy) -> None:
        runtime = policy.runtime()
        self.policy = policy
        self.store = runtime.store
        self.engine = Engine(
            runtime.rules,
            Firewall(policy.firewall.relax),
            report=policy.mode == "report",
            allow_preflight=policy.allow_preflight,
        )
        self.responder = policy.responses.responder(policy.login_url)
        self.recorder = Recorder(runtime.on_decision)
        self.hooks = HookRunner(policy.hooks.timeout, policy.hooks.threads)
        # Custom backends are hooks: a deadline, a worker thread under ASGI when sync.
        self.backends: tuple[Backend, ...] = tuple(
            b if _builtin(b) else HookedBackend(b, self.hooks) for b in runtime.backends
        )
        # (backend, declared cookie_based): None means "cookie-based if it read a cookie".
        self._sources = tuple((b, _declared_cookie_based(b)) for b in self.backends)
        self.server_sessions = next((b for b in self.backends if isinstance(b, ServerSessionBackend)), None)
        loader, membership = runtime.identity_loader, runtime.tenant_membership
        self.loader = self.hooks.hook(loader, "identity_loader") if loader is not None else None
        self.loader_ttl = policy.auth.identity_cache_ttl
        self.membership = self.hooks.hook(membership, "tenant_membership") if membership is not None else None
        self.membership_ttl = policy.membership_cache_ttl
        self.checks = {rule.index: self.hooks.hook(rule.check, f"check {rule.check_name}")
                       for rule in runtime.rules if rule.check is not None}
        self.csrf_origins = frozenset(policy.csrf.trusted_origins) if policy.csrf.enabled else None
        self.method_override = policy.method_override
        self.throttle = Throttle(policy.throttle, self.store, policy.login_url) if policy.throttle.enabled else None
        self._loaded: TTLCache[_Loaded] = TTLCache(_HOOK_CACHE_SIZE)
        self._members: TTLCache[bool] = TTLCache(_HOOK_CACHE_SIZE)
        self.decision_log: DecisionLog | None = open_log(policy.decision_log) if policy.decision_log else None

    @classmethod
    def for_policy(cls, policy: Policy) -> Guard:
        """The Guard of ``policy``, built once and reused."""
        guard = policy._runtime
        if not isinstance(guard, cls):
            guard = cls(policy)
            policy._runtime = guard
        return guard

    def counters(self) -> dict[tuple[int | None, str, bool], int]:
        """Decisions so far by (rule position or None, outcome, report_only)."""
        return self.recorder.counters()

    # -- the flow ---------------------------------------------------------------------------
    def evaluate(self, request: RequestView, usernames: tuple[str, ...] = ()) -> Flow[Decision]:
        """Decide one request (a flow: drive it with ``run_sync`` or ``run_async``).

        ``usernames``: what a POST to ``login_url`` names in its body (the adapters read it).
        """
        route = self.engine.route(request)
        if isinstance(route, Decision):
            return route
        overrides: tuple[str, ...] = ()
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
            try:
                wait = yield from throttle.login_refusal(throttle.client(request), usernames)
            except ServiceUnavailableError as exc:  # never an unthrottled login
                return Decision(Outcome.UNAVAILABLE, f"unavailable: {exc}", route.rule)
            if wait is not None:
                return self._too_many(route, wait, "too many failed logins")
        try:
            auth = yield from self.authenticate(request)
            if throttle is not None and (auth.invalid is not None or public):
                throttled = yield from self._throttle(throttle, request, route, auth, public)
                if isinstance(throttled, Decision):
                    return _withholding(throttled, auth.withheld)
                if throttled is not auth and auth.identity is not None:  # a locked-out client's
                    throttled = AuthResult(withheld=tuple(request.cookie_reads or ()))  # cookies too
                auth = throttled
            if auth.cookie_based and self.csrf_origins is not None:
                forged = cross_origin(_as_unsafe(request, overrides), self.csrf_origins)
                if forged is not None:  # refused even on public rules: the app sees the cookie too
                    return self.engine.refuse(Outcome.FORBIDDEN, forged, route, auth.identity)
            decision = yield from self._authorize(route, auth)
            for method in overrides:  # the app may run any of them: each must be allowed too
                if decision.outcome is not Outcome.ALLOW:
                    break
                judged = yield from self._authorize(self.engine.route_as(request, method), auth)
                if judged.outcome is not Outcome.ALLOW:
                    decision = dataclasses.replace(judged, reason=f"method override {method}: {judged.reason}")
            return _withholding(decision, auth.withheld)
        except ServiceUnavailableError as exc:
            # Nothing withheld: the credential was not rejected, and logout must still find it.
            if public:
                return self.engine.authorize(route, ANONYMOUS)  # a public page never needs the store
            logger.warning("refusing %s %s: %s", printable(request.method, 32), printable(request.path), exc)
            return Decision(Outcome.UNAVAILABLE, f"unavailable: {exc}", route.rule)

    def _authorize(self, route: Route, auth: AuthResult) -> Generator[Effect, Any, Decision]:
        """The rule's verdict on ``auth``, with the membership hook and the ``check``."""
        decision = self.engine.authorize(route, auth)
        membership, identity, rule = self.membership, auth.identity, route.rule
        if (
            decision.reason is Reason.TENANT
            and membership is not None
            and identity is not None
            and (yield from self._member(membership, identity, route))
        ):
            decision = self.engine.authorize(route, auth, member=True)
        if decision.outcome is Outcome.ALLOW and rule is not None and rule.check is not None:
            decision = yield from self._check_owner(self.checks[rule.index], route, decision)
        return decision

    def authenticate(self, request: RequestView) -> Generator[Effect, Any, AuthResult]:
        """Try every backend in order: each one that finds credentials must verify them, and
        all must name the same subject; the first one's credential proves the identity.

        A rejected credential is never skipped in favour of another one, and the cookies of
        a request that does not authenticate are withheld from the app (RG-2026-14).
        """
        accepted: Credential | None = None
        accepted_by = ""
        cookie_based = True
        failure: str | None = None
        genuine = False  # the first failure is an honest one (expired, revoked...), not a guess
        presented: list[str] | None = None  # cookies read by backends that found credentials
        store = self.store
        for backend, declared in self._sources:
            reads = request.cookie_reads
            mark = len(reads) if reads else 0
            try:
                result = backend.authenticate(request)
                if result is None:  # the common answers first: ABC isinstance checks are slow
                    continue
                if type(result) is not Credential:
                    if isinstance(result, Generator):
                        result = yield from result
                    if result is None:
                        continue
                    result = _as_credential(result, backend.name)
                credential = result
                if credential.revocation_key is not None:
                    entry = revocation_entry(credential.revocation_key)
                    # An in-process store does no I/O: read it directly, without an effect round trip.
                    revoked = store.get(entry) if store.local else (yield store.get_effect(entry))
                    if revoked is not None:
                        raise AuthenticationError("credential revoked", genuine=True)
                    issued_at = credential.issued_at
                    if issued_at is not None and issued_at < store.not_before:  # the store lost revocations
                        raise AuthenticationError("logged out", genuine=True)
                if credential.logout_key is not None and credential.issued_at is not None:
                    key = credential.logout_key
                    not_before = store.get(key) if store.local else (yield store.get_effect(key))
                    if not_before is not None and credential.issued_at < float(not_before):
                        raise AuthenticationError("logged out", genuine=True)
                if accepted is None:
                    accepted, accepted_by = credential, backend.name
                elif credential.identity.subject != accepted.identity.subject and failure is None:
                    failure, genuine = f"{backend.name}: names another subject than {accepted_by}", True
                if cookie_based:
                    cookie_based = declared if declared is not None else len(request.cookie_reads or ()) > mark
            except AuthenticationError as exc:
                if failure is None:
                    failure, genuine = f"{backend.name}: {exc.reason}", exc.genuine
            except AmbiguousCookieError as exc:
                failure = failure or f"{backend.name}: {exc}"
            except ServiceUnavailableError:
                if failure is None:
                    raise
            except Exception as exc:  # a broken backend refuses, it never allows
                logger.error("backend %s failed: %s", backend.name, type(exc).__name__)
                failure = failure or f"{backend.name}: backend error ({type(exc).__name__})"
            reads = request.cookie_reads
            if reads and len(reads) > mark:
                presented = reads[mark:] if presented is None else presented + reads[mark:]
        if failure is not None:
            return AuthResult(invalid=failure, genuine=genuine, withheld=tuple(presented) if presented else ())
        if accepted is None:
            return ANONYMOUS
        identity = accepted.identity
        if self.loader is not None:
            try:
                identity = yield from self._reload(identity, self.loader)
            except AuthenticationError as exc:
                return AuthResult(invalid=f"{accepted_by}: {exc.reason}", genuine=exc.genuine,
                                  withheld=tuple(presented) if presented else ())
        return AuthResult(identity=identity, credential=accepted, cookie_based=cookie_based)

    def _reload(self, identity: Identity, loader: Hook) -> Generator[Effect, Any, Identity]:
        """Current roles, permissions and tenants from the identity loader (cached briefly)."""
        subject = identity.subject
        now = time.time()
        loaded = self._loaded.get(subject, now)
        if loaded is None:
            try:
                loaded = _loaded((yield loader(subject)), subject)
            except (AuthenticationError, ServiceUnavailableError):
                raise
            except Exception as exc:
                raise ServiceUnavailableError(f"identity loader: {type(exc).__name__}") from None
            if self.loader_ttl > 0:
                self._loaded.set(subject, loaded, now + self.loader_ttl)
        if loaded.refused is not None:
            raise AuthenticationError(loaded.refused, genuine=True)
        return dataclasses.replace(
            identity,
            roles=identity.roles if loaded.roles is None else loaded.roles,
            permissions=identity.permissions if loaded.permissions is None else loaded.permissions,
            tenants=identity.tenants if loaded.tenants is None else loaded.tenants,
        )

    def _member(self, hook: Hook, identity: Identity, route: Route) -> Generator[Effect, Any, bool]:
        """Ask the membership hook whether ``identity`` belongs to the route's tenant."""
        tenant = route.params.get(route.rule.tenant or "") if route.rule is not None else None
        if not tenant:
            return False
        key = (identity.subject, tenant)
        now = time.time()
        cached = self._members.get(key, now)
        if cached is not None:
            return cached
        try:
            answer = (yield hook(identity, tenant)) is True
        except ServiceUnavailableError:
            raise
        except Exception as exc:
            logger.error("tenant membership hook failed: %s", type(exc).__name__)
            raise ServiceUnavailableError(f"membership hook: {type(exc).__name__}") from None
        if self.membership_ttl > 0:
            self._members.set(key, answer, now + self.membership_ttl)
        return answer

    def _check_owner(self, check: Hook, route: Route, decision: Decision) -> Generator[Effect, Any, Decision]:
        """Run the rule's ``check`` predicate; False or an error refuses."""
        try:
            allowed = (yield check(decision.identity, dict(route.params))) is True
        except ServiceUnavailableError:
            raise
        except Exception as exc:
            name = route.rule.check_name if route.rule is not None else "?"
            logger.error("check %s failed: %s", name, type(exc).__name__)
            return self.engine.refuse(Outcome.FORBIDDEN, f"check error ({type(exc).__name__})", route,
                                      decision.identity)
        if allowed:
            return decision
        return self.engine.refuse(Outcome.FORBIDDEN, Reason.CHECK_REFUSED, route, decision.identity)

    def _throttle(
        self, throttle: Throttle, request: RequestView, route: Route, auth: AuthResult, public: bool
    ) -> Generator[Effect, Any, AuthResult | Decision]:
        """Count a guessed credential (429 once over the limit on a protected rule); on a public
        rule a locked-out client's credentials are ignored. Valid credentials are never refused."""
        if auth.invalid is not None:
            if auth.genuine:
                return auth  # expired, revoked, logged out: an honest 401, never a guess
            wait = yield from throttle.count_guess(throttle.client(request))
            if wait is None or public:
                return auth  # a public page ignores the invalid credential and answers
            return self._too_many(route, wait, "too many failed credentials")
        if auth.identity is None or throttle.lockout(request) is None:
            return auth
        if self._report(route):
            logger.info("would ignore the credentials of a locked-out client on %s", printable(request.path))
            return auth
        return ANONYMOUS  # no oracle: the public page answers as if no credential was sent

    def _too_many(self, route: Route, wait: int, reason: str) -> Decision:
        """429 with Retry-After (logged and let through in report mode)."""
        return Decision(Outcome.TOO_MANY_REQUESTS, reason, route.rule, retry_after=wait,
                        report_only=self._report(route))

    def _report(self, route: Route) -> bool:
        rule = route.rule
        return self.engine.report if rule is None or rule.report is None else rule.report

    def forget_user(self, subject: str | None = None) -> None:
        """Drop the identity loader's cache (for one subject, or all)."""
        if subject is None:
            self._loaded.clear()
        else:
            self._loaded.discard(subject)

    # -- after the decision -----------------------------------------------------------------
    def failed(self, exc: BaseException) -> Decision:
        """The decision for an unexpected error while deciding: refuse (503)."""
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
        # Only the type and location: exception messages may quote request data.
        logger.error("error while deciding: %s at %s", type(exc).__name__, where)
        return Decision(Outcome.UNAVAILABLE, f"internal error ({type(exc).__name__})")

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


def _withholding(decision: Decision, withheld: tuple[str, ...]) -> Decision:
    """``decision`` telling the adapter to remove ``withheld`` cookies (unchanged when none)."""
    return dataclasses.replace(decision, withheld=withheld) if withheld else decision


_BACKENDS_PACKAGE: Final = Backend.__module__.rpartition(".")[0] + "."  # routeguard.backends.
_CUSTOM_MODULE: Final = _BACKENDS_PACKAGE + "custom"


def _builtin(backend: Any) -> bool:
    """A backend of this package: its I/O goes through effects, so it runs inline, unhooked."""
    module = type(backend).__module__
    return module.startswith(_BACKENDS_PACKAGE) and module != _CUSTOM_MODULE


def _declared_cookie_based(backend: Any) -> bool | None:
    declared = getattr(backend, "cookie_based", None)
    return declared if isinstance(declared, bool) else None


def _as_credential(result: Any, backend_name: str) -> Credential:
    if isinstance(result, Credential):
        return result
    if isinstance(result, Identity):
        if not result.backend:
            result = dataclasses.replace(result, backend=backend_name)
        return Credential(result)
    raise TypeError(f"backend returned {type(result).__name__}; expected Identity, Credential or None")
