"""Response building: Accept negotiation, safe `next`, headers and bodies."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from routeguard import RequestView, safe_next
from routeguard.core.decision import Decision, Outcome
from routeguard.core.responses import Responder
from routeguard.runtime.accept import prefers_html


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param("/dashboard", "/dashboard", id="plain"),
    pytest.param("/a/b?x=1&y=%2F", "/a/b?x=1&y=%2F", id="query-kept"),
    pytest.param("/caf%C3%A9", "/caf%C3%A9", id="encoded-utf8"),
    pytest.param("//evil.example", "/", id="protocol-relative"),
    pytest.param("/\\evil.example", "/", id="slash-backslash"),
    pytest.param("\\\\evil.example", "/", id="backslashes"),
    pytest.param("https://evil.example", "/", id="absolute"),
    pytest.param("https:evil.example", "/", id="scheme-no-slashes"),
    pytest.param("javascript:alert(1)", "/", id="javascript"),
    pytest.param("evil.example", "/", id="relative"),
    pytest.param("/%2F/evil.example", "/", id="encoded-slash-start"),
    pytest.param("/%5Cevil.example", "/", id="encoded-backslash-start"),
    pytest.param("/%252F%252Fevil", "/", id="double-encoded"),
    pytest.param("/a\r\nSet-Cookie:x", "/", id="crlf"),
    pytest.param("/a%0d%0aX:1", "/", id="encoded-crlf"),
    pytest.param("/a\tb", "/", id="tab"),
    pytest.param("/.//evil.example", "/", id="dot-then-double-slash"),
    pytest.param("/a//b", "/", id="inner-double-slash"),
    pytest.param("/a/../b", "/", id="dot-dot"),
    pytest.param("/%2e%2e/b", "/", id="encoded-dot-dot"),
    pytest.param("/a.b/c..d", "/a.b/c..d", id="dots-inside-names"),
    pytest.param("/ /evil", "/", id="space"),
    pytest.param("", "/", id="empty"),
    pytest.param(None, "/", id="none"),
    pytest.param("/" + "a" * 5000, "/", id="too-long"),
])
def test_safe_next(value: Any, expected: Any) -> None:
    assert safe_next(value) == expected


def test_safe_next_custom_default() -> None:
    assert safe_next("//x", default="/home") == "/home"
    assert safe_next("//x", default=None) is None


@pytest.mark.parametrize(("accept", "html"), [
    (None, False), ("", False), ("*/*", False), ("application/json", False), ("text/html", True),
    ("text/html;q=0.9, application/json;q=1", False), ("text/html, */*;q=0.1", True),
    ("application/xhtml+xml", False), ("garbage;;;q=x", False),
])
def test_prefers_html(accept: Any, html: Any) -> None:
    assert prefers_html(accept) is html


def render(outcome: Outcome, login_url: str | None = "/login", **view: Any) -> Any:
    view.setdefault("method", "GET")
    view.setdefault("path", "/x")
    decision = Decision(outcome, "test", invalid_credentials=view.pop("invalid", False))
    return Responder(login_url, prefers_html=prefers_html).render(decision, RequestView(**view))


@pytest.mark.parametrize(("outcome", "status"), [
    (Outcome.UNAUTHENTICATED, 401), (Outcome.FORBIDDEN, 403), (Outcome.NOT_FOUND, 404),
    (Outcome.BAD_REQUEST, 400), (Outcome.TOO_MANY_REQUESTS, 429), (Outcome.UNAVAILABLE, 503),
])
def test_every_response_has_cache_and_vary_headers(outcome: Any, status: int) -> None:
    for accept in ("application/json", "text/html"):
        response = render(outcome, headers={"accept": accept})
        headers = dict(response.headers)
        assert headers["cache-control"] == "no-store"
        assert headers["vary"] == "Accept"
        assert headers["x-content-type-options"] == "nosniff"
        if response.status != 302:
            assert response.status == status
            assert int(headers["content-length"]) == len(response.body)


def test_no_login_url_means_browsers_get_a_401_page() -> None:
    response = render(Outcome.UNAUTHENTICATED, login_url=None, headers={"accept": "text/html"})
    assert response.status == 401
    assert dict(response.headers)["content-type"].startswith("text/html")
    assert dict(response.headers)["www-authenticate"] == "Bearer"


def test_login_url_with_query_gets_next_appended() -> None:
    response = render(Outcome.UNAUTHENTICATED, login_url="/auth?provider=local", headers={"accept": "text/html"},
                      path="/x", query="a=1")
    location = urlsplit(dict(response.headers)["location"])
    assert parse_qs(location.query) == {"provider": ["local"], "next": ["/x?a=1"]}


def test_unsafe_next_is_dropped_not_redirected() -> None:
    # A relaxed firewall could let "//" through: the redirect must never point off-site.
    response = render(Outcome.UNAUTHENTICATED, headers={"accept": "text/html"}, path="//evil.example/x")
    assert dict(response.headers)["location"] == "/login"
    response = render(Outcome.UNAUTHENTICATED, headers={"accept": "text/html"}, path="/x", query="a=\r\n")
    assert dict(response.headers)["location"] == "/login"
