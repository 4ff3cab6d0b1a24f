"""What the plain lane remembers between requests (issue 16): the public decision of a
(method, path) asked without credentials, whether a path is plain, and what a request's header
names tell it. Each answer remembered is the answer computed again: the same decision, counted
every time, and never given to a request that differs in what the first one was judged on
(a credential, a method override in a header or the query, another method)."""

from __future__ import annotations

import asyncio
import gc
import logging
import tracemalloc
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

import pytest

from routeguard import ASGIGuard, Policy, WSGIGuard
from routeguard.asgi import ScopeHeaders
from routeguard.runtime.cache import Memo
from routeguard.runtime.lane import Lane, plain_path
from routeguard.testing import asgi_scope, call_wsgi

from .support import JWT_SECRET, token

ADMIN = token("root", roles=("admin",))


def _policy() -> Policy:
    return Policy(
        login_url="/login",
        auth={"bearer": {"algorithms": ["HS256"], "secret": JWT_SECRET, "audience": "tests"}},
        rules=[
            {"path": "/login", "access": "public"},
            {"path": "/health", "methods": ["GET"], "access": "public"},
            {"path": "/static/**", "access": "public"},
            {"path": "/admin/**", "roles": ["admin"]},
        ],
    )


def _lane(guard: ASGIGuard) -> Lane:
    lane = guard.guard.lane
    assert lane is not None
    return lane


