"""Every exception routeguard raises, all under :class:`RouteGuardError`.

A policy outcome is never an exception: these are for load, input and I/O failures."""

from __future__ import annotations


class RouteGuardError(Exception):
    """Base class of every error routeguard raises."""


class PolicyError(RouteGuardError, ValueError):
    """Raised when a policy is loaded or built: names the rule position, its path and the key."""


class PatternError(PolicyError):
    """Raised when a route glob pattern is malformed."""


class AuthenticationError(RouteGuardError):
    """Raised by a backend when presented credentials are invalid, expired, revoked or disabled.

    ``genuine=True`` says the credential was issued by the app (its signature or key verified,
    or it is an unguessable session id) but is no longer valid: expired, revoked, logged out,
    a disabled user. Such an honest failure is answered 401 and never counts toward the
    failed-credential throttle; every other failure may be a guess and counts.
    """

    def __init__(self, reason: str = "invalid credentials", *, genuine: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.genuine = genuine


class ServiceUnavailableError(RouteGuardError):
    """Raised when a store, key server or hook needed for a decision fails or times out."""


class HookTimeoutError(ServiceUnavailableError):
    """Raised when a hook (loader, membership, check, custom backend) misses ``[hooks] timeout``."""


class AmbiguousCookieError(RouteGuardError):
    """Raised when a request carries one cookie several times with different values: frameworks
    disagree on which copy wins, so the guard trusts none (an invalid credential, never a pass)."""


class CredentialError(RouteGuardError, ValueError):
    """Raised when ``routeguard.testing`` cannot mint credentials for a policy (no usable
    backend or secret)."""


class AppImportError(RouteGuardError):
    """Raised when ``MODULE:APP`` cannot be imported or is not an app whose routes we can list."""


class ExplainInputError(RouteGuardError, ValueError):
    """Raised when a method or header given to ``explain`` is not valid."""


class UsageError(RouteGuardError):
    """Raised for bad command-line input; the CLI exits with status 2."""


class LogoutError(ServiceUnavailableError):
    """Raised by ``logout``/``alogout`` when the request carried a credential that could not be
    checked or revoked (the store failed): answer 503 and keep the client's cookie, because the
    server would still accept it."""
