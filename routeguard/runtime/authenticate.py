"""The authenticate step: every backend that finds credentials must verify them, and all must
name the same subject; revocation and logout are checked on the store; the identity loader
reloads the user.

Defends against a presented-but-invalid credential being skipped in favour of another one,
an attacker's own valid token riding beside a victim's cookie (RG-2026-14: the subjects must
agree), and rejected cookies reaching the app (their names go back as ``withheld``).

Backends are normalised once, when the guard is built (:func:`sources`): each answers with
:data:`~routeguard.backends.base.BackendResult` (None, a :class:`Credential`, or a flow giving
one). Custom backends become hooks (:class:`~routeguard.runtime.hooks.HookedBackend`), so an
``Identity`` or an awaitable never reaches this step.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator, Mapping
from typing import Any, Final

from ..backends.base import Backend
from ..core.engine import ANONYMOUS, AuthResult
from ..core.identity import Credential, Identity
from ..core.request import RequestView
from ..errors import AmbiguousCookieError, AuthenticationError, ServiceUnavailableError
from ..stores import Store
from ..stores.base import REVOKED
from .audit import log_traceback, logger
from .cache import TTLCache
from .effects import Effect
from .hooks import Hook, HookedBackend, HookRunner

_CACHE_SIZE: Final = 10_000
_BACKENDS_PACKAGE: Final = Backend.__module__.rpartition(".")[0] + "."  # routeguard.backends.
_CUSTOM_MODULE: Final = _BACKENDS_PACKAGE + "custom"
# The framework integrations' session backends (Django, Flask-Login, Litestar) are this
# package's too: CPU-only checks inline, their I/O (Django's ORM) through effects.
_INLINE_PACKAGES: Final = (_BACKENDS_PACKAGE, _BACKENDS_PACKAGE.replace(".backends.", ".integrations."))


def revocation_entry(key: str) -> str:
    """The store key under which a revoked credential is listed."""
    return REVOKED + key


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """One backend as the guard runs it. ``cookie_based``: declared (True/False) or None,
    "cookie-based when it read a cookie for this request"."""

    backend: Backend
    name: str
    cookie_based: bool | None


def sources(backends: tuple[Any, ...], runner: HookRunner) -> tuple[Source, ...]:
    """The policy's backends, normalised: this package's run inline (their I/O goes through
    effects), any other one is a hook under the runner's deadline."""
    built = []
    for backend in backends:
        module = type(backend).__module__
        inline = module.startswith(_INLINE_PACKAGES) and module != _CUSTOM_MODULE
        source = backend if inline else HookedBackend(backend, runner)
        declared = getattr(source, "cookie_based", None)
        built.append(Source(source, source.name, declared if isinstance(declared, bool) else None))
    return tuple(built)


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


class Authenticator:
    """``yield from authenticator.authenticate(request)`` -> :class:`AuthResult`."""

    def __init__(self, sources: tuple[Source, ...], store: Store, loader: Hook | None, loader_ttl: float) -> None:
        self.sources = sources
        self.store = store
        self.loader = loader
        self.loader_ttl = loader_ttl
        self._loaded: TTLCache[_Loaded] = TTLCache(_CACHE_SIZE)

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
        others: list[Credential] | None = None  # further credentials naming the same subject
        store = self.store
        for source in self.sources:
            reads = request.cookie_reads
            mark = len(reads) if reads else 0
            try:
                result = source.backend.authenticate(request)
                if result is None:
                    continue
                if not isinstance(result, Credential):  # a flow: I/O before the answer
                    result = yield from result
                    if result is None:
                        continue
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
                    accepted, accepted_by = credential, source.name
                elif credential.identity.subject != accepted.identity.subject:
                    if failure is None:
                        failure, genuine = f"{source.name}: names another subject than {accepted_by}", True
                elif others is None:
                    others = [credential]
                else:
                    others.append(credential)
                if cookie_based:
                    declared = source.cookie_based
                    cookie_based = declared if declared is not None else len(request.cookie_reads or ()) > mark
            except AuthenticationError as exc:
                if failure is None:
                    failure, genuine = f"{source.name}: {exc.reason}", exc.genuine
            except AmbiguousCookieError as exc:
                failure = failure or f"{source.name}: {exc}"
            except ServiceUnavailableError:
                if failure is None:
                    raise
            except Exception as exc:  # a broken backend refuses, it never allows
                logger.error("backend %s failed: %s", source.name, type(exc).__name__)
                log_traceback(f"backend {source.name}", exc)
                failure = failure or f"{source.name}: backend error ({type(exc).__name__})"
            reads = request.cookie_reads
            if reads and len(reads) > mark:
                presented = reads[mark:] if presented is None else presented + reads[mark:]
        withheld = tuple(presented) if presented else ()
        if failure is not None:
            return AuthResult(invalid=failure, genuine=genuine, withheld=withheld)
        if accepted is None:
            return ANONYMOUS
        identity = accepted.identity
        if self.loader is not None:
            try:
                identity = yield from self._reload(identity, self.loader)
            except AuthenticationError as exc:
                return AuthResult(invalid=f"{accepted_by}: {exc.reason}", genuine=exc.genuine, withheld=withheld)
        return AuthResult(identity=identity, credential=accepted, cookie_based=cookie_based,
                          others=tuple(others) if others else ())

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
                log_traceback("identity loader", exc)
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

    def forget_user(self, subject: str | None = None) -> None:
        """Drop the identity loader's cache (for one subject, or all)."""
        if subject is None:
            self._loaded.clear()
        else:
            self._loaded.discard(subject)
