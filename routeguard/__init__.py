"""routeguard: default-deny access control for ASGI and WSGI apps, from one policy.

    from routeguard import ASGIGuard, Policy
    app = ASGIGuard(app, policy=Policy.from_toml("routeguard.toml"))
"""

from __future__ import annotations

from .asgi import ASGIGuard
from .backends.base import Backend, Credential
from .backends.bearer import BearerBackend
from .backends.session import SessionCookieBackend
from .config import AuthConfig, BearerConfig, FirewallConfig, Policy, Rule, SessionConfig
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
from .request import RequestView
from .responses import safe_next
from .wsgi import WSGIGuard

__version__ = "0.1.0"

__all__ = [
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
    "Outcome",
    "PatternError",
    "Policy",
    "PolicyError",
    "RequestView",
    "RouteGuardError",
    "Rule",
    "ServiceUnavailableError",
    "SessionConfig",
    "SessionCookieBackend",
    "WSGIGuard",
    "__version__",
    "safe_next",
]
