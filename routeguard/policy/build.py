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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..backends.base import Backend
from ..core.identity import Identity
from ..core.responses import Responder, check_template
from ..core.rules import CompiledRule
from ..errors import PolicyError
from ..runtime.accept import prefers_html
from ..runtime.cache import PerObject
from ..stores import Store, open_store
from .resolve import env_secret, file_text, import_ref

if TYPE_CHECKING:
    from .model import Policy

__all__ = ["Runtime", "build", "responder", "runtime_for"]

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
            i: import_ref(rule.check, f"rule #{i + 1} ({rule.path!r}) check")
            for i, rule in enumerate(policy.rules)
            if rule.check is not None
        },
        backends=policy.auth.build(store),
        store=store,
        identity_loader=policy.auth.loader(),
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
