"""The strict request firewall: every class, raw and decoded, and relaxing one at a time."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from routeguard.core.firewall import CLASSES, Firewall
from routeguard.errors import PolicyError


def check(raw: str, firewall: Firewall | None = None, path: str | None = None) -> str | None:
    """Judge a raw target the way uvicorn hands it over (decoded path beside the raw one)."""
    raw_path = raw.partition("?")[0]
    return (firewall or Firewall()).check(raw_path, unquote(raw_path) if path is None else path)


@pytest.mark.parametrize(("raw", "violation"), [
    pytest.param("*", "non_origin_form", id="asterisk-form"),
    pytest.param("/a%00.css", "control_character", id="encoded-nul"),
    pytest.param("/health%0a", "control_character", id="encoded-lf"),
    pytest.param("/a%7f", "control_character", id="encoded-del"),
    pytest.param("/a\x01b", "control_character", id="raw-control"),
    pytest.param("/a%c2%85b", "control_character", id="c1-control-nel"),
    pytest.param("/a%zz", "malformed_encoding", id="bad-escape"),
    pytest.param("/a%4", "malformed_encoding", id="truncated-escape"),
    pytest.param("/public/%ff.css", "invalid_utf8", id="invalid-utf8"),
    pytest.param("/a%c0%af", "invalid_utf8", id="overlong-slash"),
    pytest.param("/public/%252e%252e/admin", "double_encoding", id="double-dot"),
    pytest.param("/a%252fb", "double_encoding", id="double-slash"),
    pytest.param("/public/..%2fadmin", "encoded_slash", id="encoded-slash"),
    pytest.param("/public/x%2F..%2F..%2Fadmin", "encoded_slash", id="encoded-slash-upper"),
    pytest.param("/a%5cb", "encoded_slash", id="encoded-backslash"),
    pytest.param("/a\\b", "backslash", id="backslash"),
    pytest.param("//admin/users", "empty_segment", id="leading-double-slash"),
    pytest.param("/admin//users", "empty_segment", id="inner-double-slash"),
    pytest.param("/public/../admin", "dot_segment", id="dot-dot"),
    pytest.param("/public/./x", "dot_segment", id="dot"),
    pytest.param("/public/%2e%2e/admin", "dot_segment", id="encoded-dot-dot"),
    pytest.param("/public/.%2E/admin", "dot_segment", id="mixed-dot-dot"),
    pytest.param("/public/..", "dot_segment", id="trailing-dot-dot"),
    pytest.param("/admin;jsessionid=1/users", "semicolon", id="semicolon"),
    pytest.param("/public/..;/admin", "dot_segment", id="tomcat-dot-dot-semicolon"),
    pytest.param("/admin%3bx", "semicolon", id="encoded-semicolon"),
])
def test_rejected_classes(raw: Any, violation: Any) -> None:
    assert check(raw) == violation


@pytest.mark.parametrize("raw", [
    "/", "/health", "/public/app.css", "/a/b/", "/.well-known/openid-configuration",
    "/files/r%C3%A9sum%C3%A9.pdf", "/a-b_c~d", "/a%20b", "/a..b", "/...", "/v1.2/x",
    "/public/x?next=/admin/../..//x;y%00",
])
def test_plain_paths_pass(raw: Any) -> None:
    assert check(raw) is None


def test_query_string_is_never_examined() -> None:
    assert Firewall().check("/search", "/search") is None  # the adapters never pass the query


def test_without_raw_target_the_decoded_path_is_still_checked() -> None:
    firewall = Firewall()
    assert firewall.check(None, "/public/../admin") == "dot_segment"
    assert firewall.check(None, "/a;b") == "semicolon"
    assert firewall.check(None, "/a\x00") == "control_character"
    assert firewall.check(None, "/a%2e") == "double_encoding"
    assert firewall.check(None, "/ok") is None


def test_absolute_form_mapped_by_the_server_is_judged_by_its_path() -> None:
    assert Firewall().check("http://example.com/admin", "/admin") is None
    assert Firewall().check("http://example.com/a/../admin", "/a/../admin") == "dot_segment"
    assert Firewall().check("http://example.com/a%2fb", "/a/b") == "encoded_slash"


def test_undecoded_absolute_form_is_rejected() -> None:
    # A server that leaves "http://host/x" in the path (h11 under uvicorn does) -> not origin-form.
    assert Firewall().check("http://evil/admin", "http://evil/admin") == "non_origin_form"


def test_path_error_from_adapter_is_reported() -> None:
    assert Firewall().check(None, "/x\ufffd", "invalid_utf8") == "invalid_utf8"
    assert Firewall(relax=["invalid_utf8"]).check(None, "/x\ufffd", "invalid_utf8") is None


@pytest.mark.parametrize(("relax", "raw", "after"), [
    pytest.param("semicolon", "/admin;jsessionid=1/users", None, id="semicolon"),
    pytest.param("encoded_slash", "/files/a%2Fb", None, id="encoded-slash"),
    pytest.param("encoded_slash", "/public/..%2fadmin", "dot_segment", id="encoded-slash-keeps-dots"),
    pytest.param("empty_segment", "/a//b", None, id="empty-segment"),
    pytest.param("dot_segment", "/a/./b", None, id="dot-segment"),
    pytest.param("double_encoding", "/a%2520b", None, id="double-encoding"),
    pytest.param("backslash", "/a\\b", None, id="backslash"),
    pytest.param("control_character", "/a%0a", None, id="control"),
    pytest.param("malformed_encoding", "/a%zz", None, id="malformed"),
    pytest.param("semicolon", "/public/..;/admin", "dot_segment", id="one-class-only"),
])
def test_relaxing_one_class(relax: Any, raw: Any, after: Any) -> None:
    assert check(raw) is not None
    assert check(raw, Firewall(relax=[relax])) == after


def test_every_class_is_reachable_and_named() -> None:
    assert len(set(CLASSES)) == len(CLASSES) == 10


def test_unknown_class_is_a_load_error() -> None:
    with pytest.raises(PolicyError, match="unknown class 'semicolons'"):
        Firewall(relax=["semicolons"])