async def _ok(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _status(guard: ASGIGuard, method: str, target: str, headers: list[tuple[bytes, bytes]]) -> int:
    """The status of one request whose header list is sent exactly as given (any name case)."""
    scope = asgi_scope(method, target)
    scope["headers"] = headers
    scope["path"], scope["raw_path"] = target, target.encode("latin-1")
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    return int(sent[0]["status"])


def test_a_remembered_public_path_is_the_same_decision_counted_each_time() -> None:
    guard = ASGIGuard(_ok, policy=_policy())
    lane = _lane(guard)
    first = lane.decide("GET", "/health", None, "")
    again = lane.decide("GET", "/health", None, "")
    assert first is not None and first.rule is not None and first.rule.pattern == "/health"
    assert again is first
    assert guard.counters()[(first.rule.position, "allow", False)] == 2


@pytest.mark.parametrize(
    ("method", "headers", "query"),
    [
        pytest.param("POST", None, "", id="another-method"),  # the rule names GET only
        pytest.param("GET", None, "_method=DELETE", id="override-in-the-query"),
        pytest.param("GET", None, "%5Fmethod=DELETE", id="encoded-override-in-the-query"),
        pytest.param("GET", {"x-http-method-override": "DELETE"}, "", id="override-header"),
        pytest.param("GET", {"authorization": f"Bearer {ADMIN}"}, "", id="a-credential"),
    ],
)
def test_a_remembered_public_path_is_not_given_to_a_different_request(
        method: str, headers: dict[str, str] | None, query: str) -> None:
    guard = ASGIGuard(_ok, policy=_policy())
    lane = _lane(guard)
    anonymous = lane.decide("GET", "/health", None, "")
    assert anonymous is not None and anonymous.identity is None
    view = ScopeHeaders([(k.encode(), v.encode()) for k, v in headers.items()]) if headers else None
    other = lane.decide(method, "/health", view, query)
    # The pipeline decides these (None), or the lane with the credential's identity: never the
    # anonymous decision remembered for GET /health.
    assert other is not anonymous
    assert other is None or other.identity is not None


def test_the_remembered_public_paths_stay_bounded() -> None:
    guard = ASGIGuard(_ok, policy=_policy())
    lane = _lane(guard)
    positions = set()
    for n in range(6000):  # a client walking distinct public paths
        decision = lane.decide("GET", f"/static/f{n}", None, "")
        assert decision is not None and decision.rule is not None and decision.rule.pattern == "/static/**"
        positions.add(decision.rule.position)
    assert 0 < len(lane._public_paths) <= 4096
    (position,) = positions
    assert guard.counters()[(position, "allow", False)] == 6000


@pytest.mark.parametrize(
    ("path", "plain"),
    [("/health", True), ("/static/a.css", True), ("/", True), ("/a/../b", False), ("/a//b", False),
     ("/a/%2e", False), ("/./a", False), ("/a;b", False), ("", False)],
)
def test_plain_path_answers_the_same_when_asked_again(path: str, plain: bool) -> None:
    assert plain_path(path) is plain
    assert plain_path(path) is plain
    assert (plain_path.get(path) or False) is plain


def test_header_names_remembered_lower_case_do_not_answer_for_other_cases() -> None:
    """A header the lane watches, sent with an upper-case name, goes to the pipeline however
    often lower-case or upper-case name lists were seen before: the pipeline judges the method
    override (DELETE /health has no rule: refused) where the lane would have allowed a GET."""
    guard = ASGIGuard(_ok, policy=_policy())
    host = (b"host", b"testserver")
    assert _status(guard, "GET", "/health", [host]) == 200
    for _ in range(2):  # the second time from the remembered verdict
        assert _status(guard, "GET", "/health", [host, (b"X-HTTP-Method-Override", b"DELETE")]) == 401
        assert _status(guard, "GET", "/health", [host, (b"x-http-method-override", b"DELETE")]) == 401
        assert _status(guard, "GET", "/health", [(b"HOST", b"testserver")]) == 200  # the pipeline allows it
        assert _status(guard, "GET", "/admin/x", [host, (b"Authorization", f"Bearer {ADMIN}".encode())]) == 200
        assert _status(guard, "GET", "/admin/x", [host, (b"authorization", f"Bearer {ADMIN}".encode())]) == 200
        assert _status(guard, "GET", "/admin/x", [host]) == 401



def test_a_memo_computes_but_does_not_keep_what_keep_refuses() -> None:
    calls: list[str] = []

    def length(text: str) -> int:
        calls.append(text)
        return len(text)

    memo: Memo[str, int] = Memo(length, keep=lambda text: len(text) <= 3)
    assert [memo("abc"), memo("abc"), memo("abcd"), memo("abcd")] == [3, 3, 4, 4]
    assert calls == ["abc", "abcd", "abcd"]  # the long key is computed each time
    assert memo.get("abc") == 3 and memo.get("abcd") is None


def _retained(requests: Callable[[int], Iterable[int]]) -> int:
    """Bytes still allocated after ``requests(100)`` ran, once ``requests(1)`` loaded what the
    first requests load (werkzeug, on the first ``Accept`` header), logging off. Items: statuses."""
    set(requests(1))
    gc.collect()
    logging.disable(logging.CRITICAL)  # log records a test run captures are not the guard's
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        statuses = set(requests(100))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        logging.disable(logging.NOTSET)
    assert statuses >= {200, 401, 400}, statuses  # public, default deny, refused by the firewall
    return after - before


def test_long_client_input_is_computed_not_remembered_asgi() -> None:
    """Paths, ``Accept`` headers and header names are remembered only when short: 400 requests
    with distinct 16 KiB ones hold no memory once answered (each memo kept them all before)."""
    guard = ASGIGuard(_ok, policy=_policy())
    host = (b"host", b"testserver")

    def requests(count: int) -> Iterable[int]:
        for n in range(count):
            pad = f"{n:08d}" + "a" * 16384
            yield _status(guard, "GET", f"/static/{pad}", [host])
            yield _status(guard, "GET", f"/{pad}", [host, (b"accept", pad.encode())])
            yield _status(guard, "GET", f"/x/../{pad}", [host])
            yield _status(guard, "GET", "/static/x", [host, (f"x-{pad}".encode(), b"1")])

    assert _retained(requests) < 256 * 1024


def test_long_client_input_is_computed_not_remembered_wsgi() -> None:
    def ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]

    guard = WSGIGuard(ok, policy=_policy())

    def requests(count: int) -> Iterable[int]:
        for n in range(count):
            pad = f"{n:08d}" + "a" * 16384
            yield call_wsgi(guard, "GET", f"/static/{pad}").status
            yield call_wsgi(guard, "GET", f"/{pad}", {"Accept": pad}).status
            yield call_wsgi(guard, "GET", f"/x/../{pad}").status

    assert _retained(requests) < 256 * 1024
