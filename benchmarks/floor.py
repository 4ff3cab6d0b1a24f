"""A lower bound for any guard written in Python: the least work a request needs.

:class:`FloorASGI` and :class:`FloorWSGI` are reference rows, not products: they check the path
against the plain-path regex routeguard's firewall uses for its fast case, find the rule with
routeguard's own trie, look a bearer token up in a dict of already-verified tokens by SHA-256
digest, look its ``jti`` up in a revocation dict, check the role and count the decision.
Nothing else: no firewall slow path, no request view, no session or other backends, no
logging, CSRF, throttling, report mode or Starlette ``scope["auth"]``. Whatever such a guard
costs in front of an app, a real guard cannot cost less, so these rows show which targets are
reachable at all on the machine that runs the suite.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from typing import Any

import jwt

from routeguard import Policy
from routeguard.core.rules import Matcher

from .calls import ASGIApp, Scope, WSGIApp

_PLAIN = re.compile(r"/|(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?")
_JSON = [(b"content-type", b"application/json")]


class _Floor:
    def __init__(self, policy: Policy, secret: str) -> None:
        self.matcher = Matcher(policy.compiled_rules)
        self.secret = secret
        self.verified: dict[bytes, tuple[str, frozenset[str], str]] = {}  # digest -> subject, roles, jti
        self.revoked: dict[str, float] = {}
        self.counts: dict[tuple[int, int], int] = {}
        self.lock = threading.Lock()

    def decide(self, method: str, path: str, token: bytes | None) -> tuple[int, str | None]:
        """(status, subject): 200 to pass, else 400/401/403."""
        if not _PLAIN.fullmatch(path):
            return 400, None
        found = self.matcher.match(method, path)
        identity = None
        if token is not None:
            digest = hashlib.sha256(token).digest()
            identity = self.verified.get(digest)
            if identity is None:  # first sight: verify once (not timed: the token repeats)
                try:
                    claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["exp"]})
                except jwt.InvalidTokenError:
                    return 401, None
                identity = (claims["sub"], frozenset(claims.get("roles", ())), claims.get("jti", ""))
                self.verified[digest] = identity
            with self.lock:
                if identity[2] in self.revoked:
                    return 401, None
        if found is None or found[0].access != "public":
            if identity is None:
                return 401, None
            if found is None or (found[0].roles and found[0].roles.isdisjoint(identity[1])):
                return 403, None
        key = (found[0].index if found else -1, 200)
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
        return 200, identity[0] if identity else None


class FloorASGI(_Floor):
    """The minimal guard as ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, policy: Policy, secret: str) -> None:
        super().__init__(policy, secret)
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                token = value[7:]
        status, subject = self.decide(scope["method"], scope["path"], token)
        if status != 200:
            await send({"type": "http.response.start", "status": status, "headers": _JSON})
            await send({"type": "http.response.body", "body": b'{"error": "refused"}'})
            return
        scope["routeguard.identity"] = subject
        await self.app(scope, receive, send)


class FloorWSGI(_Floor):
    """The minimal guard as WSGI middleware (see the module docstring)."""

    def __init__(self, app: WSGIApp, policy: Policy, secret: str) -> None:
        super().__init__(policy, secret)
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION")
        token = header[7:].encode() if header and header[:7].lower() == "bearer " else None
        status, subject = self.decide(environ["REQUEST_METHOD"], environ["PATH_INFO"] or "/", token)
        if status != 200:
            start_response(f"{status} Refused", [("Content-Type", "application/json")])
            return [b'{"error": "refused"}']
        environ["routeguard.identity"] = subject
        return self.app(environ, start_response)
