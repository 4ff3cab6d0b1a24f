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

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from ..backends.base import UNSURE, QuickResult
from ..core.csrf import SAFE_METHODS
from ..core.decision import Decision, Outcome
from ..core.engine import ANONYMOUS, AuthResult, Engine, route_of
from ..core.firewall import is_plain
from ..core.identity import Credential
from ..core.override import OVERRIDE_HEADERS
from ..core.request import HeaderMap
from .audit import Recorder, logger
from .authenticate import revocation_entry
from .cache import Memo, short

if TYPE_CHECKING:
    from ..stores.base import Store

_OVERRIDES: Final = frozenset(OVERRIDE_HEADERS)
_DEBUG: Final = logging.DEBUG
# logging's own memo of isEnabledFor by level (emptied in place when a level changes): one dict
# lookup per request instead of a call; another Python without it asks isEnabledFor each time.
_ENABLED: dict[int, bool] = getattr(logger, "_cache", {})

Quick = Callable[[Mapping[str, str]], QuickResult]
#: A decision the lane hands out again, with its counter (``next()`` counts one).
_Counted = tuple[Decision, "itertools.count[int]"]
#: A credential the lane saw: itself, its revocation entry in the store, decisions by rule.
_Ready = tuple[Credential, str | None, dict[int, _Counted]]
_READY_SIZE: Final = 4096
#: The methods the lane answers for, as written (the pipeline upper-cases, and sees the rare ones).
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: ``plain_path(path)``: whether the lane may take ``path`` (:func:`is_plain`), remembered for
#: the paths that repeat (``plain_path.get(path)`` is a C-level lookup; None: not seen yet).
plain_path: Final[Memo[str, bool]] = Memo(lambda path: is_plain(path) is not None, keep=short)


