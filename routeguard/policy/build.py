"""The composition root: ``build(policy) -> Runtime``, the one place a validated policy becomes
running objects.

:class:`~routeguard.policy.model.Policy` only validates (no environment, file, import or store
in a validator). Building reads the secrets from the environment and the key and template files,
imports hooks, ownership checks and custom backends, instantiates the backends and opens the
store. ``Policy.from_toml`` builds eagerly (unless ``resolve_secrets=False``) and every guard
builds before it serves, so a missing secret is a :class:`PolicyError` at load, never a 503.

:func:`runtime_for` holds one runtime per policy object outside the frozen model (the load's
build is the one the guard runs, so a memory store is not opened twice); a copy of a policy is
another object and builds anew.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.apikey import APIKey, APIKeyBackend
from ..backends.base import Backend
from ..backends.bearer import BearerBackend, hmac_key, public_key
from ..backends.custom import as_backend
from ..backends.issuers import IssuerBearerBackend
from ..backends.jwks import JWKSKeys
from ..backends.keys import algorithm_family
from ..backends.server_session import ServerSessionBackend
from ..backends.session import SessionCookieBackend
from ..backends.signed_cookie import SignedCookieBackend
from ..core.identity import Identity
from ..core.responses import Responder, check_template
from ..core.rules import CompiledRule
from ..errors import PolicyError
from ..runtime.accept import prefers_html
from ..runtime.cache import PerObject
from ..stores import Store, open_store
from . import toml
from .auth import (
    INTEGRATION_SESSION_FORMATS,
    APIKeyConfig,
    APIKeyEntry,
    AuthConfig,
    BearerConfig,
    SessionConfig,
    SignedCookieConfig,
)
from .resolve import env_secret, file_text, import_ref

if TYPE_CHECKING:
    from .model import Policy

__all__ = ["Runtime", "build", "responder", "runtime_for", "session_secrets"]

_MAX_TEMPLATE = 65536


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a policy builds to run. It references no policy (see :func:`runtime_for`)."""

    rules: tuple[CompiledRule, ...]  # the one compiled-rule tuple: policy.compiled_rules itself
    checks: Mapping[int, Callable[..., Any]]  # rule index -> its imported ownership check
    backends: tuple[Backend, ...]
    store: Store
    identity_loader: Callable[[str], Any] | None
    tenant_membership: Callable[[Identity, str], Any] | None
    on_decision: Callable[[Any], Any] | None
    responder: Responder


def build(policy: Policy) -> Runtime:
    """Build ``policy``'s runtime (reads secrets and files, imports references, opens the store).

    Every failure is a :class:`PolicyError` naming the key. A fresh runtime on each call: the
    guard uses :func:`runtime_for`.
    """
    config = policy.store
    url = env_secret(config.url_env, "store.url_env") if config.url_env else config.url
    store = open_store(url, timeout=config.timeout, prefix=config.prefix, pool_size=config.pool_size)
    return Runtime(
        rules=policy.compiled_rules,
        checks={
            rule.index: import_ref(check, f"rule #{rule.position} ({rule.pattern!r}) check")
            for rule, check in policy.rule_checks()
        },
        backends=_auth_backends(policy.auth, store),
        store=store,
        identity_loader=_identity_loader(policy.auth),
        tenant_membership=_hook(policy.tenant_membership, "tenant_membership"),
        on_decision=_hook(policy.on_decision, "on_decision"),
        responder=responder(policy, _template(policy)),
    )


_RUNTIMES: PerObject[Runtime] = PerObject()


def runtime_for(policy: Policy) -> Runtime:
    """``policy``'s runtime, built on first use and then shared (by the load, the guard and the
    framework integrations that bind its backends)."""
    return _RUNTIMES.get(policy, lambda: build(policy))


def responder(policy: Policy, html_template: str | None = None) -> Responder:
    """The response builder of ``policy`` (``html_template``: the template's text, if any)."""
    responses = policy.responses
    return Responder(policy.login_url, prefers_html=prefers_html, format=responses.format,
                     next_param=responses.next_param, html_template=html_template)


def _template(policy: Policy) -> str | None:
    path = policy.responses.html_template
    if path is None:
        return None
    where = "responses.html_template"
    text = file_text(path, where)
    if len(text) > _MAX_TEMPLATE:
        raise PolicyError(f"{where}: html_template is {len(text)} characters; at most {_MAX_TEMPLATE}")
    try:
        return check_template(text)
    except ValueError as exc:
        raise PolicyError(f"{where}: {exc}") from None


def _hook(ref: Any, where: str) -> Callable[..., Any] | None:
    if ref is None:
        return None
    hook = import_ref(ref, where)
    if not callable(hook):
        raise PolicyError(f"{where}: {ref!r} is not callable")
    return hook  # type: ignore[no-any-return]


# -- backends --------------------------------------------------------------------------------

