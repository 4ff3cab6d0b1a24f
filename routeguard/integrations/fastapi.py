"""FastAPI: the guard's identity as a dependency, and the policy in the OpenAPI document.

    app.add_middleware(routeguard.ASGIGuard, policy=policy)

    @app.get("/api/me")
    def me(identity: Identity | None = Depends(current_identity)): ...

    @app.delete("/api/items/{item_id}", dependencies=[Depends(require(roles=["admin"]))])
    def delete_item(item_id: str): ...

    document(app, policy)   # after the routes are added: /docs shows what each route needs

The guard decides before FastAPI runs; ``require`` is for the rare route-level check a glob
rule cannot express (it answers as the guard would: 401 without an identity, else 403).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from starlette.requests import HTTPConnection  # FastAPI injects the request (or websocket) by this type

from ..core.identity import Identity
from ..core.rules import CompiledRule, Matcher
from ..policy.model import Policy

__all__ = ["BEARER_SCHEME", "current_identity", "document", "require"]

#: The name of the security scheme ``document`` adds (an http bearer scheme).
BEARER_SCHEME: Final = "bearer"
API_KEY_SCHEME: Final = "apiKey"
_METHODS: Final = frozenset(("get", "put", "post", "delete", "options", "head", "patch", "trace"))
_PARAM: Final = re.compile(r"\{[^}/]+\}")


def current_identity(request: HTTPConnection) -> Identity | None:
    """Dependency: the :class:`Identity` the guard established, or None (a public route)."""
    identity = request.scope.get("routeguard.identity")
    return identity if isinstance(identity, Identity) else None


def require(roles: Iterable[str] = (), permissions: Iterable[str] = ()) -> Callable[..., Identity]:
    """Dependency factory: the identity, which must hold one of ``roles`` (if any) and every
    one of ``permissions``; 401 (with ``WWW-Authenticate: Bearer``) without an identity, 403
    otherwise. ``Depends(require(roles=["admin"]))``."""
    wanted_roles = frozenset(roles)
    wanted_permissions = frozenset(permissions)

    def dependency(request: HTTPConnection) -> Identity:
        from fastapi import HTTPException

        identity = current_identity(request)
        if identity is None:
            raise HTTPException(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"})
        if (wanted_roles and not wanted_roles & identity.roles) or not wanted_permissions <= identity.permissions:
            raise HTTPException(403, "Forbidden")
        return identity

    return dependency


def _rule_for(matcher: Matcher, method: str, path: str) -> CompiledRule | None:
    # A path template's {param} (or {param:path}) stands for one segment the rule must accept.
    found = matcher.match(method, _PARAM.sub("{param}", path))
    return found[0] if found is not None else None


def _requirement(rule: CompiledRule | None) -> dict[str, Any]:
    if rule is None:
        return {"access": "deny"}  # default deny: no rule covers the operation
    info: dict[str, Any] = {"access": rule.access}
    if rule.roles:
        info["roles"] = sorted(rule.roles)
    if rule.permissions:
        info["permissions"] = sorted(rule.permissions)
    if rule.tenant:
        info["tenant"] = rule.tenant
    return info


def document(app: Any, policy: Policy) -> None:
    """Write the policy's requirements into ``app``'s OpenAPI document, per operation.

    Call it after the routes are added. Protected operations require the http bearer scheme
    (or the API-key header when the policy has one), with no anonymous alternative; public
    operations require none (``security: []``). Each operation also gets
    ``x-routeguard: {access, roles, permissions, tenant}`` (never the rule patterns), so ``/docs`` shows
    what a route needs and its "Authorize" button works with the bearer backend.
    """
    matcher = Matcher(policy.compiled_rules)
    api_key = policy.auth.api_key
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema  # type: ignore[no-any-return]
        schema: dict[str, Any] = original()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[BEARER_SCHEME] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        protected: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
        if api_key is not None:
            schemes[API_KEY_SCHEME] = {"type": "apiKey", "in": "header", "name": api_key.header}
            protected.append({API_KEY_SCHEME: []})
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method not in _METHODS or not isinstance(operation, dict):
                    continue
                rule = _rule_for(matcher, method.upper(), path)
                operation["security"] = [] if rule is not None and rule.access == "public" else list(protected)
                operation["x-routeguard"] = _requirement(rule)
        app.openapi_schema = schema
        return schema

    app.openapi_schema = None
    app.openapi = openapi
