"""Logging: one record per refusal, DEBUG per decision, never a credential."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from .support import JWT_SECRET, SESSION_SECRET, bearer, cookie, token


def records(caplog: Any) -> Any:
    return [r for r in caplog.records if r.name == "routeguard"]


def test_one_record_per_refusal_with_fields(send: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routeguard")
    send("GET", "/admin/users", bearer(token("alice", roles=("user",))))
    (record,) = records(caplog)
    assert record.levelno == logging.INFO
    event = record.routeguard
    assert event["method"] == "GET" and event["path"] == "/admin/users"
    assert event["rule"] == 4 and event["pattern"] == "/admin/**"
    assert event["outcome"] == "forbidden" and event["reason"] == "missing role"
    assert event["subject"] == "alice" and event["backend"] == "bearer"
    assert "refused GET /admin/users" in record.getMessage()
    assert "rule #4 '/admin/**'" in record.getMessage()


def test_allows_only_at_debug(send: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routeguard")
    send("GET", "/health")
    assert records(caplog) == []
    caplog.set_level(logging.DEBUG, logger="routeguard")
    send("GET", "/health")
    (record,) = records(caplog)
    assert record.levelno == logging.DEBUG and record.routeguard["outcome"] == "allow"


def test_default_deny_and_firewall_are_named(send: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routeguard")
    send("GET", "/other")
    send("GET", "/a/..%2f..%2fetc")
    first, second = records(caplog)
    assert "default deny" in first.getMessage() and first.routeguard["rule"] is None
    assert "firewall: encoded_slash" in second.getMessage()


def test_no_credential_or_secret_ever_logged(send: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good = token("alice", roles=("user",))
    bad = good[:-6] + "AAAAAA"
    session = cookie({"user_id": "carol"})["Cookie"].split("=", 1)[1]
    requests = [
        ("GET", "/admin/x", bearer(good)), ("GET", "/api/x", bearer(bad)), ("GET", "/api/x", bearer(good)),
        ("GET", "/api/x", {"Cookie": f"session={session}"}), ("GET", "/api/x", {"Cookie": f"session={session}x"}),
        ("GET", "/api/x?access_token=" + good, {}), ("GET", "/admin;" + good[:20], {}),
    ]
    for method, target, headers in requests:
        send(method, target, headers)
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    for secret in (good, bad, good.split(".")[2], bad.split(".")[2], session, session.rsplit(".", 1)[1],
                   JWT_SECRET, SESSION_SECRET):
        assert secret not in text


def test_control_characters_in_paths_are_escaped(send: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routeguard")
    send("GET", "/api/x%0aFAKE%20LOG%20LINE")
    message = records(caplog)[0].getMessage()
    assert "\n" not in message and "\\n" in message
