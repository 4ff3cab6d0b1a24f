"""RG-2026-34 and RG-2026-35: found by an attack review of the plain lane before release.

RG-2026-34 (high): the bearer backend cached tokens from the ``Authorization`` header, a cookie
and a websocket subprotocol in one key space (the header value, or the bare token). The lane's
``quick`` looked a raw ``Authorization`` value up there: ``Authorization: <jwt>`` without a
scheme (no bearer credential: 401) was admitted once the token had been seen as a cookie or a
subprotocol, even as another subject than the pipeline judged; and a cookie holding a whole
``Bearer <jwt>`` header was accepted once that header had been verified. Header entries are now
keyed on the header string, every other token on a tuple: they never answer for each other.

RG-2026-35 (medium): every anonymous ASGI request shared one ``AuthCredentials()`` with a
mutable ``scopes`` list: an app appending to it for one anonymous request granted that scope to
every later one (Starlette's ``@requires``). It is read-only now, as the per-role-set ones are.

Each test states the request, what the pipeline answers, and checks that the guard answers
that, lane or not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from routeguard import ASGIGuard, Policy, WSGIGuard
from routeguard.core.decision import Outcome
from routeguard.core.request import RequestView
from routeguard.runtime.effects import run_sync
from routeguard.testing import asgi_scope, call_asgi, call_wsgi, mint_token

SECRET = "s" * 40

# A bearer backend that also reads its token from a cookie and from a websocket subprotocol:
# all three verified tokens land in the backend's one cache.
TOKEN_COOKIE_POLICY = """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_LANE_ATTACK_SECRET"
cookie = "access_token"
websocket_subprotocol = true

[[rules]]
path = "/admin/**"
roles = ["admin"]

[[rules]]
path = "/api/**"
"""


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Policy]:
    monkeypatch.setenv("RG_LANE_ATTACK_SECRET", SECRET)
    yield Policy.from_toml_string(TOKEN_COOKIE_POLICY)


def _asgi_app() -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        identity = scope.get("routeguard.identity")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": (identity.subject if identity else "-").encode()})

    return app


def _wsgi_app(environ: Any, start_response: Any) -> Any:
    identity = environ.get("routeguard.identity")
    start_response("200 OK", [])
    return [(identity.subject if identity else "-").encode()]


def _guarded(kind: str, policy: Policy) -> tuple[Any, Any]:
    if kind == "asgi":
        return ASGIGuard(_asgi_app(), policy=policy), call_asgi
    return WSGIGuard(_wsgi_app, policy=policy), call_wsgi


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_34_a_raw_token_in_authorization_is_not_taken_from_the_cookie_cache(policy: Policy, kind: str) -> None:
    """``Authorization: <jwt>`` (no ``Bearer`` scheme) is no bearer credential: the
    pipeline answers 401. Once the same token was verified from the ``access_token`` cookie, the
    bearer cache holds it under the bare token, and ``BearerBackend.quick`` looks the raw
    Authorization value up in that same cache: the lane lets the request in as the token's user."""
    guarded, call = _guarded(kind, policy)
    jwt = mint_token(SECRET, subject="alice")
    assert call(guarded, "GET", "/api/x", {"Authorization": jwt}).status == 401  # cold: the pipeline
    assert call(guarded, "GET", "/api/x", {"Cookie": f"access_token={jwt}"}).status == 200  # caches the token
    lane = guarded.guard.lane
    guarded.guard.lane = None
    assert call(guarded, "GET", "/api/x", {"Authorization": jwt}).status == 401  # the pipeline, warm
    guarded.guard.lane = lane
    reply = call(guarded, "GET", "/api/x", {"Authorization": jwt})
    assert reply.status == 401, f"lane admitted {reply.body!r}"


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_34_the_lane_judges_the_identity_the_pipeline_judges(policy: Policy, kind: str) -> None:
    """the lane admits another identity than the pipeline judges.

    ``Authorization: <alice's jwt, no scheme>`` + ``Cookie: access_token=<bob's jwt>`` on an
    admin route. The pipeline ignores the scheme-less header and judges bob (403). With alice's
    token once seen as a cookie, the lane admits the request as alice (200)."""
    guarded, call = _guarded(kind, policy)
    alice = mint_token(SECRET, subject="alice", roles=["admin"])
    bob = mint_token(SECRET, subject="bob", roles=["user"])
    assert call(guarded, "GET", "/api/x", {"Cookie": f"access_token={alice}"}).status == 200
    assert call(guarded, "GET", "/api/x", {"Cookie": f"access_token={bob}"}).status == 200
    headers = {"Authorization": alice, "Cookie": f"access_token={bob}"}
    lane = guarded.guard.lane
    guarded.guard.lane = None
    assert call(guarded, "GET", "/admin/x", headers).status == 403  # the pipeline: bob, not an admin
    guarded.guard.lane = lane
    reply = call(guarded, "GET", "/admin/x", headers)
    assert reply.status == 403, f"lane admitted {reply.body!r}"