def _bearer_backend(config: BearerConfig) -> BearerBackend:
    """The backend, with its key read from the environment, a file or a JWKS URL."""
    where = "auth.bearer"
    family = algorithm_family(config.algorithms)
    key: Any = None
    resolver = None
    if config.secret_env:
        key = hmac_key(env_secret(config.secret_env, f"{where}.secret_env"), config.algorithms)
    elif config.secret is not None:
        key = hmac_key(config.secret.get_secret_value(), config.algorithms)
    elif config.jwks_url:
        resolver = JWKSKeys(config.jwks_url, family=family, min_refresh=config.jwks_min_refresh,
                            max_age=config.jwks_max_age, timeout=config.jwks_timeout)
    else:
        pem = config.public_key or file_text(config.public_key_file or Path(), f"{where}.public_key_file")
        key = public_key(pem, family)
    return BearerBackend(
        algorithms=config.algorithms,
        key=key,
        resolve_key=resolver,
        audience=config.audience,
        issuer=config.issuer,
        leeway=config.leeway,
        require_exp=config.require_exp,
        subject_claim=config.subject_claim,
        roles_claim=config.roles_claim,
        permissions_claim=config.permissions_claim,
        tenants_claim=config.tenants_claim,
        max_header_bytes=config.max_header_bytes,
        cookie=config.cookie,
        csrf_cookie=config.csrf_cookie,
        csrf_header=config.csrf_header,
        websocket_subprotocol=config.websocket_subprotocol,
        cache_size=config.cache_size,
        cache_bytes=config.cache_bytes,
    )


def session_secrets(config: SessionConfig) -> list[str]:
    """The session secrets from the environment (current first), empty when none is named."""
    where = "auth.session"
    if config.secret_env:
        current = env_secret(config.secret_env, f"{where}.secret_env")
    elif config.secret is not None:
        current = config.secret.get_secret_value()
    else:
        return []
    return [current, *(env_secret(env, f"{where}.fallback_secret_envs") for env in config.fallback_secret_envs)]


def _session_backend(config: SessionConfig, store: Store) -> Backend:
    """The backend, with its secrets read from the environment."""
    if config.format == "server":
        return ServerSessionBackend(store, cookie=config.cookie, idle_timeout=config.idle_timeout,
                                    max_age=config.max_age or 12 * 3600, secure=config.secure,
                                    same_site=config.same_site)
    if config.format in INTEGRATION_SESSION_FORMATS:
        factory = import_ref(INTEGRATION_SESSION_FORMATS[config.format], f"auth.session.format {config.format!r}")
        return factory(config, store)  # type: ignore[no-any-return]
    return SessionCookieBackend(
        format=config.format,  # type: ignore[arg-type]
        secrets=session_secrets(config),
        cookie=config.cookie,
        max_age=config.max_age,
        user_key=config.user_key,
        roles_key=config.roles_key,
        permissions_key=config.permissions_key,
        tenants_key=config.tenants_key,
    )


def _signed_cookie_backend(config: SignedCookieConfig) -> SignedCookieBackend:
    """The backend, with its secrets read from the environment."""
    where = "auth.signed_cookie"
    secrets = [env_secret(config.secret_env, f"{where}.secret_env")]
    secrets += [env_secret(env, f"{where}.fallback_secret_envs") for env in config.fallback_secret_envs]
    return SignedCookieBackend(
        cookie=config.cookie, secrets=secrets, salt=config.salt, serializer=config.serializer,
        max_age=config.max_age, key_derivation=config.key_derivation, digest=config.digest,
        subject=config.subject, roles=config.roles, permissions=config.permissions, tenants=config.tenants,
    )


def _api_key(entry: APIKeyEntry) -> APIKey:
    """The runtime entry."""
    return APIKey(entry.hash, Identity.of(entry.subject, entry.roles, entry.permissions, entry.tenants,
                                         backend="api_key"))


def _api_key_backend(config: APIKeyConfig) -> APIKeyBackend:
    """The backend, reading ``keys_file`` if any."""
    entries = list(config.keys)
    if config.keys_file is not None:
        where = "auth.api_key.keys_file"
        data = toml.parse(file_text(config.keys_file, where), where)
        unknown = set(data) - {"keys"}
        if unknown:
            raise PolicyError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        try:
            entries += [APIKeyEntry(**item) for item in data.get("keys", [])]
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"{where}: {exc}") from None
    return APIKeyBackend(header=config.header, keys=[_api_key(e) for e in entries])


def _auth_backends(config: AuthConfig, store: Store) -> tuple[Backend, ...]:
    """Instantiate the configured backends, in trial order."""
    built: list[Backend] = []
    for name in config.backend_order():
        if name == "custom":
            built += [as_backend(import_ref(ref, "auth.custom")) for ref in config.custom]
        elif name == "session" and config.session is not None:
            built.append(_session_backend(config.session, store))
        elif name == "bearer":
            bearers = [_bearer_backend(bearer) for bearer in config.bearers]
            built.append(IssuerBearerBackend(bearers) if isinstance(config.bearer, list) else bearers[0])
        elif name == "signed_cookie" and config.signed_cookie is not None:
            built.append(_signed_cookie_backend(config.signed_cookie))
        elif name == "api_key" and config.api_key is not None:
            built.append(_api_key_backend(config.api_key))
    return tuple(built)


def _identity_loader(config: AuthConfig) -> Callable[[str], Any] | None:
    """The identity loader callable, if configured."""
    if config.identity_loader is None:
        return None
    loader = import_ref(config.identity_loader, "auth.identity_loader")
    if not callable(loader) or inspect.isclass(loader):
        raise PolicyError("auth.identity_loader: must be a function taking the subject")
    return loader  # type: ignore[no-any-return]
