"""Import a web app by reference (``package.module:app``) and list its real routes as globs.

Read here: Starlette and FastAPI (``Route``, ``WebSocketRoute``, ``Mount`` of routers and
sub-apps, ``Host``, included routers), Flask and Quart (werkzeug's URL map,
``DispatcherMiddleware`` mounts); Django, Litestar, Pyramid, Bottle and Falcon in
:mod:`routeguard.tools.frameworks`. Apps are found through any middleware that keeps the
wrapped app in ``.app`` (``ASGIGuard``, ``WSGIGuard``, Starlette's ``WSGIMiddleware``). A
mounted app whose routes cannot be seen (``StaticFiles``, a raw ASGI callable) is listed as
``prefix/**`` for every method.

Framework parameters become glob segments: a whole-segment parameter is ``{name}``, a
``path`` converter is ``**``, a segment that mixes text and parameters is ``*``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from ..errors import AppImportError, RouteGuardError
from .frameworks import READERS
from .routeglob import STARLETTE_PARAM, WERKZEUG_PARAM, AppRoute, glob, methods_of, plain_segments, route_glob

__all__ = ["AppImportError", "AppRoute", "list_routes", "load_app"]


_MAX_DEPTH: Final = 16


def load_app(reference: str) -> Any:
    """``"package.module:attr"`` -> the object, importing from the working directory first
    (as uvicorn and gunicorn do). Raises :class:`AppImportError` with one clear line."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise AppImportError(f"{reference!r} is not MODULE:APP (for example 'myproject.main:app')")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # anything the module raises while importing is the user's to see
        raise AppImportError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise AppImportError(f"module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    return target


SUPPORTED: Final = ("Starlette/FastAPI", "Flask/Quart", "Django", "Litestar", "Pyramid", "Bottle", "Falcon")
_HINT: Final = ("to learn its routes from traffic instead, run it under routeguard in report mode with "
                "decision_log = \"decisions.jsonl\" and then 'routeguard suggest --from-log decisions.jsonl'")


def list_routes(app: Any) -> list[AppRoute]:
    """Every route of ``app`` in the framework's own order, as globs. Raises
    :class:`AppImportError` (what was tried, what to do) when the routes cannot be read or
    there are none: an empty list would look like success."""
    if not _known(app):
        raise AppImportError(
            f"cannot list the routes of a {type(app).__name__}: no router found on it or on the apps it wraps "
            f"(.app); readable are {', '.join(SUPPORTED)} apps; {_HINT}"
        )
    try:
        routes = list(_routes(app, "", 0))
    except RouteGuardError:
        raise
    except Exception as exc:  # the framework's own error while we read its router
        raise AppImportError(f"cannot read the routes of a {type(app).__name__}: {type(exc).__name__}: {exc}; "
                             f"{_HINT}") from None
    if not routes:
        raise AppImportError(f"the {type(app).__name__} app has no routes to list (its router is empty); check "
                             f"that MODULE:APP names the app after its routes are registered; {_HINT}")
    return routes


def _reader(app: Any) -> Any:
    return next((read for _, recognise, read in READERS if recognise(app)), None)


def _known(app: Any) -> bool:
    for _ in range(_MAX_DEPTH):
        if (_reader(app) is not None or _is_flask(app) or isinstance(getattr(app, "routes", None), list)
                or _is_dispatcher(app)):
            return True
        app = getattr(app, "app", None)
        if app is None:
            return False
    return False


def _is_flask(app: Any) -> bool:
    return hasattr(app, "url_map") and hasattr(app, "view_functions")


def _is_dispatcher(app: Any) -> bool:
    return isinstance(getattr(app, "mounts", None), dict) and hasattr(app, "app")


def _routes(app: Any, prefix: str, depth: int) -> Iterator[AppRoute]:
    if depth > _MAX_DEPTH:
        return
    read = _reader(app)
    if read is not None:
        yield from read(app, prefix, depth, _mounted)
        return
    if _is_flask(app):
        yield from _flask_routes(app, prefix)
        wsgi = getattr(app, "wsgi_app", None)
        for _ in range(_MAX_DEPTH):  # DispatcherMiddleware somewhere in the wsgi_app chain
            if wsgi is None:
                break
            if _is_dispatcher(wsgi):
                for mount, sub in wsgi.mounts.items():
                    yield from _mounted(sub, prefix + mount, depth + 1, mount)
                break
            wsgi = getattr(wsgi, "app", None)
        return
    if _is_dispatcher(app):
        yield from _routes(app.app, prefix, depth + 1)
        for mount, sub in app.mounts.items():
            yield from _mounted(sub, prefix + mount, depth + 1, mount)
        return
    routes = getattr(app, "routes", None)
    if isinstance(routes, list):
        yield from _starlette_routes(routes, prefix, depth)
        return
    inner = getattr(app, "app", None)
    if inner is not None:
        yield from _routes(inner, prefix, depth + 1)


def _mounted(app: Any, prefix: str, depth: int, source: str) -> Iterator[AppRoute]:
    """The routes of a mounted app, or ``prefix/**`` when they cannot be seen."""
    if _known(app):
        yield from _routes(app, prefix, depth)
    else:
        name = type(app).__name__
        yield AppRoute(glob([*plain_segments(prefix), "**"]), None, name, f"mount {source or '/'}", "mount")


def _flatten(routes: list[Any]) -> Iterator[tuple[Any, Any]]:
    """(route, view) pairs: ``view`` has the effective path, methods, name and app. Recent
    FastAPI keeps included routers lazily; its public ``iter_route_contexts`` flattens them."""
    iterate = getattr(sys.modules.get("fastapi.routing"), "iter_route_contexts", None)
    if iterate is None:
        for route in routes:
            yield route, route
        return
    for context in iterate(routes):
        yield context.original_route, context


def _starlette_routes(routes: list[Any], prefix: str, depth: int) -> Iterator[AppRoute]:
    from starlette.routing import Host, Mount, Route, WebSocketRoute

    for route, view in _flatten(routes):
        if isinstance(route, Mount):
            yield from _mounted(view.app, prefix + view.path, depth + 1, view.path)
        elif isinstance(route, Host):
            yield from _routes(view.app, prefix, depth + 1)
        elif isinstance(route, Route | WebSocketRoute):
            path = route_glob(prefix, view.path, STARLETTE_PARAM)
            name = getattr(view, "name", None) or "?"
            if isinstance(route, WebSocketRoute):
                yield AppRoute(path, ("GET",), name, prefix + view.path, "websocket")
            else:
                yield AppRoute(path, methods_of(view.methods), name, prefix + view.path)


def _flask_routes(app: Any, prefix: str) -> Iterator[AppRoute]:
    for rule in app.url_map.iter_rules():
        methods = set(rule.methods or ())
        if getattr(rule, "provide_automatic_options", False):
            methods.discard("OPTIONS")
        path = route_glob(prefix, rule.rule, WERKZEUG_PARAM)
        if getattr(rule, "websocket", False):  # Quart
            yield AppRoute(path, ("GET",), str(rule.endpoint), prefix + rule.rule, "websocket")
        else:
            yield AppRoute(path, methods_of(methods or None), str(rule.endpoint), prefix + rule.rule)
