"""The request flow both adapters share: firewall -> authenticate -> match -> authorize.

Written once as an effect flow (see :mod:`routeguard.effects`) and driven synchronously by
:class:`routeguard.WSGIGuard` and asynchronously by :class:`routeguard.ASGIGuard`. Anything
unexpected while deciding refuses the request; nothing here ever logs a credential.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator
from typing import Any, Final

from .backends.base import Backend, Credential
from .config import Policy
from .decision import Decision, Outcome
from .effects import Effect, Flow
from .engine import ANONYMOUS, AuthResult, Engine, Route
from .errors import AuthenticationError, ServiceUnavailableError
from .firewall import Firewall
from .request import RequestView
from .responses import Responder, Response

logger: Final = logging.getLogger("routeguard")
_UNPRINTABLE: Final = re.compile(r"[^\x21-\x7e]")


def printable(text: str, limit: int = 512) -> str:
    """``text`` safe for one log line: non-printable and non-ASCII characters escaped."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode() or "?", text)


class Guard:
    """The policy at run time: engine, backends and responses, shared by both adapters.

    One Guard per Policy (see :meth:`for_policy`), so an ASGI and a WSGI adapter built from the
    same policy share caches and stores.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.engine = Engine(
            policy.compiled_rules,
            Firewall(policy.firewall.relax),
            report=policy.mode == "report",
        )
        self.responder = Responder(policy.login_url)
        self.backends: tuple[Backend, ...] = policy.backends or policy.build_backends()

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
                return Decision(Outcome.UNAVAILABLE, f"unavailable: {exc}", route.rule)
        return self.engine.authorize(route, auth)

    def authenticate(self, request: RequestView) -> Generator[Effect, Any, AuthResult]:
        """Try each backend in order; the first that finds credentials decides."""
        for backend in self.backends:
            try:
                result = backend.authenticate(request)
                if isinstance(result, Generator):
                    result = yield from result
            except AuthenticationError as exc:
                return AuthResult(invalid=f"{backend.name}: {exc.reason}")
            except ServiceUnavailableError:
                raise
            except Exception as exc:  # a broken backend refuses, it never allows
                logger.error("backend %s failed: %s", backend.name, type(exc).__name__)
                return AuthResult(invalid=f"{backend.name}: backend error ({type(exc).__name__})")
            if result is not None:
                return self._authenticated(result)
        return ANONYMOUS

    @staticmethod
    def _authenticated(credential: Credential) -> AuthResult:
        return AuthResult(identity=credential.identity)

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
