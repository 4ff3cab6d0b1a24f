"""The throttle test apps behind their guards for real servers (tests/test_advisory_attack.py):
``gunicorn 'tests.attack_apps:wsgi()'``, ``uvicorn --factory tests.attack_apps:asgi``. The SQLite
store lives in ``$RG_ATTACK_DIR`` (one worker process each)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from routeguard import ASGIGuard, WSGIGuard

from .test_advisory_throttle import flask_app, make_policy, starlette_app


def _policy() -> Any:
    return make_policy(Path(os.environ["RG_ATTACK_DIR"]), max_failures=50, username_max=2)


def wsgi() -> Any:
    return WSGIGuard(flask_app().wsgi_app, policy=_policy())


def asgi() -> Any:
    return ASGIGuard(starlette_app(), policy=_policy())