def test_rg_2026_34_a_raw_token_in_authorization_is_not_taken_from_the_subprotocol_cache(policy: Policy) -> None:
    """a token offered as ``Sec-WebSocket-Protocol: bearer, <jwt>`` is
    cached under the bare token; a later HTTP request with ``Authorization: <jwt>`` (no scheme)
    is admitted by the lane, where the pipeline answers 401."""
    guarded = ASGIGuard(_asgi_app(), policy=policy)
    jwt = mint_token(SECRET, subject="carol")
    scope = asgi_scope("GET", "/api/ws", {"Sec-WebSocket-Protocol": f"bearer, {jwt}"}, kind="websocket")
    scope["subprotocols"] = ["bearer", jwt]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    async def ws_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})

    ws_guarded = ASGIGuard(ws_app, policy=policy)  # the same policy: one guard, one bearer cache
    asyncio.run(ws_guarded(scope, receive, send))
    assert sent and sent[0]["type"] == "websocket.accept"
    lane = guarded.guard.lane
    guarded.guard.lane = None
    assert call_asgi(guarded, "GET", "/api/x", {"Authorization": jwt}).status == 401  # the pipeline
    guarded.guard.lane = lane
    reply = call_asgi(guarded, "GET", "/api/x", {"Authorization": jwt})
    assert reply.status == 401, f"lane admitted {reply.body!r}"


def test_rg_2026_34_a_token_cookie_holding_a_whole_authorization_header_is_refused_warm_as_cold(policy: Policy) -> None:
    """``Cookie: access_token=Bearer
    <jwt>`` is a malformed token (401, "malformed token") until that exact ``Bearer <jwt>``
    header was verified once; from then on the cookie lookup hits the header's cache entry and
    the malformed cookie is accepted. The answer must not depend on what was cached."""
    from routeguard.runtime.guard import Guard

    guard = Guard.for_policy(policy)
    jwt = mint_token(SECRET, subject="dave")
    cookie = {"cookie": f"access_token=Bearer {jwt}"}
    cold = run_sync(guard.evaluate(RequestView("GET", "/api/x", "/api/x", "", cookie)))
    assert cold.outcome is Outcome.UNAUTHENTICATED
    header = {"authorization": f"Bearer {jwt}"}
    assert run_sync(guard.evaluate(RequestView("GET", "/api/x", "/api/x", "", header))).outcome is Outcome.ALLOW
    warm = run_sync(guard.evaluate(RequestView("GET", "/api/x", "/api/x", "", cookie)))
    assert warm.outcome is cold.outcome, (cold.reason, warm.reason)


def test_rg_2026_35_anonymous_request_auth_is_read_only_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every anonymous request shares one plain ``AuthCredentials()`` whose ``scopes``
    is a mutable list. An app (or a middleware inside it) that appends to it for one anonymous
    request hands that scope to every later anonymous request, and Starlette's ``@requires``
    then passes for them."""
    monkeypatch.setenv("RG_LANE_ATTACK_SECRET", SECRET)
    policy = Policy.from_toml_string(TOKEN_COOKIE_POLICY + '\n[[rules]]\npath = "/pub/**"\naccess = "public"\n')
    seen: list[tuple[str, ...]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        auth = scope["auth"]
        seen.append(tuple(auth.scopes))
        with contextlib.suppress(AttributeError):  # read-only is fine; leaking is not
            auth.scopes.append("admin")  # a careless app; must not reach the next request
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guarded = ASGIGuard(app, policy=policy)
    for _ in range(2):
        assert call_asgi(guarded, "GET", "/pub/a").status == 204
    assert seen[1] == (), f"the second anonymous request got scopes {seen[1]}"
