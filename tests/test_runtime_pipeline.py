"""The guard as a pipeline (issue 11 items 1, 3, 9): the steps' verdicts are pure inputs of the
engine, backends are normalised when the guard is built, and a 503 can be diagnosed."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import routeguard
from routeguard import Identity, Policy, RequestView
from routeguard.core.decision import Outcome
from routeguard.core.engine import ANONYMOUS, AuthResult, Engine, Route
from routeguard.core.firewall import Firewall
from routeguard.runtime.effects import run_sync
from routeguard.runtime.guard import Guard
from routeguard.runtime.hooks import HookedBackend

from .support import POLICY_TOML

SECRET = {"authorization": "Bearer secret-token-1234"}
USER = AuthResult(identity=Identity.of("u1", roles=["user"], tenants=["acme"]))


def _route(engine: Engine, method: str, path: str) -> Route:
    route = engine.route(RequestView(method=method, path=path))
    assert isinstance(route, Route)
    return route


@pytest.fixture
def engine() -> Engine:
    return Engine(Policy.from_toml_string(POLICY_TOML, resolve_secrets=False).compiled_rules, Firewall())


@pytest.mark.parametrize(
    ("path", "auth", "verdicts", "outcome", "extra"),
    [
        pytest.param("/api/x", USER, {}, Outcome.ALLOW, None, id="no-verdict-allows"),
        pytest.param("/api/x", USER, {"throttled": (7, "too many")}, Outcome.TOO_MANY_REQUESTS, 7, id="throttled-429"),
        pytest.param("/health", ANONYMOUS, {"throttled": (3, "logins")}, Outcome.TOO_MANY_REQUESTS, 3,
                     id="throttled-public-429"),
        pytest.param("/api/x", USER, {"forged": "cross-site"}, Outcome.FORBIDDEN, None, id="csrf-403"),
        pytest.param("/health", USER, {"forged": "cross-site"}, Outcome.FORBIDDEN, None, id="csrf-public-403"),
        pytest.param("/secret/x", USER, {"forged": "cross-site"}, Outcome.NOT_FOUND, None, id="csrf-hidden-404"),
        pytest.param("/orgs/globex/x", USER, {}, Outcome.FORBIDDEN, None, id="other-tenant-403"),
        pytest.param("/orgs/globex/x", USER, {"member": True}, Outcome.ALLOW, None, id="member-verdict-allows"),
        pytest.param("/admin/x", USER, {"member": True}, Outcome.FORBIDDEN, None, id="member-never-grants-roles"),
    ],
)
def test_engine_judges_the_steps_verdicts(
    engine: Engine, path: str, auth: AuthResult, verdicts: dict[str, Any], outcome: Outcome, extra: int | None
) -> None:
    decision = engine.judge(_route(engine, "POST" if "forged" in verdicts else "GET", path), auth, **verdicts)
    assert decision.outcome is outcome
    assert decision.retry_after == extra


def test_throttle_verdict_is_report_only_in_report_mode() -> None:
    rules = Policy.from_toml_string(POLICY_TOML, resolve_secrets=False).compiled_rules
    report = Engine(rules, Firewall(), report=True)
    decision = report.judge(_route(report, "GET", "/api/x"), USER, throttled=(5, "too many"))
    assert decision.outcome is Outcome.TOO_MANY_REQUESTS and decision.report_only and decision.allowed


class AsyncIdentity:
    name = "async-identity"

    async def authenticate(self, request: Any) -> Identity | None:
        return Identity.of("a") if request.headers.get("x-a") else None


class Wrong:
    name = "wrong"

    def authenticate(self, request: Any) -> Any:
        return "alice" if request.headers.get("x-w") else None


def _guard(*backends: Any) -> Guard:
    return Guard(Policy(rules=[routeguard.Rule(path="/**")], auth=routeguard.AuthConfig(custom=list(backends))))


def test_backends_are_normalised_once_behind_one_typed_result() -> None:
    from routeguard.core.identity import Credential

    guard = _guard(AsyncIdentity(), Wrong())
    request = RequestView(method="GET", path="/x", headers={"x-a": "1"})
    backend = guard.backends[0]
    assert isinstance(backend, HookedBackend)
    credential = run_sync(backend.authenticate(request))  # every custom backend answers with a flow
    assert isinstance(credential, Credential) and credential.identity.backend == "async-identity"
    auth = run_sync(guard.authenticate(RequestView(method="GET", path="/x", headers={"x-w": "1"})))
    assert auth.identity is None and auth.invalid == "wrong: backend error (TypeError)"


class Exploding:
    name = "exploding"

    def authenticate(self, request: Any) -> Identity | None:
        raise RuntimeError(request.headers["authorization"])  # a message quoting the credential


def test_a_503_logs_its_traceback_at_debug_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    guard = _guard()

    class Broken:  # an unexpected bug while deciding
        def authenticate(self, request: RequestView) -> Any:
            raise RuntimeError(request.headers["authorization"])

    guard.authenticator = Broken()  # type: ignore[assignment]
    with caplog.at_level(logging.DEBUG, logger="routeguard"):
        try:
            run_sync(guard.evaluate(RequestView(method="GET", path="/x", headers=SECRET)))
        except RuntimeError as exc:
            decision = guard.failed(exc)
    assert decision.outcome is Outcome.UNAVAILABLE
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 1 and "builtins.RuntimeError" in debug[0] and "in authenticate" in debug[0]
    assert "raise RuntimeError(request.headers" in debug[0]  # the source line, as a traceback shows it
    assert all("secret-token" not in r.getMessage() for r in caplog.records)


def test_a_broken_hook_logs_its_traceback_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    guard = _guard(Exploding())
    with caplog.at_level(logging.DEBUG, logger="routeguard"):
        auth = run_sync(guard.authenticate(RequestView(method="GET", path="/x", headers=SECRET)))
    assert auth.invalid == "exploding: backend error (RuntimeError)"
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("backend exploding failed" in m and "in authenticate" in m for m in debug)
    assert all("secret-token" not in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="routeguard"):  # below DEBUG nothing is formatted
        run_sync(guard.authenticate(RequestView(method="GET", path="/x", headers=SECRET)))
    assert not [r for r in caplog.records if r.levelno == logging.DEBUG]


def test_key_resolvers_always_answer_with_a_flow() -> None:
    from collections.abc import Generator

    from cryptography.hazmat.primitives.asymmetric import rsa

    from routeguard.backends.jwks import JWKSKeys

    from .test_jwks import jwk

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fetches: list[str] = []

    def fetch(url: str, timeout: float) -> dict[str, Any]:
        fetches.append(url)
        return {"keys": [jwk(private, "k1")]}

    keys = JWKSKeys("http://127.0.0.1:9/jwks.json", family="RSA", fetch=fetch)
    first = keys({"kid": "k1", "alg": "RS256"})  # no key set yet: the flow fetches it
    assert isinstance(first, Generator) and run_sync(first) is not None and len(fetches) == 1
    known = keys({"kid": "k1", "alg": "RS256"})  # known key: still a flow, with no I/O in it
    assert isinstance(known, Generator)
    assert run_sync(known).public_numbers() == private.public_key().public_numbers()
    assert len(fetches) == 1
