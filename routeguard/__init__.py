"""routeguard: default-deny access control for ASGI and WSGI apps, from one policy.

    from routeguard import ASGIGuard, Policy
    app = ASGIGuard(app, policy=Policy.from_toml("routeguard.toml"))
"""

from __future__ import annotations

from .asgi import ASGIGuard
from .backends.apikey import APIKeyBackend, hash_key, new_key
from .backends.base import Backend, Credential
from .backends.bearer import BearerBackend
from .backends.jwks import JWKSKeys
from .backends.server_session import ServerSessionBackend
from .backends.session import SessionCookieBackend
from .config import (
    APIKeyConfig,
    AuthConfig,
    BearerConfig,
    FirewallConfig,
    Policy,
    Rule,
    SessionConfig,
    StoreConfig,
)
from .decision import Decision, Outcome
from .engine import AuthResult, Engine
from .errors import (
    AuthenticationError,
    PatternError,
    PolicyError,
    RouteGuardError,
    ServiceUnavailableError,
)
from .identity import Identity
from .login import LoginResult, LogoutResult, alogin, alogout, login, logout
from .request import RequestView
from .responses import safe_next
from .wsgi import WSGIGuard

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
    "alogout",
    "hash_key",
    "login",
    "logout",
    "new_key",
    "safe_next",
]
