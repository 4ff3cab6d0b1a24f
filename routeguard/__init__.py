"""routeguard: default-deny access control for ASGI and WSGI apps, from one policy.

    from routeguard import ASGIGuard, Policy
    app = ASGIGuard(app, policy=Policy.from_toml("routeguard.toml"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # eager imports for type checkers; at run time names load on first use
    from .asgi import ASGIGuard
    from .backends.apikey import APIKeyBackend, hash_key, new_key
    from .backends.base import Backend
    from .backends.bearer import BearerBackend
    from .backends.jwks import JWKSKeys
    from .backends.server_session import ServerSessionBackend
    from .backends.session import SessionCookieBackend
    from .core.decision import Decision, Outcome
    from .core.engine import AuthResult, Engine
    from .core.identity import Credential, Identity
    from .core.request import RequestView
    from .core.responses import safe_next
    from .errors import (
        AuthenticationError,
        LogoutError,
        PatternError,
        PolicyError,
        RouteGuardError,
        ServiceUnavailableError,
    )
    from .policy.model import (
        APIKeyConfig,
        AuthConfig,
        BearerConfig,
        FirewallConfig,
        Policy,
        Rule,
        SessionConfig,
        StoreConfig,
    )
    from .runtime.signin import LoginResult, LogoutResult, alogin, alogin_failed, alogout, login, login_failed, logout
    from .wsgi import WSGIGuard

# Loaded lazily (PEP 562): importing routeguard, or its pytest plugin, costs almost nothing
# until a name is used.
_EXPORTS: dict[str, str] = {
    "alogin": ".runtime.signin",
    "alogin_failed": ".runtime.signin",
    "alogout": ".runtime.signin",
    "APIKeyBackend": ".backends.apikey",
    "APIKeyConfig": ".policy.model",
    "ASGIGuard": ".asgi",
    "AuthConfig": ".policy.model",
    "AuthenticationError": ".errors",
    "AuthResult": ".core.engine",
    "Backend": ".backends.base",
    "BearerBackend": ".backends.bearer",
    "BearerConfig": ".policy.model",
    "Credential": ".core.identity",
    "Decision": ".core.decision",
    "Engine": ".core.engine",
    "FirewallConfig": ".policy.model",
    "hash_key": ".backends.apikey",
    "Identity": ".core.identity",
    "JWKSKeys": ".backends.jwks",
    "login": ".runtime.signin",
    "login_failed": ".runtime.signin",
    "LoginResult": ".runtime.signin",
    "logout": ".runtime.signin",
    "LogoutError": ".errors",
    "LogoutResult": ".runtime.signin",
    "new_key": ".backends.apikey",
    "Outcome": ".core.decision",
    "PatternError": ".errors",
    "Policy": ".policy.model",
    "PolicyError": ".errors",
    "RequestView": ".core.request",
    "RouteGuardError": ".errors",
    "Rule": ".policy.model",
    "safe_next": ".core.responses",
    "ServerSessionBackend": ".backends.server_session",
    "ServiceUnavailableError": ".errors",
    "SessionConfig": ".policy.model",
    "SessionCookieBackend": ".backends.session",
    "StoreConfig": ".policy.model",
    "WSGIGuard": ".wsgi",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'routeguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "APIKeyBackend",
    "APIKeyConfig",
    "ASGIGuard",
    "AuthConfig",
    "AuthResult",
    "AuthenticationError",
    "Backend",
    "BearerBackend",
    "BearerConfig",
    "Credential",
    "Decision",
    "Engine",
    "FirewallConfig",
    "Identity",
    "JWKSKeys",
    "LoginResult",
    "LogoutError",
    "LogoutResult",
    "Outcome",
    "PatternError",
    "Policy",
    "PolicyError",
    "RequestView",
    "RouteGuardError",
    "Rule",
    "ServerSessionBackend",
    "ServiceUnavailableError",
    "SessionConfig",
    "SessionCookieBackend",
    "StoreConfig",
    "WSGIGuard",
    "__version__",
    "alogin",
    "alogin_failed",
    "alogout",
    "hash_key",
    "login",
    "login_failed",
    "logout",
    "new_key",
    "safe_next",
]
