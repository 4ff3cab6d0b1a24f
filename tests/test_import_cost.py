"""Import cost (issue 16): what ``import routeguard.asgi`` and ``routeguard check`` load.

Asserted by the modules present in ``sys.modules`` of a fresh interpreter, never by timing:
pyjwt and cryptography load only once a bearer backend is configured, werkzeug only for the
first ``Accept`` header, pydantic's unused parts never, and the CLI imports a command's tools
only when that command runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

LAZY = ["jwt", "cryptography", "werkzeug", "email_validator", "pydantic.networks", "pydantic.v1",
        "pydantic.dataclasses", "pydantic.type_adapter", "routeguard.tools", "routeguard.cli"]
#: What ``import routeguard.asgi`` leaves to the first ``Policy``: the pydantic models and the builder.
MODEL = ["pydantic", "pydantic_core", "routeguard.policy.model", "routeguard.policy.settings",
         "routeguard.policy.auth", "routeguard.policy.build"]
#: What only building a policy needs (backends, stores, the guard): ``routeguard check`` loads none.
BUILD_ONLY = ["routeguard.policy.build", "routeguard.policy.resolve", "routeguard.stores", "routeguard.runtime.guard",
              "routeguard.backends.jwks", "routeguard.backends.session", "asyncio", "sqlite3", "itsdangerous", "ssl",
              "jwt", "cryptography", "starlette",
              # the policy model checks keys with backends.keys, never the backends themselves
              "routeguard.backends.base", "routeguard.backends.bearer", "routeguard.backends.apikey",
              # loaded only for what a valid small policy never needs (a quoted cookie, a typo)
              "http.cookies", "difflib",
              # request-time core: the policy model checks names with core.names, methods with
              # core.methods, never the request view, claims, decisions or responses
              "routeguard.core.request", "routeguard.core.override", "routeguard.core.claims",
              "routeguard.core.identity", "routeguard.core.decision", "routeguard.core.responses",
              "routeguard.core.engine"]
CLI_TOOLS = ["routeguard.tools.matrix", "routeguard.tools.matrix_html", "routeguard.tools.explain",
             "routeguard.tools.introspect", "routeguard.tools.diff", "routeguard.tools.suggest",
             "routeguard.tools.traffic", "routeguard.tools.starter", "routeguard.tools.frameworks"]

POLICY = """
login_url = "/login"
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_SECRET"
[[rules]]
path = "/login"
access = "public"
[[rules]]
path = "/admin/**"
roles = ["admin"]
"""


def _loaded(code: str) -> set[str]:
    """Top-level and dotted module names loaded after running ``code`` in a fresh interpreter."""
    script = textwrap.dedent(code) + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _present(loaded: set[str], names: list[str]) -> list[str]:
    return [name for name in names if any(m == name or m.startswith(name + ".") for m in loaded)]


def test_import_asgi_loads_no_token_library_werkzeug_or_tooling() -> None:
    loaded = _loaded("import routeguard.asgi")
    assert "routeguard.asgi" in loaded
    assert _present(loaded, LAZY) == []


def test_import_wsgi_loads_no_token_library_werkzeug_or_tooling() -> None:
    loaded = _loaded("import routeguard.wsgi")
    assert _present(loaded, LAZY) == []


@pytest.mark.parametrize("adapter", ["routeguard.asgi", "routeguard.wsgi"])
def test_import_adapter_loads_no_policy_model_or_pydantic(adapter: str) -> None:
    """The adapters name the policy model for type checkers only: pydantic, the settings models
    and the composition root (every backend, the stores) load with the first ``Policy``."""
    loaded = _loaded(f"import {adapter}")
    assert adapter in loaded
    assert _present(loaded, MODEL) == []


def test_the_first_policy_loads_what_the_adapter_deferred() -> None:
    """The deferral is real: a guard built from a policy has the model and its runtime."""
    loaded = _loaded("""
        import routeguard.asgi
        from routeguard import Policy
        async def app(scope, receive, send): pass
        guard = routeguard.asgi.ASGIGuard(app, policy=Policy(rules=[{"path": "/**", "access": "public"}]))
        assert guard is not None
    """)
    assert _present(loaded, MODEL) == MODEL


@pytest.mark.parametrize(
    ("auth", "jwt_loaded"),
    [
        pytest.param({"session": {"format": "starlette", "secret": "s" * 40}}, False, id="session-only"),
        pytest.param({"bearer": {"algorithms": ["HS256"], "secret": "s" * 40}}, True, id="bearer"),
    ],
)
def test_pyjwt_loads_only_with_a_bearer_backend(auth: dict[str, object], jwt_loaded: bool) -> None:
    loaded = _loaded(f"""
        from routeguard import ASGIGuard, Policy
        async def app(scope, receive, send): pass
        ASGIGuard(app, policy=Policy(login_url="/login", auth={auth!r},
                  rules=[{{"path": "/login", "access": "public"}}, {{"path": "/**"}}]))
    """)
    assert ("jwt" in loaded) is jwt_loaded


def test_a_bearer_token_still_verifies_after_the_lazy_import() -> None:
    """The deferred imports are real: a token is accepted, a forged one refused (both adapters' engine)."""
    loaded = _loaded("""
        import asyncio, jwt as pyjwt, time
        from routeguard import ASGIGuard, Policy
        secret = "s" * 40
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        guard = ASGIGuard(app, policy=Policy(auth={"bearer": {"algorithms": ["HS256"], "secret": secret}},
                                             rules=[{"path": "/**"}]))
        good = pyjwt.encode({"sub": "a", "exp": int(time.time()) + 60}, secret, algorithm="HS256")
        bad = pyjwt.encode({"sub": "a", "exp": int(time.time()) + 60}, "t" * 40, algorithm="HS256")
        async def status(token):
            sent = []
            async def receive(): return {"type": "http.request", "body": b"", "more_body": False}
            async def send(message): sent.append(message)
            scope = {"type": "http", "method": "GET", "path": "/x", "raw_path": b"/x", "query_string": b"",
                     "root_path": "", "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
                     "headers": [(b"authorization", b"Bearer " + token.encode())]}
            await guard(scope, receive, send)
            return sent[0]["status"]
        assert asyncio.run(status(good)) == 200
        assert asyncio.run(status(bad)) == 401
    """)
    assert "jwt" in loaded


def test_routeguard_check_imports_only_the_linter(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    loaded = _loaded(f"""
        from routeguard import cli
        assert cli.main(["check", {str(policy)!r}]) == 0
    """)
    assert "routeguard.tools.lint" in loaded
    assert _present(loaded, CLI_TOOLS) == []
    # linting validates only (resolve_secrets=False): nothing the composition root builds with
    assert _present(loaded, BUILD_ONLY) == []


def test_check_builds_the_validators_of_the_given_sections_only(tmp_path: Path) -> None:
    """Each policy model builds its validator when a policy first gives its section (pydantic's
    ``defer_build``; ``Deferred`` fields): linting a small policy builds none of the others."""
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    script = textwrap.dedent(f"""
        import json
        from routeguard import cli
        from routeguard.policy import model
        assert cli.main(["check", {str(policy)!r}]) == 0
        print(json.dumps(sorted(name for name in model.__all__
                                if getattr(getattr(model, name), "__pydantic_complete__", False))))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    built = json.loads(done.stdout.strip().splitlines()[-1])
    assert built == ["AuthConfig", "Policy"]  # [auth.bearer] validates within AuthConfig's validator


def test_the_import_benchmark_reports_both_ratios() -> None:
    """``benchmarks/imports.py`` runs every case and prints a verdict per target (not judged here:
    timings are for the benchmark, never for a test)."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "imports.py"
    done = subprocess.run([sys.executable, str(script), "--rounds", "1", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    verdicts = [line.split(":")[1].strip() for line in done.stdout.splitlines() if line.startswith(("PASS:", "FAIL:"))]
    assert verdicts == ["import routeguard.asgi", "routeguard check"]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures["ratios"]) >= {"import starlette.applications", "import routeguard.asgi", "routeguard check"}
    assert figures["ratios"]["import starlette.applications"] == 1.0


def test_the_start_up_benchmark_times_a_successful_check(tmp_path: Path) -> None:
    """``benchmarks/imports.py`` times ``routeguard check`` as the console script runs it, on a
    policy it finds valid (a failing check would be timed as a fast one)."""
    from benchmarks.imports import CHECK, POLICY, cases

    policy = tmp_path / "routeguard.toml"
    policy.write_text(POLICY)
    done = subprocess.run([sys.executable, "-c", cases(policy)[CHECK]], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{policy}: valid: 5 rule(s), mode enforce, login_url /login", "no findings"]
