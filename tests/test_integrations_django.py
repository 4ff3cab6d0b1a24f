"""Django integration, in process: the example project through Django's own test clients.

The middleware judges the test ``Client``; Django's own ``login()`` is the credential under every
``SESSION_ENGINE``; ``request.user`` is the guard's identity, so ``@login_required`` and
``LoginRequiredMiddleware`` agree with it. Real servers: tests/test_integrations_servers.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

django = pytest.importorskip("django")

from routeguard import Policy, PolicyError  # noqa: E402
from routeguard.testing import mint_token  # noqa: E402

from .support import BROWSER  # noqa: E402

JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
ENGINES = [
    pytest.param("django.contrib.sessions.backends.db", id="db"),
    pytest.param("django.contrib.sessions.backends.signed_cookies", id="signed_cookies"),
    pytest.param("django.contrib.sessions.backends.cache", id="cache"),
    pytest.param("django.contrib.sessions.backends.cached_db", id="cached_db"),
    pytest.param("django.contrib.sessions.backends.file", id="file"),
]


@pytest.fixture(scope="module", autouse=True)
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The example project, set up once per test process (Django's settings are global)."""
    from django.conf import settings

    if not settings.configured:
        os.environ["APP_DJANGO_DB"] = str(tmp_path_factory.mktemp("django") / "example.db")
        os.environ["APP_JWT_SECRET"] = JWT_SECRET
        os.environ["DJANGO_SETTINGS_MODULE"] = "examples.django_app.settings"
        os.environ["APP_STORE_URL"] = "memory://"
        django.setup()
        from examples.django_app.demo import setup

        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests only

        setup()
    yield


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    from django.test import override_settings

    with override_settings(SESSION_ENGINE=request.param, SESSION_FILE_PATH=str(tmp_path)):
        yield request.param


_addresses = itertools.count(2)


def client() -> Any:
    """A test Client from its own loopback address (failed-credential throttling is per client)."""
    from django.test import Client

    n = next(_addresses)
    return Client(REMOTE_ADDR=f"127.0.{n // 250}.{n % 250 + 1}")


def bearer(subject: str, **claims: Any) -> dict[str, str]:
    token = mint_token(JWT_SECRET, subject=subject, aud="routeguard-example", **claims)
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def me(c: Any, **extra: Any) -> Any:
    response = c.get("/api/me/", **extra)
    return response.status_code, (response.json() if response.status_code == 200 else None)


# -- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/me/", "/dashboard/", "/admin/", "/nowhere/"])
def test_test_client_is_refused_without_credentials(path: Any) -> None:
    response = client().get(path)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_browser_is_sent_to_djangos_login_url() -> None:
    response = client().get("/dashboard/?tab=1", HTTP_ACCEPT=BROWSER)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/?next=%2Fdashboard%2F%3Ftab%3D1"


def test_public_pages_stay_open() -> None:
    assert client().get("/login/").status_code == 200
    assert client().get("/health/").status_code == 200


# -- Django's own session ------------------------------------------------------------------------
def test_djangos_login_is_the_credential_under_every_session_engine(engine: Any) -> None:
    c = client()
    assert c.login(username="alice", password="alice-pass")  # django.contrib.auth.login()
    assert me(c) == (200, {"username": "alice", "user_class": "User", "subject": "alice", "roles": [],
                           "backend": "session"})
    assert c.get("/admin/").status_code == 403
    root = client()
    assert root.login(username="root", password="root-pass")
    assert root.get("/admin/").status_code == 200
    assert me(root)[1]["roles"] == ["admin"]


def test_the_apps_login_view_then_logout(engine: Any) -> None:
    c = client()
    done = c.post("/login/", {"username": "alice", "password": "alice-pass", "next": "/dashboard/"})
    assert done.status_code == 303 and done.headers["Location"] == "/dashboard/"
    page = c.get("/dashboard/")
    assert page.status_code == 200 and b"Hello alice." in page.content
    stolen = c.cookies["sessionid"].value
    assert c.post("/logout/").status_code == 303
    assert c.get("/dashboard/").status_code == 401
    replay = client()
    replay.cookies["sessionid"] = stolen
    assert replay.get("/api/me/").status_code == 401  # signed_cookies too: routeguard's logout revoked it


