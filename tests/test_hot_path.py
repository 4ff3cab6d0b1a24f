"""Hot path (issue 16): the ASGI header view scans the scope's header list once per request,
and decides exactly as a per-lookup scan did (repeated headers joined, any name case)."""

from __future__ import annotations

from typing import Any

import pytest

from routeguard.asgi import ScopeHeaders

RAW = [
    (b"host", b"example.test"),
    (b"Authorization", b"Bearer abc"),
    (b"cookie", b"a=1"),
    (b"x-http-method-override", b"DELETE"),
    (b"COOKIE", b"b=2"),
    (b"accept", b"text/html"),
    (b"accept", b"application/json"),
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("authorization", "Bearer abc", id="mixed-case-raw-name"),
        pytest.param("Authorization", "Bearer abc", id="mixed-case-lookup"),
        pytest.param("cookie", "a=1; b=2", id="cookies-joined-with-semicolon"),
        pytest.param("accept", "text/html, application/json", id="others-joined-with-comma"),
        pytest.param("x-http-method-override", "DELETE", id="override-header"),
        pytest.param("x-method-override", None, id="absent"),
        pytest.param("x-unknown", None, id="absent-uncommon-name"),
    ],
)
def test_lookup(name: str, expected: str | None) -> None:
    assert ScopeHeaders(RAW).get(name) == expected


class _CountingList(list[tuple[bytes, bytes]]):
    scans = 0

    def __iter__(self) -> Any:
        type(self).scans += 1
        return super().__iter__()


def test_headers_are_scanned_once_for_many_lookups() -> None:
    raw = _CountingList(RAW)
    headers = ScopeHeaders(raw)
    headers.get("authorization")
    first = _CountingList.scans  # the C-level pass, and the slow one as RAW repeats ``cookie``
    for name in ("cookie", "x-http-method-override", "x-http-method", "x-method-override", "accept"):
        headers.get(name)
    assert _CountingList.scans == first <= 2


def test_mapping_view_decodes_every_header() -> None:
    headers = ScopeHeaders(RAW)
    assert dict(headers) == {
        "host": "example.test", "authorization": "Bearer abc", "cookie": "a=1; b=2",
        "x-http-method-override": "DELETE", "accept": "text/html, application/json",
    }
    with pytest.raises(KeyError):
        headers["x-missing"]


def owner_check(identity: object, params: object) -> bool:
    return False


@pytest.mark.parametrize(
    ("path", "token", "expected"),
    [
        pytest.param("/health", False, 200, id="public-anonymous"),
        pytest.param("/health", True, 200, id="public-with-token"),
        pytest.param("/api/x", True, 200, id="authenticated-rule"),
        pytest.param("/api/x", False, 401, id="authenticated-rule-anonymous"),
        pytest.param("/owned/x", True, 403, id="check-says-no"),
    ],
)
def test_guard_decides_with_and_without_a_check_hook(path: str, token: bool, expected: int) -> None:
    """Regression: the hooks step once read a rule attribute the compiled rule no longer has,
    so every request with a rule answered 503 (caught by benchmarks/e2e.py's wire check)."""
    import time

    import jwt

    from benchmarks.calls import bearer, http_scope, run_asgi_once
    from routeguard import ASGIGuard, Policy

    secret = "s" * 40

    async def app(scope: object, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    policy = Policy(auth={"bearer": {"algorithms": ["HS256"], "secret": secret}}, rules=[
        {"path": "/health", "access": "public"}, {"path": "/api/**"},
        {"path": "/owned/**", "check": "tests.test_hot_path:owner_check"},
    ])
    headers = bearer(jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, secret, algorithm="HS256")) if token else []
    status, _ = run_asgi_once(ASGIGuard(app, policy=policy), http_scope("GET", path, headers))
    assert status == expected
