"""The request flow both adapters share: firewall -> authenticate -> match -> authorize.

Written once as an effect flow (see :mod:`routeguard.effects`) and driven synchronously by
:class:`routeguard.WSGIGuard` and asynchronously by :class:`routeguard.ASGIGuard`. Anything
unexpected while deciding refuses the request; nothing here ever logs a credential.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Final

from ._cache import TTLCache
from .backends.base import Backend, Credential
from .backends.server_session import ServerSessionBackend
from .config import Policy
from .decision import Decision, Outcome
from .effects import Effect, Flow, awaiting, call
from .engine import ANONYMOUS, AuthResult, Engine, Route
from .errors import AuthenticationError, ServiceUnavailableError
from .firewall import Firewall
from .identity import Identity
from .request import RequestView
from .responses import Responder, Response, safe_next

logger: Final = logging.getLogger("routeguard")
_UNPRINTABLE: Final = re.compile(r"[^\x21-\x7e]")
#: How long a revocation lasts for a credential without an expiry of its own.
DEFAULT_REVOCATION_TTL: Final = 24 * 3600.0


def printable(text: str, limit: int = 512) -> str:
    """``text`` safe for one log line: non-printable and non-ASCII characters escaped."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode() or "?", text)


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
    """The policy at run time: engine, backends, store and responses, shared by both adapters.

    One Guard per Policy (see :meth:`for_policy`), so an ASGI and a WSGI adapter built from the
    same policy share caches and stores.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.store = policy.runtime_store
        self.engine = Engine(
            policy.compiled_rules,
            Firewall(policy.firewall.relax),
            report=policy.mode == "report",
        )
        self.responder = Responder(policy.login_url)
        self.backends: tuple[Backend, ...] = policy.backends
        self.server_sessions = next((b for b in self.backends if isinstance(b, ServerSessionBackend)), None)
        self.loader = policy.identity_loader
        self.loader_ttl = policy.auth.identity_cache_ttl
        self._loaded: TTLCache[_Loaded] = TTLCache(10_000)

    @classmethod
    def for_policy(cls, policy: Policy) -> Guard:
        """The Guard of ``policy``, built once and reused."""
        guard = policy._runtime
        if not isinstance(guard, cls):
            guard = cls(policy)
            policy._runtime = guard
        return guard

    # -- the flow ---------------------------------------------------------------------------
    def evaluate(self, request: RequestView) -> Flow[Decision]:
        """Decide one request (a flow: drive it with ``run_sync`` or ``run_async``)."""
        route = self.engine.route(request)
        if isinstance(route, Decision):
            return route
        try:
            auth = yield from self.authenticate(request)
        except ServiceUnavailableError as exc:
            if _is_public(route):
                auth = ANONYMOUS  # a public page never depends on a store being up
            else:
                logger.warning("refusing %s %s: %s", request.method, printable(request.path), exc)
                return Decision(Outcome.UNAVAILABLE, f"unavailable: {exc}", route.rule)
        return self.engine.authorize(route, auth)

    def authenticate(self, request: RequestView) -> Generator[Effect, Any, AuthResult]:
        """Try each backend in order; the first that finds credentials decides."""
        for backend in self.backends:
            try:
                result = backend.authenticate(request)
                if isinstance(result, Generator):
                    result = yield from result
                elif inspect.isawaitable(result):
                    result = yield awaiting(result)
                if result is None:
                    continue
                credential = _as_credential(result, backend.name)
                if credential.revocation_key is not None:
                    revoked = yield self.store.effect("get", revocation_entry(credential.revocation_key))
                    if revoked is not None:
                        raise AuthenticationError("credential revoked")
                identity = credential.identity
                if self.loader is not None:
                    identity = yield from self._reload(identity, self.loader)
                return AuthResult(identity=identity, credential=credential)
            except AuthenticationError as exc:
                return AuthResult(invalid=f"{backend.name}: {exc.reason}")
            except ServiceUnavailableError:
                raise
            except Exception as exc:  # a broken backend refuses, it never allows
                logger.error("backend %s failed: %s", backend.name, type(exc).__name__)
                return AuthResult(invalid=f"{backend.name}: backend error ({type(exc).__name__})")
        return ANONYMOUS

    def _reload(self, identity: Identity, loader: Callable[[str], Any]) -> Generator[Effect, Any, Identity]:
        """Current roles, permissions and tenants from the identity loader (cached briefly)."""
        subject = identity.subject
        now = time.time()
        loaded = self._loaded.get(subject, now)
        if loaded is None:
            try:
                answer = yield call(loader, subject)
                loaded = _loaded(answer, subject)
            except AuthenticationError:
                raise
            except Exception as exc:
                raise ServiceUnavailableError(f"identity loader: {type(exc).__name__}") from None
            if self.loader_ttl > 0:
                self._loaded.set(subject, loaded, now + self.loader_ttl)
        if loaded.refused is not None:
            raise AuthenticationError(loaded.refused)
        return dataclasses.replace(
            identity,
            roles=identity.roles if loaded.roles is None else loaded.roles,
            permissions=identity.permissions if loaded.permissions is None else loaded.permissions,
            tenants=identity.tenants if loaded.tenants is None else loaded.tenants,
        )

    def forget_user(self, subject: str | None = None) -> None:
        """Drop the identity loader's cache (for one subject, or all)."""
        if subject is None:
            self._loaded.clear()
        else:
            self._loaded.discard(subject)

    # -- login and logout -------------------------------------------------------------------
    def login_flow(
        self,
        request: RequestView,
        current: Credential | None,
        subject: str,
        roles: Iterable[str],
        permissions: Iterable[str],
        tenants: Iterable[str],
        next_url: str | None,
        default: str,
    ) -> Generator[Effect, Any, tuple[str, list[tuple[str, str]]]]:
        """Start a server-side session (if configured) under a fresh id; where to go next."""
        location = safe_next(next_url, default) or default
        backend = self.server_sessions
        if backend is None:
            return location, []
        replaces = current.session_key if current is not None else None
        session_id = yield from backend.create(subject, roles, permissions, tenants, replaces=replaces)
        return location, [("set-cookie", backend.set_cookie(session_id, request.prefix or "/"))]

    def logout_flow(
        self, request: RequestView, current: Credential | None
    ) -> Generator[Effect, Any, tuple[bool, list[tuple[str, str]]]]:
        """Revoke the credential that authenticated ``request``; headers that clear cookies."""
        revoked = False
        if current is not None and current.session_key is not None:
            yield self.store.effect("delete", current.session_key)
            revoked = True
        elif current is not None and current.revocation_key is not None:
            now = time.time()
            ttl = current.expires_at - now if current.expires_at is not None else DEFAULT_REVOCATION_TTL
            if ttl > 0:
                yield self.store.effect("set", revocation_entry(current.revocation_key), b"1", ttl + 1)
            revoked = True
        headers = []
        if self.server_sessions is not None:
            headers.append(("set-cookie", self.server_sessions.clear_cookie(request.prefix or "/")))
        return revoked, headers

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

    def record(self, decision: Decision, request: RequestView) -> None:
        """Log the decision: every refusal at INFO, every allow at DEBUG (never credentials)."""
        refused = decision.refused
        level = logging.INFO if refused else logging.DEBUG
        if not logger.isEnabledFor(level):
            return
        rule = decision.rule
        identity = decision.identity
        event = {
            "method": request.method,
            "path": printable(request.path),
            "rule": rule.position if rule else None,
            "pattern": rule.pattern if rule else None,
            "outcome": decision.outcome.value,
            "reason": decision.reason,
            "subject": identity.subject if identity else None,
            "backend": identity.backend if identity else None,
            "report_only": decision.report_only,
        }
        verb = "would refuse" if decision.report_only else ("refused" if refused else "allowed")
        if rule is not None:
            matched = f"rule #{rule.position} {rule.pattern!r}"
        elif decision.outcome is Outcome.BAD_REQUEST:
            matched = "firewall"
        else:
            matched = "no rule (default deny)"
        logger.log(
            level,
            "%s %s%s %s: %s (%s; %s; subject %s)",
            verb,
            "websocket " if request.websocket else "",
            printable(request.method, 32),
            event["path"],
            decision.outcome.value,
            decision.reason,
            matched,
            printable(identity.subject, 128) if identity else "-",
            extra={"routeguard": event},
        )

    def respond(self, decision: Decision, request: RequestView) -> Response:
        """The guard's response to a refusal."""
        return self.responder.render(decision, request)


def _is_public(route: Route) -> bool:
    return route.rule is not None and route.rule.access == "public"


def _as_credential(result: Any, backend_name: str) -> Credential:
    if isinstance(result, Credential):
        return result
    if isinstance(result, Identity):
        if not result.backend:
            result = dataclasses.replace(result, backend=backend_name)
        return Credential(result)
    raise TypeError(f"backend returned {type(result).__name__}; expected Identity, Credential or None")