@pytest.mark.parametrize("value", [
    pytest.param("not-a-session-key-at-all", id="unknown"),
    pytest.param("x", id="too-short"),
    pytest.param("../../etc/passwd", id="path"),
])
def test_a_session_key_django_does_not_know_is_invalid(engine: Any, value: Any) -> None:
    c = client()
    c.cookies["sessionid"] = value
    response = c.get("/api/me/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert c.get("/login/").status_code == 200  # a stale cookie never blocks the login page


def test_tampered_signed_cookie_session_is_refused() -> None:
    from django.test import override_settings

    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies"):
        c = client()
        assert c.login(username="alice", password="alice-pass")
        value = c.cookies["sessionid"].value
        c.cookies["sessionid"] = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
        assert c.get("/api/me/").status_code == 401


def test_session_without_a_login_is_anonymous() -> None:
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store["cart"] = [1, 2]
    store.save()
    c = client()
    c.cookies["sessionid"] = store.session_key
    assert c.get("/api/me/").status_code == 401
    assert c.get("/api/me/").headers["WWW-Authenticate"] == "Bearer"  # no credential, not a bad one
    assert c.get("/").status_code == 200


@pytest.mark.parametrize("change", ["deactivate", "password"])
def test_disabled_user_or_changed_password_ends_the_session(engine: Any, change: Any) -> None:
    from django.contrib.auth.models import User

    user = User.objects.create_user(f"carol-{change}", password="carol-pass")
    try:
        c = client()
        assert c.login(username=user.username, password="carol-pass")
        assert me(c)[0] == 200
        if change == "deactivate":
            user.is_active = False
        else:
            user.set_password("another-pass")
        user.save()
        assert me(c)[0] == 401
    finally:
        user.delete()


def test_roles_and_permissions_come_from_django() -> None:
    from django.contrib.auth.models import Group, Permission, User

    from routeguard.integrations.django import django_identity

    user = User.objects.create_user("dora", password="x", is_staff=True)
    try:
        group, _ = Group.objects.get_or_create(name="editors")
        user.groups.add(group)
        user.user_permissions.add(Permission.objects.get(codename="change_user"))
        identity = django_identity(User.objects.get(pk=user.pk))
        assert identity.subject == "dora"
        assert identity.roles == {"editors", "staff"}
        assert identity.permissions == {"auth.change_user"}
        user.is_superuser = True
        assert "superuser" in django_identity(user).roles
    finally:
        user.delete()


# -- request.user for every credential -----------------------------------------------------------
def test_login_required_middleware_lets_a_bearer_request_the_guard_allowed_through() -> None:
    c = client()
    response = c.get("/dashboard/", **bearer("root"))  # LoginRequiredMiddleware is enabled
    assert response.status_code == 200 and b"Hello root." in response.content
    assert me(c, **bearer("alice"))[1] == {"username": "alice", "user_class": "User", "subject": "alice",
                                            "roles": [], "backend": "bearer"}
    assert c.get("/admin/", **bearer("alice", roles=["admin"])).status_code == 403  # Django's roles win
    assert c.get("/admin/", **bearer("root")).status_code == 200


def test_bearer_for_a_user_django_does_not_have_is_refused_by_the_loader() -> None:
    assert client().get("/api/me/", **bearer("mallory")).status_code == 401


API_KEY_POLICY = {
    "rules": [{"path": "/api/**"}, {"path": "/dashboard"}, {"path": "/login", "access": "public"}],
    "auth": {"api_key": {"keys": [
        {"hash": "sha256:" + __import__("hashlib").sha256(b"ci-key-0123456789").hexdigest(), "subject": "ci-bot",
         "roles": ["staff"], "permissions": ["auth.view_user"]},
        {"hash": "sha256:" + __import__("hashlib").sha256(b"alice-key-0123456").hexdigest(), "subject": "alice"},
    ]}},
}


def test_api_key_identity_becomes_request_user() -> None:
    from django.test import override_settings

    with override_settings(ROUTEGUARD={"policy": API_KEY_POLICY}):
        c = client()
        status, body = me(c, HTTP_X_API_KEY="ci-key-0123456789")
        assert (status, body["username"], body["user_class"]) == (200, "ci-bot", "GuardUser")
        assert me(c, HTTP_X_API_KEY="alice-key-0123456")[1]["user_class"] == "User"  # the account exists
        assert c.get("/dashboard/", HTTP_X_API_KEY="ci-key-0123456789").status_code == 200
        assert me(c)[0] == 401


def test_guard_user_answers_like_a_django_user() -> None:
    from routeguard import Identity
    from routeguard.integrations.django import GuardUser

    user = GuardUser(Identity.of("ci-bot", roles=["staff"], permissions=["app.view_thing"]))
    assert user.is_authenticated and not user.is_anonymous and user.is_staff and not user.is_superuser
    assert user.get_username() == "ci-bot" and str(user) == "ci-bot"
    assert user.has_perm("app.view_thing") and not user.has_perm("app.delete_thing")
    assert user.has_module_perms("app") and not user.has_module_perms("other")
    assert GuardUser(Identity.of("root", roles=["superuser"])).has_perms(["x.y", "z.w"])


# -- ASGI: the ORM off the event loop ------------------------------------------------------------
@pytest.mark.parametrize("credential", ["session", "bearer"])
def test_async_client_loads_users_off_the_event_loop(credential: Any) -> None:
    from django.test import AsyncClient

    c = client()
    assert c.login(username="root", password="root-pass")
    extra = {"Cookie": f"sessionid={c.cookies['sessionid'].value}"} if credential == "session" else \
        {"Authorization": bearer("root")["HTTP_AUTHORIZATION"]}

    async def run() -> tuple[int, int, int]:
        ac = AsyncClient()
        me_response = await ac.get("/api/me/", headers=extra)
        admin = await ac.get("/admin/", headers=extra)
        anonymous = await ac.get("/api/me/")
        assert json.loads(me_response.content)["username"] == "root"
        return me_response.status_code, admin.status_code, anonymous.status_code

    assert asyncio.run(run()) == (200, 200, 401)


# -- wiring --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_outer_guard_decides_once(kind: str) -> None:
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    from routeguard.integrations.django import guard_asgi, guard_wsgi
    from routeguard.testing import call_asgi, call_wsgi

    app: Any = guard_wsgi(WSGIHandler()) if kind == "wsgi" else guard_asgi(ASGIHandler())
    call = call_wsgi if kind == "wsgi" else call_asgi
    before = sum(app.counters().values())
    signed_in = call(app, "GET", "/api/me/", headers={"Authorization": bearer("alice")["HTTP_AUTHORIZATION"]})
    assert signed_in.status == 200 and signed_in.json()["username"] == "alice"
    assert call(app, "GET", "/api/me/").status == 401
    assert sum(app.counters().values()) - before == 2  # the middleware reused the outer decision


def test_login_url_of_the_policy_wins() -> None:
    from django.test import override_settings

    policy = {"login_url": "/signin", "rules": [{"path": "/signin", "access": "public"}, {"path": "/**"}]}
    with override_settings(ROUTEGUARD={"policy": policy}):
        response = client().get("/dashboard/", HTTP_ACCEPT=BROWSER)
    assert response.headers["Location"] == "/signin?next=%2Fdashboard%2F"


@pytest.mark.parametrize("setting, message", [
    pytest.param(None, "must be a dict with a 'policy' key", id="missing"),
    pytest.param({"policy": 3}, "must be a TOML file path, a dict or a Policy", id="bad-type"),
    pytest.param({"policy": {}, "polcy": 1}, "unknown key 'polcy'", id="typo"),
])
def test_bad_settings_are_named(setting: Any, message: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings

    from routeguard.integrations.django import settings_policy

    with override_settings(ROUTEGUARD=setting), pytest.raises(ImproperlyConfigured, match=message):
        settings_policy()


def test_explicit_login_url_not_public_is_a_load_error() -> None:
    from django.test import override_settings

    from routeguard.integrations.django import settings_policy

    with override_settings(ROUTEGUARD={"policy": {"rules": [{"path": "/**"}]}}, LOGIN_URL="/members/login/"), \
            pytest.raises(PolicyError, match="must be covered by a public rule"):
        settings_policy()


@pytest.mark.parametrize("extra", ['secret_env = "X"', 'cookie = "sid"', 'user_key = "uid"'])
def test_django_format_takes_its_settings_from_django(extra: Any) -> None:
    with pytest.raises(PolicyError, match="reads Django's own settings"):
        Policy.from_toml_string(f'[auth.session]\nformat = "django"\n{extra}\n')


def test_rg_2026_13_djangos_failed_logins_lock_the_username_at_the_login_form() -> None:
    """authenticate()'s user_login_failed counts per client and username (as django-axes hooks
    it); the middleware reads the username of a POST to LOGIN_URL and answers 429; a login
    (user_logged_in) resets the username. No app code beyond the middleware."""
    from routeguard.integrations.django import settings_policy
    from routeguard.runtime.effects import run_sync
    from routeguard.runtime.guard import Guard

    throttle = Guard.for_policy(settings_policy()).throttle
    assert throttle is not None
    limit = throttle.config.username_max_failures
    c = client()

    def attempt(password: str, username: str = "bob") -> Any:
        return c.post("/login/", {"username": username, "password": password})

    try:
        assert [attempt("wrong").status_code for _ in range(limit - 1)] == [401] * (limit - 1)
        assert attempt("bob-pass").status_code == 303  # user_logged_in resets bob
        assert [attempt("wrong").status_code for _ in range(limit)] == [401] * limit  # (limit-1)+limit
        locked = attempt("bob-pass")
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
        assert client().post("/login/", {"username": "bob", "password": "bob-pass"}).status_code == 429
        assert attempt("alice-pass", "alice").status_code == 303  # other users sign in
    finally:
        run_sync(throttle.login_succeeded("bob"))


# -- Django REST framework -----------------------------------------------------------------------
def drf_urls() -> Any:
    """A URLconf with two DRF views: IsAuthenticated and IsAdminUser."""
    from django.urls import path
    from rest_framework.permissions import IsAdminUser, IsAuthenticated
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Me(APIView):  # type: ignore[misc]
        permission_classes = [IsAuthenticated]

        def get(self, request: Any) -> Any:
            return Response({"username": request.user.get_username()})

    class Staff(APIView):  # type: ignore[misc]
        permission_classes = [IsAdminUser]  # is_staff: the "staff" role

        def get(self, request: Any) -> Any:
            return Response({"staff": True})

    import types

    module = types.ModuleType("drf_urls")
    module.urlpatterns = [path("api/drf/me/", Me.as_view()), path("api/drf/staff/", Staff.as_view())]  # type: ignore[attr-defined]
    return module


def test_drf_permissions_agree_with_the_guard() -> None:
    pytest.importorskip("rest_framework")
    from django.test import override_settings

    policy = {"rules": [{"path": "/api/**"}, {"path": "/login", "access": "public"}], "auth": {"api_key": {"keys": [
        {"hash": "sha256:" + __import__("hashlib").sha256(b"staff-key-0123456").hexdigest(), "subject": "ops-bot",
         "roles": ["staff"]},
        {"hash": "sha256:" + __import__("hashlib").sha256(b"plain-key-0123456").hexdigest(), "subject": "ci-bot"},
    ]}}}
    with override_settings(ROOT_URLCONF=drf_urls(), ROUTEGUARD={"policy": policy}):
        c = client()
        me_response = c.get("/api/drf/me/", HTTP_X_API_KEY="plain-key-0123456")
        assert me_response.status_code == 200 and me_response.json() == {"username": "ci-bot"}
        assert c.get("/api/drf/staff/", HTTP_X_API_KEY="plain-key-0123456").status_code == 403
        assert c.get("/api/drf/staff/", HTTP_X_API_KEY="staff-key-0123456").status_code == 200
        assert c.get("/api/drf/me/").status_code == 401  # the guard, before DRF


def orm_loader(subject: str) -> dict[str, list[str]] | None:
    """A plain sync identity loader doing a Django ORM query (as an app would write it)."""
    from django.contrib.auth.models import User

    user = User.objects.filter(username=subject, is_active=True).first()
    return None if user is None else {"roles": sorted(user.groups.values_list("name", flat=True))}


def test_a_plain_sync_orm_identity_loader_works_under_asgi() -> None:
    from django.test import AsyncClient, override_settings

    policy = {"rules": [{"path": "/admin/**", "roles": ["admin"]}, {"path": "/api/**"},
                        {"path": "/login", "access": "public"}],
              "auth": {"bearer": {"algorithms": ["HS256"], "secret": JWT_SECRET, "audience": "routeguard-example"},
                       "identity_loader": f"{__name__}:orm_loader", "identity_cache_ttl": 0}}

    def auth(subject: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": bearer(subject, **claims)["HTTP_AUTHORIZATION"]}

    async def run() -> tuple[int, int, int]:
        ac = AsyncClient()
        root = await ac.get("/admin/", headers=auth("root"))
        alice = await ac.get("/admin/", headers=auth("alice", roles=["admin"]))  # the loader's roles win
        nobody = await ac.get("/api/me/", headers=auth("mallory"))  # unknown to the ORM: refused
        return root.status_code, alice.status_code, nobody.status_code

    with override_settings(ROUTEGUARD={"policy": policy}):
        assert asyncio.run(run()) == (200, 403, 401)
