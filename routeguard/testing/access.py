"""Credentials for a policy, and ``assert_access``: a declared access matrix checked against a
running app. Public through :mod:`routeguard.testing`.

Credentials are minted from the policy's own ``[auth.bearer]`` or ``[auth.session]`` settings
(claim names, audience, issuer, cookie name, session keys), with the secret read from the
environment variable the policy names. Secrets and minted values never appear in messages.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Final

from ..core.identity import Identity
from ..errors import CredentialError
from ..policy.model import BearerConfig, Policy, SessionConfig

Headers = Mapping[str, str]
IdentitySpec = Identity | Mapping[str, str] | None
Expected = int | Collection[int]
Matrix = Mapping[tuple[str, str], Mapping[str, Expected]]

ANONYMOUS: Final = "anonymous"
AUTHENTICATED: Final = "authenticated"
API_ACCEPT: Final = "application/json"


def _secret(env: str | None, value: Any, where: str) -> str | None:
    if value is not None:
        return str(value.get_secret_value())
    if env is None:
        return None
    secret = os.environ.get(env)
    if not secret:
        raise CredentialError(f"{where}: environment variable {env!r} is not set")
    return secret


def _first(value: str | list[str] | None) -> str | None:
    return value[0] if isinstance(value, list) else value


def bearer_headers(config: BearerConfig, identity: Identity, *, key: Any = None, ttl: float = 300) -> dict[str, str]:
    """``Authorization: Bearer`` with a JWT the ``[auth.bearer]`` config accepts for ``identity``.

    HMAC keys come from ``secret_env``; for RS*/ES*/EdDSA pass the private ``key``.
    """
    import jwt

    signing = key if key is not None else _secret(config.secret_env, config.secret, "auth.bearer")
    if signing is None:
        raise CredentialError("auth.bearer: pass key= (the private key) to mint tokens for a public-key policy")
    now = int(time.time())
    claims: dict[str, Any] = {config.subject_claim: identity.subject, "iat": now, "exp": now + int(ttl),
                              config.roles_claim: sorted(identity.roles),
                              config.tenants_claim: sorted(identity.tenants)}
    permissions = sorted(identity.permissions)
    claims[config.permissions_claim] = " ".join(permissions) if config.permissions_claim == "scope" else permissions
    for claim, value in (("aud", _first(config.audience)), ("iss", _first(config.issuer))):
        if value is not None:
            claims[claim] = value
    token = jwt.encode(claims, signing, algorithm=config.algorithms[0])
    return {"Authorization": f"Bearer {token}"}


def session_headers(config: SessionConfig, identity: Identity) -> dict[str, str]:
    """``Cookie`` with a signed session the ``[auth.session]`` config accepts for ``identity``."""
    from . import session_cookie

    if config.format in ("server", "django", "litestar", "pyramid"):
        raise CredentialError(f"auth.session: cannot mint {config.format!r} sessions; log in through the app")
    secret = _secret(config.secret_env, config.secret, "auth.session")
    fmt = "flask" if config.format == "flask-login" else config.format
    user_key = "_user_id" if config.format == "flask-login" else config.user_key
    data = {user_key: identity.subject, config.roles_key: sorted(identity.roles),
            config.tenants_key: sorted(identity.tenants), config.permissions_key: sorted(identity.permissions)}
    return {"Cookie": f"{config.cookie}={session_cookie(secret or '', data, format=fmt)}"}


def credentials(policy: Policy, identity: Identity | None, *, backend: str | None = None, key: Any = None,
                ttl: float = 300) -> dict[str, str]:
    """Request headers that make ``policy`` authenticate ``identity`` (``{}`` for None).

    Uses the first configured backend that can mint (bearer, then session, in the policy's
    order), or ``backend="bearer"``/``"session"``.
    """
    if identity is None:
        return {}
    auth = policy.auth
    names = [backend] if backend else auth.backend_order()
    for name in names:
        if name == "bearer" and auth.bearers:
            config = auth.bearers[0]
            if key is None and config.secret_env is None and config.secret is None and not backend:
                continue
            return bearer_headers(config, identity, key=key, ttl=ttl)
        if name == "session" and auth.session is not None and (backend or auth.session.format != "server"):
            return session_headers(auth.session, identity)
    wanted = f"a {backend!r} backend" if backend else "a bearer (HMAC) or signed-cookie session backend"
    raise CredentialError(f"cannot mint credentials: the policy has no {wanted}; pass headers instead")


class Credentials:
    """Mint request headers for one policy: ``creds("alice", roles=["admin"])``,
    ``creds.named("admin")`` (see :func:`identity_named`), ``creds.anonymous`` (``{}``)."""

    def __init__(self, policy: Policy, *, backend: str | None = None, key: Any = None) -> None:
        self.policy = policy
        self.backend = backend
        self.key = key

    def __call__(self, subject: str = "test-user", *, roles: Iterable[str] = (), tenants: Iterable[str] = (),
                 permissions: Iterable[str] = (), backend: str | None = None) -> dict[str, str]:
        identity = Identity.of(subject, roles=roles, tenants=tenants, permissions=permissions)
        return credentials(self.policy, identity, backend=backend or self.backend, key=self.key)

    @property
    def anonymous(self) -> dict[str, str]:
        """No credentials at all."""
        return {}

    def named(self, name: str) -> dict[str, str]:
        """Headers for a matrix column name (``anonymous``, ``authenticated`` or a role)."""
        return credentials(self.policy, identity_named(name), backend=self.backend, key=self.key)


def identity_named(name: str) -> Identity | None:
    """The identity a matrix column name stands for: ``anonymous`` is None, ``authenticated``
    a subject with no roles, any other name a subject holding the role of that name."""
    if name == ANONYMOUS:
        return None
    if name == AUTHENTICATED:
        return Identity.of("test-authenticated")
    return Identity.of(f"test-{name}", roles=[name])


def find_policy(app: Any) -> Policy | None:
    """The policy of the ASGIGuard/WSGIGuard in front of ``app`` (searched through ``.app``,
    Flask's ``wsgi_app`` and Starlette's ``user_middleware``), or None."""
    seen: set[int] = set()
    stack = [app]
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen or len(seen) > 64:
            continue
        seen.add(id(obj))
        policy = getattr(obj, "policy", None)
        if isinstance(policy, Policy):
            return policy
        for middleware in getattr(obj, "user_middleware", None) or ():
            found = (getattr(middleware, "kwargs", None) or {}).get("policy")
            if isinstance(found, Policy):
                return found
        stack += [getattr(obj, "wsgi_app", None), getattr(obj, "app", None)]
    return None


def detect_adapter(app: Any) -> str:
    """``"wsgi"`` for Flask and plain WSGI callables, ``"asgi"`` for coroutine apps."""
    if hasattr(app, "wsgi_app"):
        return "wsgi"
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else type(app).__call__
    return "asgi" if inspect.iscoroutinefunction(call) else "wsgi"


def _expected_text(expected: Expected) -> str:
    return str(expected) if isinstance(expected, int) else " or ".join(str(e) for e in sorted(expected))


def _ok(expected: Expected, status: int) -> bool:
    return status == expected if isinstance(expected, int) else status in expected


def _hint(policy: Policy | None, method: str, path: str, identity: IdentitySpec) -> str:
    if policy is None or not (identity is None or isinstance(identity, Identity)):
        return ""
    from ..tools.explain import explain

    try:
        result = explain(policy, method, path, identity=identity)
    except ValueError:
        return ""
    rule = result.route.rule if result.route is not None else None
    where = f"rule #{rule.position} {rule.pattern!r}" if rule else ("firewall" if result.firewall else "default deny")
    return f" [policy: {where} -> {result.decision.outcome.value}: {result.decision.reason}]"


def assert_access(
    app: Callable[..., Any],
    expected: Matrix,
    *,
    policy: Policy | None = None,
    identities: Mapping[str, IdentitySpec] | None = None,
    adapter: str | None = None,
    headers: Headers | None = None,
    backend: str | None = None,
) -> None:
    """Send every cell of ``expected`` to ``app`` and raise one AssertionError listing every
    mismatching cell::

        assert_access(app, {("GET", "/admin"): {"anonymous": 401, "user": 403, "admin": 200}})

    Columns are identity names: a key of ``identities`` (an :class:`Identity`, whose
    credentials are minted for ``policy``, or a ready mapping of headers), else ``anonymous``,
    ``authenticated`` or a role name (see :func:`identity_named`). ``policy`` defaults to the
    guard's own, found on ``app``. Requests are API requests (``Accept: application/json``)
    unless ``headers`` says otherwise. A cell expects one status or a collection of them.
    """
    from . import call_asgi, call_wsgi

    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    policy = policy or find_policy(app)
    kind = adapter or detect_adapter(app)
    if kind not in ("asgi", "wsgi"):
        raise ValueError(f"adapter must be 'asgi' or 'wsgi', not {kind!r}")
    send = call_asgi if kind == "asgi" else call_wsgi
    table = dict(identities or {})
    minted: dict[str, dict[str, str]] = {}
    failures: list[str] = []
    total = 0
    for (method, path), row in expected.items():
        for name, want in row.items():
            total += 1
            spec: IdentitySpec = table[name] if name in table else identity_named(name)
            if name not in minted:
                if spec is None or isinstance(spec, Identity):
                    if spec is not None and policy is None:
                        raise CredentialError(f"column {name!r}: pass policy= (no guard found on the app)")
                    minted[name] = credentials(policy, spec, backend=backend) if policy and spec else {}
                else:
                    minted[name] = dict(spec)
            request_headers = {"Accept": API_ACCEPT, **(headers or {}), **minted[name]}
            reply = send(app, method.upper(), path, request_headers)
            if not _ok(want, reply.status):
                failures.append(f"  {method.upper()} {path} as {name}: expected {_expected_text(want)}, "
                                f"got {reply.status}{_hint(policy, method.upper(), path, spec)}")
    if failures:
        raise AssertionError(f"{len(failures)} of {total} access checks failed ({kind}):\n" + "\n".join(failures))

