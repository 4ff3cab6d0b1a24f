"""`routes` and `init` on every framework the README names: each app's routes are listed in
full (checked against the framework's own list), `init` covers them all and passes
`check --strict`, and an app whose routes cannot be read exits non-zero saying what to do."""

from __future__ import annotations

import contextlib
import html
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from routeguard import Policy
from routeguard.cli import main
from routeguard.tools.introspect import AppImportError, AppRoute, list_routes, load_app
from routeguard.tools.matrix import build
from routeguard.tools.starter import starter_policy

ROOT = Path(__file__).resolve().parent.parent
DJANGO_PROJECT = ROOT / "tests" / "migration_apps" / "django_project"
SCRIPT = Path(sys.executable).with_name("routeguard")


def call(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def listed(app: Any) -> set[tuple[str, str]]:
    """(glob, method) pairs routeguard lists; "*" for any method."""
    return {(r.path, m) for r in list_routes(app) for m in (r.methods or ("*",))}


# -- the framework's own lists -------------------------------------------------------------------

def litestar_own(app: Any) -> set[tuple[str, str]]:
    own = set()
    for route in app.routes:
        path = route.path.replace("{user_id:int}", "{user_id}").replace("{rest:path}", "**")
        if type(route).__name__ == "HTTPRoute":
            own |= {(path, m) for m in route.methods if m != "OPTIONS"}
        elif type(route).__name__ == "WebSocketRoute":
            own.add((path, "GET"))
        else:
            own.add((path + "/**", "*"))
    return own


def bottle_own(app: Any) -> set[tuple[str, str]]:
    own = set()
    for route in app.routes:
        if route.config.get("mountpoint.target") is not None:
            own.add(("/" + route.config["mountpoint.prefix"].strip("/") + "/**", "*"))
            continue
        path = (route.rule.replace("<item_id:int>", "{item_id}").replace("<page:path>", "**")
                .replace("report-<year:int>.csv", "*"))
        own.add((path, "*" if route.method == "ANY" else route.method))
    return own


def pyramid_own(app: Any) -> set[tuple[str, str]]:
    from pyramid.interfaces import IRoutesMapper

    methods: dict[str, set[str]] = {}
    for item in app.registry.introspector.get_category("views"):
        view = item["introspectable"]
        if view["route_name"]:
            found = view["request_methods"] or "*"
            methods.setdefault(view["route_name"], set()).update([found] if isinstance(found, str) else found)
    own = set()
    for route in app.registry.getUtility(IRoutesMapper).get_routes():
        path = route.pattern.replace("{year:\\d+}", "{year}").replace("*subpath", "**")
        limit = [p.val for p in route.predicates if type(p).__name__ == "RequestMethodPredicate"]
        own |= {(path, m) for m in (limit[0] if limit else methods.get(route.name, {"*"}))}
    return own


def falcon_own(app: Any) -> set[tuple[str, str]]:
    from falcon import inspect

    routes = {(info.path.replace(":int", ""), m.method) for info in inspect.inspect_routes(app)
              for m in info.methods if not m.internal}
    return routes | {(sink.prefix + "/**", "*") for sink in inspect.inspect_sinks(app)}


def quart_own(app: Any) -> set[tuple[str, str]]:
    own = set()
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<path:filename>", "**").replace("<int:order_id>", "{order_id}")
        own |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return own


@pytest.mark.parametrize(
    ("reference", "own"),
    [
        pytest.param("tests.migration_apps.litestar_app:app", litestar_own, id="litestar"),
        pytest.param("tests.migration_apps.bottle_app:app", bottle_own, id="bottle"),
        pytest.param("tests.migration_apps.pyramid_app:app", pyramid_own, id="pyramid"),
        pytest.param("tests.migration_apps.falcon_app:app", falcon_own, id="falcon"),
        pytest.param("tests.migration_apps.quart_app:app", quart_own, id="quart"),
    ],
)
def test_every_route_is_listed(reference: str, own: Any) -> None:
    app = load_app(reference)
    assert listed(app) == own(app)


@pytest.mark.parametrize(
    "reference",
    [
        pytest.param("tests.migration_apps.litestar_app:app", id="litestar"),
        pytest.param("tests.migration_apps.bottle_app:app", id="bottle"),
        pytest.param("tests.migration_apps.pyramid_app:app", id="pyramid"),
        pytest.param("tests.migration_apps.falcon_app:app", id="falcon"),
        pytest.param("tests.migration_apps.quart_app:app", id="quart"),
    ],
)
def test_init_then_routes_cover_every_route(tmp_path: Path, reference: str) -> None:
    target = tmp_path / "routeguard.toml"
    status, _, err = call("init", reference, "-o", str(target))
    assert status == 0, err
    status, out, _ = call("check", str(target), "--strict")
    assert status == 0, out
    status, out, err = call("routes", reference, "--rules", str(target), "--format", "json", "--strict")
    assert status == 0, err
    rows = json.loads(out)["routes"]
    assert {(r["path"], r["method"]) for r in rows} == listed(load_app(reference))
    assert not any(r["default_deny"] for r in rows)
    status, page, _ = call("routes", reference, "--rules", str(target), "--format", "html")
    assert status == 0
    assert page.count("<tr class=") == len(rows)  # the HTML matrix has the app's real routes
    for path, _ in listed(load_app(reference)):
        assert f"<code>{html.escape(path)}</code>" in page


def test_mounted_sub_apps_of_other_frameworks() -> None:
    """A Starlette app mounting a Litestar app and a Falcon app lists their routes under the prefix."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from tests.migration_apps import falcon_app, litestar_app

    outer = Starlette(routes=[Mount("/ls", app=litestar_app.app),  # type: ignore[arg-type]
                              Mount("/fa", app=falcon_app.app)])  # type: ignore[arg-type]
    found = listed(outer)
    assert ("/ls/api/users/{user_id}", "DELETE") in found
    assert ("/ls/legacy/**", "*") in found
    assert ("/fa/items/{item_id}/raw", "GET") in found


@pytest.mark.parametrize(
    ("reference", "fragments"),
    [
        pytest.param("tests.migration_apps.falcon_app:asgi_app", ["App app has no routes", "suggest --from-log"],
                     id="empty-router"),
        pytest.param("tests.migration_apps.unreadable:app", ["cannot list the routes of a OwnRouter",
                                                              "readable are", "decision_log"], id="own-router"),
    ],
)
def test_unreadable_or_empty_app_exits_non_zero(reference: str, fragments: list[str]) -> None:
    for command in (["init", reference], ["routes", reference, "--rules", "examples/fastapi_app/routeguard.toml"]):
        status, out, err = call(*command)
        assert status == 1
        assert out == ""
        assert err.startswith("routeguard: error: ") and len(err.strip().splitlines()) == 1
        for fragment in fragments:
            assert fragment in err


def test_empty_app_raises_instead_of_an_empty_list() -> None:
    with pytest.raises(AppImportError, match="no routes"):
        list_routes(load_app("tests.migration_apps.falcon_app:asgi_app"))


# -- Django (its own process: settings are global; processes make these slow tests) -------------

DJANGO_OWN = """
import json, mysite.wsgi
from django.contrib.admindocs.views import extract_views_from_urlpatterns
from django.urls import get_resolver
from routeguard.tools.introspect import list_routes
views = extract_views_from_urlpatterns(get_resolver().url_patterns)
print(json.dumps(sorted({':'.join([*(ns or []), name]) for func, regex, ns, name in views if name})))
print(len(views))
print(len(list_routes(mysite.wsgi.application)))
"""


def django(*args: str, settings: str | None = "mysite.settings") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    env["PYTHONPATH"] = os.pathsep.join([str(DJANGO_PROJECT), str(ROOT)])
    return subprocess.run(list(args), cwd=DJANGO_PROJECT, capture_output=True, text=True, env=env, timeout=120,
                          check=False)


@pytest.fixture(scope="module")
def django_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("django") / "routeguard.toml"
    result = django(str(SCRIPT), "init", "mysite.asgi:application", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert "re_path 'legacy/(?P<code>[0-9]+)/$' has no '^'" in result.stderr
    assert "re_path '^feeds/' has no '$': it also matches every longer path" in result.stderr
    return target


@pytest.mark.slow
def test_django_init_passes_check_strict(django_policy: Path) -> None:
    result = django(str(SCRIPT), "check", str(django_policy), "--strict")
    assert result.returncode == 0, result.stdout
    policy = Policy.from_toml(django_policy, resolve_secrets=False)
    public = {r.path for r in policy.rules if r.access == "public"}
    assert public == {"/admin/login", "/health"}
    assert "# WARNING: re_path" in django_policy.read_text()


@pytest.mark.slow
def test_django_routes_lists_every_view(django_policy: Path) -> None:
    own = django(sys.executable, "-c", DJANGO_OWN)
    assert own.returncode == 0, own.stderr
    lines = own.stdout.splitlines()
    names, count, ours = json.loads(lines[0]), int(lines[1]), int(lines[2])
    assert ours == count  # one listed route per view pattern Django has
    result = django(str(SCRIPT), "routes", "mysite.wsgi:application", "--rules", str(django_policy),
                    "--format", "json", "--strict")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["routes"]
    endpoints = {r["endpoint"] for r in rows}
    assert set(names) <= endpoints
    by_path = {(r["path"], r["method"]) for r in rows}
    for expected in [("/admin/auth/user/{id}/password", "*"), ("/shop/p/{slug}", "*"), ("/shop/checkout", "POST"),
                     ("/api/books", "POST"), ("/api/books/{pk}", "GET"), ("/reports/{year}", "POST"),
                     ("/**/legacy/{code}", "*"), ("/feeds/**", "*"), ("/shop/invoices/*", "*"), ("/admin/**", "*")]:
        assert expected in by_path
    assert ("/api/books/{pk}", "POST") not in by_path
    assert not any(r["default_deny"] for r in rows)


@pytest.mark.slow
def test_django_settings_come_from_the_environment() -> None:
    result = django(str(SCRIPT), "init", "mysite.wsgi:application", settings="mysite.no_such_settings")
    assert result.returncode == 1
    assert result.stderr.startswith("routeguard: error: cannot import 'mysite.wsgi'")
    assert "mysite.no_such_settings" in result.stderr
    assert "Traceback" not in result.stderr


def test_starter_from_unlisted_routes_is_not_empty() -> None:
    policy = Policy.from_toml_string(starter_policy([AppRoute("/a", ("GET",), "a", "/a")], "x:app"),
                                     resolve_secrets=False)
    assert build([AppRoute("/a", ("GET",), "a", "/a")], policy).default_deny_rows == []
