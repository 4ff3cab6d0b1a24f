"""The decision log (`decision_log = "decisions.jsonl"`): one JSON line per request on both
adapters, with the guard's decision and the status the client really got, never a credential."""

from __future__ import annotations

import json
import queue
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from routeguard import ASGIGuard, Policy, WSGIGuard
from routeguard.runtime.guard import Guard
from routeguard.testing import call_asgi, call_wsgi, mint_token
from tests.migration_apps.own_router import asgi_app, wsgi_app

SECRET = "decision-log-test-secret-0123456789abcdef"

POLICY = """
mode = "{mode}"
decision_log = "logs/decisions.jsonl"

[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_LOG_SECRET"

[[rules]]
path = "/health"
access = "public"

[[rules]]
path = "/users/{{id}}"
methods = ["GET"]

[[rules]]
path = "/admin/**"
roles = ["admin"]
"""

Caller = Callable[..., Any]
ADAPTERS = [pytest.param(("asgi", ASGIGuard, asgi_app, call_asgi), id="asgi"),
            pytest.param(("wsgi", WSGIGuard, wsgi_app, call_wsgi), id="wsgi")]


def guarded(tmp_path: Path, adapter: tuple[str, Any, Any, Caller], mode: str,
            monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Caller, Path, Guard]:
    monkeypatch.setenv("RG_TEST_LOG_SECRET", SECRET)
    (tmp_path / "logs").mkdir()
    path = tmp_path / "policy.toml"
    path.write_text(POLICY.format(mode=mode))
    policy = Policy.from_toml(path)
    _, wrap, app, caller = adapter
    guard = wrap(app, policy=policy)
    return guard, caller, tmp_path / "logs" / "decisions.jsonl", guard.guard


def lines(path: Path, guard: Guard) -> list[dict[str, Any]]:
    assert guard.decision_log is not None
    guard.decision_log.flush()
    return [json.loads(line) for line in path.read_text().splitlines()]


def bearer(*roles: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(SECRET, roles=roles)}


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_report_mode_logs_the_apps_answer_and_the_would_be_refusal(
        tmp_path: Path, adapter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, call, log, guard = guarded(tmp_path, adapter, "report", monkeypatch)
    token = bearer("user")
    assert call(app, "GET", "/health?token=secret-query").status == 200
    assert call(app, "GET", "/users/7", token).status == 200
    assert call(app, "GET", "/admin/stats", token).status == 403  # the app's own refusal
    assert call(app, "GET", "/reports/2024", bearer("auditor")).status == 200  # no rule: would refuse
    assert call(app, "GET", "/users/7").status == 401  # the app refuses anonymous users itself
    got = lines(log, guard)
    assert [(e["method"], e["path"], e["rule"], e["outcome"], e["status"], e["would_status"], e["report_only"],
             e["identity"], e["roles"]) for e in got] == [
        ("GET", "/health", 1, "allow", 200, None, False, "anonymous", []),
        ("GET", "/users/7", 2, "allow", 200, None, False, "authenticated", ["user"]),
        ("GET", "/admin/stats", 3, "forbidden", 403, 403, True, "authenticated", ["user"]),
        ("GET", "/reports/2024", None, "forbidden", 200, 403, True, "authenticated", ["auditor"]),
        ("GET", "/users/7", 2, "unauthenticated", 401, 401, True, "anonymous", []),
    ]
    text = log.read_text()
    assert "secret-query" not in text and "Bearer" not in text and token["Authorization"][7:] not in text
    assert "alice" not in text  # the subject is not logged either


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_enforce_mode_logs_the_guards_refusal(tmp_path: Path, adapter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, call, log, guard = guarded(tmp_path, adapter, "enforce", monkeypatch)
    assert call(app, "GET", "/admin/stats", bearer("user")).status == 403
    assert call(app, "GET", "/admin/stats", bearer("admin")).status == 200
    assert call(app, "GET", "/users/7", {"Authorization": "Bearer not-a-token"}).status == 401
    assert call(app, "DELETE", "/nowhere").status == 401
    got = [(e["path"], e["outcome"], e["status"], e["would_status"], e["report_only"], e["identity"])
           for e in lines(log, guard)]
    assert got == [
        ("/admin/stats", "forbidden", 403, 403, False, "authenticated"),
        ("/admin/stats", "allow", 200, None, False, "authenticated"),
        ("/users/7", "unauthenticated", 401, 401, False, "invalid"),
        ("/nowhere", "unauthenticated", 401, 401, False, "anonymous"),
    ]


def test_decision_log_path_is_relative_to_the_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('decision_log = "d.jsonl"\n')
    assert Policy.from_toml(path, resolve_secrets=False).decision_log == tmp_path / "d.jsonl"


def test_app_error_is_logged_as_500(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(environ: Any, start_response: Any) -> Any:
        raise RuntimeError("boom")

    app, _, log, guard = guarded(tmp_path, ("wsgi", WSGIGuard, broken, call_wsgi), "report", monkeypatch)
    with pytest.raises(RuntimeError):
        call_wsgi(app, "GET", "/health")
    assert [e["status"] for e in lines(log, guard)] == [500]


def test_a_full_queue_drops_lines_instead_of_blocking(tmp_path: Path) -> None:
    from routeguard.runtime.decision_log import DecisionLog

    log = DecisionLog(tmp_path / "q.jsonl")
    log.write({"a": 1})
    log.flush()
    assert json.loads((tmp_path / "q.jsonl").read_text()) == {"a": 1}
    log._queue = queue.Queue(1)  # a queue the writer thread does not drain, already full
    log._queue.put_nowait(b"x\n")
    log.write({"b": 2})
    assert log.dropped == 1
