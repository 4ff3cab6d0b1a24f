"""Custom backends and an identity loader, importable by TOML policies in the tests."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from routeguard import AuthenticationError, Identity, RequestView

USERS = {"alice": {"roles": ["user"], "tenants": ["acme"]}, "root": {"roles": ["admin"]}}
CALLS: list[str] = []


class HeaderBackend:
    """X-Demo-User: <name>:<signature> (a stand-in for an HMAC-signed internal header)."""

    name = "demo-header"

    def authenticate(self, request: RequestView) -> Identity | None:
        value = request.headers.get("x-demo-user")
        if value is None:
            return None
        user, _, signature = value.partition(":")
        if not hmac.compare_digest(signature, f"sig-{user}"):
            raise AuthenticationError("bad signature")
        return Identity.of(user, roles=USERS.get(user, {}).get("roles", ()))


class AsyncBackend:
    name = "async-demo"

    async def authenticate(self, request: RequestView) -> Identity | None:
        await asyncio.sleep(0)
        token = request.headers.get("x-async-token")
        if token is None:
            return None
        if token == "crash":
            raise RuntimeError("backend exploded")
        if token != "good":
            raise AuthenticationError("unknown token")
        return Identity.of("async-user", roles=["user"])


def function_backend(request: RequestView) -> Identity | None:
    return Identity.of("fn-user") if request.headers.get("x-fn") == "yes" else None


def load_user(subject: str) -> Any:
    CALLS.append(subject)
    return USERS.get(subject)


async def aload_user(subject: str) -> Any:
    CALLS.append(subject)
    await asyncio.sleep(0)
    return USERS.get(subject)


def broken_loader(subject: str) -> None:
    raise ConnectionError("database down")


MEMBERSHIPS = {("alice", "initech"), ("alice", "hooli")}
MEMBER_CALLS: list[tuple[str, str]] = []


def is_member(identity: Identity, tenant: str) -> bool:
    MEMBER_CALLS.append((identity.subject, tenant))
    return (identity.subject, tenant) in MEMBERSHIPS


async def ais_member(identity: Identity, tenant: str) -> bool:
    await asyncio.sleep(0)
    return is_member(identity, tenant)


DOCUMENTS = {"1": "alice", "2": "bob"}


def owns_document(identity: Identity, params: dict[str, str]) -> bool:
    if params["doc_id"] == "boom":
        raise LookupError("database said no")
    return DOCUMENTS.get(params["doc_id"]) == identity.subject


async def aowns_document(identity: Identity, params: dict[str, str]) -> bool:
    await asyncio.sleep(0)
    return owns_document(identity, params)


EVENTS: list[Any] = []


def collect(event: Any) -> None:
    EVENTS.append(event)
