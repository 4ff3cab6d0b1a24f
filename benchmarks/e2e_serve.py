"""One benchmark server: ``python -m benchmarks.e2e_serve APP PORT``.

Builds one of the apps of :data:`APPS` (the same apps and policy as the in-process suite) and
serves it on ``127.0.0.1:PORT`` with one worker: uvicorn (httptools) for the ASGI apps,
gunicorn's sync worker for the WSGI ones. Access logs are off so the server's own logging does
not dilute the guard's share.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make "benchmarks" importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"


def _asgi(name: str) -> Any:
    from routeguard import ASGIGuard

    from .apps import fastapi_app, starlette_app, starlette_auth_app
    from .configs import JWT_SECRET, hs256_policy
    from .floor import FloorASGI

    builders: dict[str, Callable[[], Any]] = {
        "starlette": starlette_app,
        "routeguard": lambda: ASGIGuard(starlette_app(), policy=hs256_policy()),
        "floor": lambda: FloorASGI(starlette_app(), hs256_policy(), JWT_SECRET),
        "starlette_auth": lambda: starlette_auth_app(JWT_SECRET, "HS256"),
        "fastapi": fastapi_app,
        "routeguard_fastapi": lambda: ASGIGuard(fastapi_app(), policy=hs256_policy()),
    }
    return builders[name]()


def _wsgi(name: str) -> Any:
    from routeguard import WSGIGuard

    from .apps import flask_app
    from .configs import JWT_SECRET, hs256_policy
    from .floor import FloorWSGI

    app = flask_app()
    if name == "routeguard_flask":
        app.wsgi_app = WSGIGuard(app.wsgi_app, policy=hs256_policy())  # type: ignore[method-assign]
    elif name == "floor_flask":
        app.wsgi_app = FloorWSGI(app.wsgi_app, hs256_policy(), JWT_SECRET)  # type: ignore[method-assign]
    return app


#: app name -> server ("uvicorn" | "gunicorn")
APPS = {
    "starlette": "uvicorn",
    "routeguard": "uvicorn",
    "floor": "uvicorn",
    "starlette_auth": "uvicorn",
    "fastapi": "uvicorn",
    "routeguard_fastapi": "uvicorn",
    "flask": "gunicorn",
    "routeguard_flask": "gunicorn",
    "floor_flask": "gunicorn",
}


def serve(name: str, port: int) -> None:
    """Serve app ``name`` on 127.0.0.1:``port`` until killed."""
    if APPS[name] == "uvicorn":
        import uvicorn

        uvicorn.run(_asgi(name), host="127.0.0.1", port=port, http="httptools", log_level="warning",
                    access_log=False, lifespan="off")
        return
    from gunicorn.app.base import BaseApplication

    wsgi = _wsgi(name)

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {"bind": f"127.0.0.1:{port}", "workers": 1, "worker_class": "sync",
                               "loglevel": "warning", "accesslog": None}.items():
                self.cfg.set(key, value)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25: no $HOME/.gunicorn socket
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return wsgi

    _Server().run()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
