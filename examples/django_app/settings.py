"""Django settings of the routeguard example (development values: never ship these)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from examples.demo_users import use_dev_secrets

use_dev_secrets()  # APP_JWT_SECRET / APP_STORE_URL development defaults when unset

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = os.environ.get("APP_DJANGO_SECRET", "dev-only-django-secret-change-me-0123456789abcdef")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]

# routeguard first: it judges every request (the test Client's too) before anything else runs.
MIDDLEWARE = [
    "routeguard.integrations.django.RouteGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",  # Django 5.1+: agrees with the guard
]
ROUTEGUARD = {"policy": BASE_DIR / "routeguard.toml"}
LOGIN_URL = "/login/"  # the guard's login page too: the policy names none

ROOT_URLCONF = "examples.django_app.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("APP_DJANGO_DB", str(Path(tempfile.gettempdir()) / "routeguard-django-example.db")),
    }
}
# Any engine works with [auth.session] format = "django": db, cache, cached_db, signed_cookies, file.
SESSION_ENGINE = os.environ.get("APP_SESSION_ENGINE", "django.contrib.sessions.backends.db")
SESSION_COOKIE_SECURE = False  # plain-HTTP development server
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TEMPLATES: list[dict[str, object]] = []
