"""The plain lane: the common request decided from its method, path and headers alone.

Most requests a guard sees are plain: an unambiguous path (the firewall's fast case), no method
override, not a login, and either no credentials on a public route or a credential the guard
verified before (a repeated token or session cookie). For those, the full pipeline of
:mod:`routeguard.runtime.guard` would do no I/O, run no hook and allow the request; the lane
reaches the same decision without building a request view, a flow or an authentication result.

It is a shortcut, never a second policy: it answers only when every step it skips is known to
have nothing to say, and returns None otherwise: the adapter then runs the full pipeline from
the start. It never refuses (a refusal needs the request view to render), never verifies a
credential (each backend's ``quick`` answers from its cache), and is off as a whole when any
backend has no ``quick`` (custom and framework backends), when a decision log or an
``on_decision`` hook wants the request, or when the guard would log the decision.
``tests/test_lane.py`` checks that the lane and the pipeline agree on every request it answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

from ..backends.base import UNSURE, QuickResult
from ..core.csrf import SAFE_METHODS
from ..core.decision import Decision, Outcome
from ..core.engine import ANONYMOUS, AuthResult, Engine
from ..core.identity import Credential
from ..core.override import OVERRIDE_HEADERS
from .audit import logger
from .authenticate import revocation_entry

if TYPE_CHECKING:
    from .guard import Guard

_HEADER_1, _HEADER_2, _HEADER_3 = OVERRIDE_HEADERS
_DEBUG: Final = logging.DEBUG

Quick = Callable[[Mapping[str, str]], QuickResult]


class Lane:
    """``lane.decide(method, path, headers, query)``: an allow decision, or None (run the guard).

    ``path`` must be the judged path and plain (:func:`routeguard.core.firewall.is_plain`), the
    request an HTTP request (not a websocket handshake), as the adapters check before calling.
    """

    __slots__ = (
        "_csrf",
        "_engine",
        "_hooks",
        "_loader",
        "_login_paths",
        "_overrides",
        "_preflight",
        "_quick",
        "_store",
        "_throttled",
    )

    def __init__(self, guard: Guard, quick: tuple[Quick, ...]) -> None:
        self._engine: Engine = guard.engine
        self._hooks = guard.authorization
        self._quick = quick
        self._store = guard.store if guard.store.local else None  # a shared store means I/O
        self._loader = guard.authenticator.loader is not None
        self._overrides = guard.method_override != "ignored"
        self._preflight = guard.engine.allow_preflight
        throttle = guard.throttle
        self._throttled = throttle is not None  # a public page's identity is a throttle guess
        self._login_paths = throttle.login_paths if throttle is not None else frozenset()
        self._csrf = guard.csrf_origins is not None

    @classmethod
    def of(cls, guard: Guard) -> Lane | None:
        """The lane of ``guard``, or None when the lane could never answer for it."""
        quick = tuple(getattr(source.backend, "quick", None) for source in guard.sources)
        if any(q is None for q in quick) or guard.recorder.on_decision is not None or guard.decision_log is not None:
            return None
        return cls(guard, quick)  # type: ignore[arg-type]

    def decide(self, method: str, path: str, headers: Mapping[str, str], query: str) -> Decision | None:
        """The allow decision the full pipeline would reach, or None when it must run."""
        if logger.isEnabledFor(_DEBUG):  # an allowed request is logged at DEBUG, with the request view
            return None
        if not method.isupper() or (method == "OPTIONS" and self._preflight):
            return None
        if self._overrides:
            get = headers.get
            if (get(_HEADER_1) is not None or get(_HEADER_2) is not None or get(_HEADER_3) is not None
                    or (query and ("_method" in query or "%" in query))):
                return None
        if self._login_paths and (path.rstrip("/") or "/") in self._login_paths:
            return None
        engine = self._engine
        route = engine.match(method, path)
        rule = route.rule
        if rule is None:
            return None  # default deny: the pipeline refuses and renders
        credential: Credential | None = None
        for quick in self._quick:
            found = quick(headers)
            if found is None:
                continue
            if found is UNSURE or credential is not None:
                return None  # to verify, or a second credential (the pipeline checks they agree)
            credential = found
        if credential is None:
            decision = engine.authorize(route, ANONYMOUS)
        else:
            if self._loader or (self._throttled and rule.access == "public") or not self._current(credential):
                return None
            cookies = headers.get("cookie") is not None
            if cookies and self._csrf and method not in SAFE_METHODS:
                return None  # perhaps a cookie credential on an unsafe method: the CSRF check
            decision = engine.authorize(route, AuthResult(identity=credential.identity, credential=credential,
                                                          cookie_based=cookies))
        if decision.outcome is not Outcome.ALLOW or self._hooks.wanted(decision, route):
            return None
        return decision

    def _current(self, credential: Credential) -> bool:
        """Whether the in-process store knows the credential as neither revoked nor logged
        out (False: ask the pipeline, which says why)."""
        store = self._store
        if store is None:
            return credential.revocation_key is None and credential.logout_key is None
        key = credential.revocation_key
        issued_at = credential.issued_at
        if key is not None:
            if store.get(revocation_entry(key)) is not None:
                return False
            if issued_at is not None and issued_at < store.not_before:
                return False
        logout = credential.logout_key
        if logout is not None and issued_at is not None:
            not_before = store.get(logout)
            if not_before is not None and issued_at < float(not_before):
                return False
        return True