class Lane:
    """``lane.decide(method, path, headers, query)``: an allow decision, or None (run the guard).

    ``path`` must be the judged path and plain (:data:`plain_path`), the
    request an HTTP request (not a websocket handshake), as the adapters check before calling.
    """

    __slots__ = (
        "_counted",
        "_csrf",
        "_engine",
        "_loader",
        "_login_paths",
        "_match",
        "_methods",
        "_overrides",
        "_public",
        "_public_paths",
        "_quick",
        "_ready",
        "_recorder",
        "_store",
        "_throttled",
        "watched",
    )

    def __init__(self, engine: Engine, backends: Sequence[Any], store: Store, recorder: Recorder, *, loader: bool,
                 overrides: bool, login_paths: frozenset[str] | None, csrf: bool) -> None:
        """``backends`` all answer ``quick`` (:meth:`serves`); ``recorder`` counts the lane's
        decisions as the guard's; ``loader``: an identity loader is configured; ``overrides``:
        method overrides are judged or refused; ``login_paths``: the throttled login paths (None:
        no throttle); ``csrf``: the CSRF check is on."""
        self._engine = engine
        self._match = engine.matcher.match
        self._public = engine.public
        self._quick: tuple[Quick, ...] = tuple(backend.quick for backend in backends)
        self._store = store if store.local else None  # a shared store means I/O
        self._loader = loader
        self._overrides = overrides
        self._methods = _METHODS - {"OPTIONS"} if engine.allow_preflight else _METHODS
        self._throttled = login_paths is not None  # a public page's identity is a throttle guess
        # A plain path ends in at most one "/": each login path as written and with it.
        self._login_paths = frozenset(p for path in login_paths or () for p in (path, path + "/"))
        self._csrf = csrf
        self._ready: dict[int, _Ready] = {}
        self._recorder = recorder
        self._counted: dict[int, _Counted] = {}  # public rules' shared decisions
        #: (method, path) -> the shared decision of the public rule without parameters it
        #: matched: what the checks and the match below give any request without credentials
        #: (they read nothing else), answered again to a request with none of the watched
        #: headers. Bounded like ``_ready``, and only short paths are kept.
        self._public_paths: dict[tuple[str, str], _Counted] = {}
        #: The headers whose presence the lane must see (credentials, method overrides); a request
        #: with none of them may be decided with ``headers=None``.
        credentials: frozenset[str] = frozenset().union(*(backend.credential_headers for backend in backends))
        self.watched = credentials | (_OVERRIDES if overrides else frozenset())

    @staticmethod
    def serves(backends: Sequence[Any]) -> bool:
        """Whether every backend answers ``quick`` and names its ``credential_headers`` (custom
        and framework backends do not: the lane could never answer for their policy)."""
        return all(getattr(backend, "quick", None) is not None
                   and getattr(backend, "credential_headers", None) is not None for backend in backends)

    def decide(self, method: str, path: str, headers: HeaderMap | None, query: str) -> Decision | None:
        """The allow decision the full pipeline would reach, counted (as the guard counts every
        decision); or None when the pipeline must run (nothing counted).

        ``headers`` None: the request carries none of the :attr:`watched` headers (the adapter
        checked it in one set operation).
        """
        debug = _ENABLED.get(_DEBUG)
        if debug or (debug is None and logger.isEnabledFor(_DEBUG)):
            return None  # an allowed request is logged at DEBUG, with the request view
        if query and self._overrides and ("_method" in query or "%" in query):
            return None  # perhaps a method override in the query
        if headers is None:
            public = self._public_paths.get((method, path))
            if public is not None:
                next(public[1])
                return public[0]
        if method not in self._methods:
            return None  # an OPTIONS preflight, a method the pipeline normalises, or a rare one
        if path in self._login_paths:
            return None
        found = self._match(method, path)
        if found is None:
            return None  # default deny: the pipeline refuses and renders
        rule, params = found
        credential: Credential | None = None
        if headers is not None:  # a watched header is present: a method override or a credential
            if self._overrides and headers.any_of(_OVERRIDES):
                return None
            for quick in self._quick:
                result = quick(headers)
                if result is None:
                    continue
                if result is UNSURE or credential is not None:
                    return None  # to verify, or a second credential (the pipeline checks they agree)
                credential = result
        if credential is None:
            public = self._counted.get(rule.index) if not params else None
            if public is None:
                if rule.access != "public":
                    return None  # refused: the pipeline renders the answer
                if params:
                    decision = self._engine.authorize(route_of(rule, params), ANONYMOUS)
                    self._recorder.count(decision)
                    return decision
                # What Engine.authorize gives a public rule without parameters, shared.
                public = self._counted[rule.index] = self._counter(self._public[rule.index])
            if short(path):
                paths = self._public_paths
                if len(paths) >= _READY_SIZE:
                    paths.clear()
                paths[method, path] = public
            next(public[1])
            return public[0]
        if self._loader or (self._throttled and rule.access == "public"):
            return None
        ready = self._ready.get(id(credential))
        if ready is None or ready[0] is not credential:  # (held here, so its id is not reused)
            ready = self._remember(credential)
        store = self._store
        if store is not None and not store.holds_values and (credential.issued_at or 0.0) >= store.not_before:
            pass  # nothing was ever revoked nor logged out in this store: nothing to look up
        elif not self._current(credential, ready[1]):
            return None
        if self._csrf and method not in SAFE_METHODS and headers is not None and headers.get("cookie") is not None:
            return None  # perhaps a cookie credential on an unsafe method: the CSRF check
        known = ready[2].get(rule.index)
        if known is None:
            decision = self._engine.authorize(route_of(rule, params),
                                              AuthResult(identity=credential.identity, credential=credential))
            if decision.outcome is not Outcome.ALLOW or rule.check_name is not None:
                return None  # a refusal is rendered by the pipeline; an ownership check is a hook
            known = self._counter(decision)
            if rule.tenant is None:  # the same verdict whatever the rule's parameters are
                ready[2][rule.index] = known
        elif params:  # that verdict, with this request's parameters (a rule with names has them all)
            next(known[1])
            allowed = known[0]
            return Decision(allowed.outcome, allowed.reason, rule, allowed.identity, MappingProxyType(params),
                            credential=credential)
        next(known[1])
        return known[0]

    def _counter(self, decision: Decision) -> _Counted:
        """``decision`` with the recorder's counter of its key."""
        return decision, self._recorder.counter(decision)[1]

    def _remember(self, credential: Credential) -> _Ready:
        """What the lane keeps of a credential it saw: its revocation key in the store and its
        decisions by rule (with the parameters of the first request, for a rule that has some)."""
        ready = self._ready
        if len(ready) >= _READY_SIZE:
            ready.clear()
        key = credential.revocation_key
        entry = ready[id(credential)] = (credential, revocation_entry(key) if key is not None else None, {})
        return entry

    def _current(self, credential: Credential, revoked: str | None) -> bool:
        """Whether the in-process store knows the credential as neither revoked (listed under
        ``revoked``) nor logged out (False: ask the pipeline, which says why)."""
        store = self._store
        if store is None:
            return credential.revocation_key is None and credential.logout_key is None
        issued_at = credential.issued_at
        if revoked is not None:
            if store.get(revoked) is not None:
                return False
            if issued_at is not None and issued_at < store.not_before:
                return False
        logout = credential.logout_key
        if logout is not None and issued_at is not None:
            not_before = store.get(logout)
            if not_before is not None and issued_at < float(not_before):
                return False
        return True

