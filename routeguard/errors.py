"""Exception types. A policy outcome is never an exception: these are for load and I/O failures."""

from __future__ import annotations


class RouteGuardError(Exception):
    """Base class of every error routeguard raises."""


class PolicyError(RouteGuardError, ValueError):
    """Raised when a policy is loaded or built: names the rule position, its path and the key."""


class PatternError(PolicyError):
    """Raised when a route glob pattern is malformed."""


class AuthenticationError(RouteGuardError):
    """Raised by a backend when presented credentials are invalid, expired, revoked or disabled."""

    def __init__(self, reason: str = "invalid credentials") -> None:
        super().__init__(reason)
        self.reason = reason


class ServiceUnavailableError(RouteGuardError):
    """Raised when a store, key server or hook needed for a decision fails or times out."""


class LogoutError(ServiceUnavailableError):
    """Raised by ``logout``/``alogout`` when the request carried a credential that could not be
    checked or revoked (the store failed): answer 503 and keep the client's cookie, because the
    server would still accept it."""
