"""Refusals the clients expect: `[responses] format`, `next_param` and `html_template`.

Conformance-style: every refusal status the guard writes (401, 403, 404 with hide, 400, 429,
503) in every format, through both adapters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from routeguard import Policy, PolicyError

from .support import BROWSER, POLICY_TOML, bearer, sender, token

EXTRA = """
[throttle]
max_failures = 1

[responses]
{responses}
"""
LOADER = 'identity_loader = "tests.test_refusal_formats:loader"\n'


def loader(subject: str) -> dict[str, list[str]]:
    if subject == "down":
        raise ConnectionError("user database unreachable")
    return {}


def policy_text(responses: str = "") -> str:
    text = POLICY_TOML.replace("[auth.bearer]", "[auth]\n" + LOADER + "\n[auth.bearer]", 1)
    return text + EXTRA.format(responses=responses)


def refusal(send: Any, status: int, headers: dict[str, str] | None = None) -> Any:
    """Send the request that makes the guard answer ``status``."""
    headers = dict(headers or {})
    if status == 401:
        return send("GET", "/api/x", headers)
    if status == 403:
        return send("GET", "/admin/x", {**headers, **bearer(token("alice"))})
    if status == 404:
        return send("GET", "/secret/x", {**headers, **bearer(token("alice"))})
    if status == 400:
        return send("GET", "/api/%2e%2e/admin", headers)
    if status == 429:
        send("GET", "/api/x", {**headers, "Authorization": "Bearer forged.forged.forged"})
        return send("GET", "/api/x", {**headers, "Authorization": "Bearer forged.forged.forged"})
    if status == 503:
        return send("GET", "/api/x", {**headers, **bearer(token("down"))})
    raise AssertionError(status)


TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 400: "Bad Request",
          429: "Too Many Requests", 503: "Service Unavailable"}
STATUSES = [pytest.param(status, id=str(status)) for status in TITLES]


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize(
    ("responses", "content_type", "body"),
    [
        pytest.param("", "application/json", lambda s: {"error": TITLES[s]}, id="default"),
        pytest.param('format = "error"', "application/json", lambda s: {"error": TITLES[s]}, id="error"),
        pytest.param('format = "detail"', "application/json", lambda s: {"detail": TITLES[s]}, id="detail"),
        pytest.param('format = "problem"', "application/problem+json",
                     lambda s: {"type": "about:blank", "title": TITLES[s], "status": s}, id="problem"),
    ],
)
def test_api_refusal_in_each_format(kind: str, status: int, responses: Any, content_type: Any, body: Any) -> None:
    send = sender(kind, Policy.from_toml_string(policy_text(responses)))
    reply = refusal(send, status)
    assert reply.status == status
    assert reply.headers["content-type"] == content_type
    assert json.loads(reply.body) == body(status)
    assert int(reply.headers["content-length"]) == len(reply.body)
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["vary"] == "Accept"
    if status == 401:
        assert reply.headers["www-authenticate"] == "Bearer"
    if status == 429:
        assert int(reply.headers["retry-after"]) > 0


BRANDED = """<!doctype html><html><head><style>body{{color:#123}}</style>
<title>{{status}} {{title}} - Example</title></head>
<body class="brand"><h1>{{title}}</h1><p>Error {{status}}.</p></body></html>
"""


@pytest.mark.parametrize("status", [pytest.param(s, id=str(s)) for s in (403, 404, 400, 429, 503)])
@pytest.mark.parametrize("format", ["error", "problem"])
def test_browser_refusal_uses_the_template(kind: str, status: int, format: Any, tmp_path: Path) -> None:
    (tmp_path / "refused.html").write_text(BRANDED.format())
    text = policy_text(f'format = "{format}"\nhtml_template = "refused.html"')
    (tmp_path / "policy.toml").write_text(text)
    send = sender(kind, Policy.from_toml(tmp_path / "policy.toml"))
    reply = refusal(send, status, {"Accept": BROWSER})
    assert reply.status == status
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    page = reply.body.decode()
    assert f"<title>{status} {TITLES[status]} - Example</title>" in page
    assert f"<h1>{TITLES[status]}</h1><p>Error {status}.</p>" in page
    assert "body{color:#123}" in page  # CSS braces are not placeholders


def test_default_browser_page_is_unchanged(kind: str) -> None:
    send = sender(kind, Policy.from_toml_string(policy_text('format = "problem"')))
    reply = refusal(send, 403, {"Accept": BROWSER})
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert b"<h1>403 Forbidden</h1>" in reply.body


@pytest.mark.parametrize(
    ("responses", "param"),
    [
        pytest.param("", "next", id="default-next"),
        pytest.param('next_param = "return_to"', "return_to", id="return_to"),
        pytest.param('next_param = "redirect_uri"', "redirect_uri", id="redirect_uri"),
    ],
)
def test_login_redirect_parameter_name(kind: str, responses: Any, param: Any) -> None:
    send = sender(kind, Policy.from_toml_string(policy_text(responses)))
    reply = send("GET", "/api/x?a=1", {"Accept": BROWSER})
    assert reply.status == 302
    location = urlsplit(reply.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {param: ["/api/x?a=1"]}


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        pytest.param('format = "json"', "responses.format", id="unknown-format"),
        pytest.param('formt = "detail"', "unknown key 'formt' (did you mean 'format'?)", id="unknown-key"),
        pytest.param('next_param = "next&admin=1"', "responses.next_param", id="next-param-with-ampersand"),
        pytest.param('next_param = ""', "responses.next_param", id="next-param-empty"),
        pytest.param('html_template = "missing.html"', "html_template: cannot read", id="template-missing"),
        pytest.param('html_template = "typo.html"', "unknown placeholder '{titel}'", id="template-placeholder"),
    ],
)
def test_bad_responses_settings_are_load_errors(responses: Any, message: Any, tmp_path: Path) -> None:
    (tmp_path / "typo.html").write_text("<h1>{titel}</h1>")
    (tmp_path / "policy.toml").write_text(policy_text(responses))
    with pytest.raises(PolicyError, match=re.escape(message)):
        Policy.from_toml(tmp_path / "policy.toml")


def test_template_is_relative_to_the_policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "refused.html").write_text("<p>{status}</p>")
    (tmp_path / "policy.toml").write_text(policy_text('html_template = "pages/refused.html"'))
    monkeypatch.chdir("/")
    policy = Policy.from_toml(tmp_path / "policy.toml")
    reply = refusal(sender("asgi", policy), 403, {"Accept": BROWSER})
    assert reply.body == b"<p>403</p>"
