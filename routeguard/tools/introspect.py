"""Import a web app by reference (``package.module:app``) and list its real routes as globs.

Supported: Starlette and FastAPI (``Route``, ``WebSocketRoute``, ``Mount`` of routers and
sub-apps, ``Host``, included routers), Flask (werkzeug's URL map, ``DispatcherMiddleware``
mounts), through any middleware that keeps the wrapped app in ``.app`` (``ASGIGuard``,
``WSGIGuard``, Starlette's ``WSGIMiddleware``). A mounted app whose routes cannot be seen
(``StaticFiles``, a raw ASGI callable) is listed as ``prefix/**`` for every method.

Framework parameters become glob segments: a whole-segment parameter is ``{name}``, a
``path`` converter is ``**``, a segment that mixes text and parameters is ``*``.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..core.rules import parse_pattern
from ..errors import PatternError, RouteGuardError


class AppImportError(RouteGuardError):
    """Raised when ``MODULE:APP`` cannot be imported or is not an app whose routes we can list."""


@dataclass(frozen=True, slots=True)
class AppRoute:
    """One route of the app: its glob, methods (None: any method) and where it came from."""

    path: str
    methods: tuple[str, ...] | None
    endpoint: str
    source: str  # the route as the framework writes it
    kind: str = "http"  # "http", "websocket" or "mount" (an opaque mounted app)


_MAX_DEPTH: Final = 16
_WERKZEUG_PARAM: Final = re.compile(
    r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\((?P<args>.*?)\))?:)?(?P<name>[A-Za-z_]\w*)>"
)
_STARLETTE_PARAM: Final = re.compile(r"\{(?P<name>[A-Za-z_]\w*)(?::(?P<converter>[A-Za-z_]\w*))?\}")


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


def list_routes(app: Any) -> list[AppRoute]:
    """Every route of ``app`` in the framework's own order, as globs."""
    if not _known(app):
        raise AppImportError(
            f"cannot list the routes of a {type(app).__name__}: supported are Starlette/FastAPI and Flask apps"
        )
    return list(_routes(app, "", 0))


def _known(app: Any) -> bool:
    for _ in range(_MAX_DEPTH):
        if _is_flask(app) or isinstance(getattr(app, "routes", None), list) or _is_dispatcher(app):
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
        yield AppRoute(_glob([*_plain_segments(prefix), "**"]), None, name, f"mount {source or '/'}", "mount")


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
            path = _starlette_glob(prefix, view.path)
            name = getattr(view, "name", None) or "?"
            if isinstance(route, WebSocketRoute):
                yield AppRoute(path, ("GET",), name, prefix + view.path, "websocket")
            else:
                yield AppRoute(path, _methods(view.methods), name, prefix + view.path)


def _flask_routes(app: Any, prefix: str) -> Iterator[AppRoute]:
    for rule in app.url_map.iter_rules():
        methods = set(rule.methods or ())
        if getattr(rule, "provide_automatic_options", False):
            methods.discard("OPTIONS")
        glob = _route_glob(prefix, rule.rule, _WERKZEUG_PARAM)
        yield AppRoute(glob, _methods(methods or None), str(rule.endpoint), prefix + rule.rule)


def _route_glob(prefix: str, path: str, param: re.Pattern[str]) -> str:
    """A router's path as a routeguard glob: a whole-segment parameter is ``{name}`` (``**`` for a
    path converter), a segment with a parameter inside it is ``*``, the rest is literal."""
    segments = [*_plain_segments(prefix)]
    for text in path.strip("/").split("/") if path.strip("/") else []:
        whole = param.fullmatch(text)
        if whole:
            segments.append("**" if whole.group("converter") == "path" else "{" + whole.group("name") + "}")
        elif param.search(text):
            segments.append("*")
        else:
            segments.append(text)
    return _glob(segments)


def _starlette_glob(prefix: str, path: str) -> str:
    return _route_glob(prefix, path, _STARLETTE_PARAM)


def _plain_segments(prefix: str) -> list[str]:
    return [s for s in prefix.split("/") if s]


def _glob(segments: list[str]) -> str:
    """Join segments into a pattern that routeguard accepts: repeated parameter names,
    ``**`` runs and segments no rule could write become ``*`` (or are merged)."""
    cleaned: list[str] = []
    names: set[str] = set()
    for seg in segments:
        if seg == "**" and cleaned and cleaned[-1] == "**":
            continue
        if seg.startswith("{"):
            if seg in names:
                seg = "*"
            names.add(seg)
        elif seg not in ("*", "**"):
            try:
                parse_pattern("/" + seg)
            except PatternError:
                seg = "*"
        cleaned.append(seg)
    return "/" + "/".join(cleaned)


def _methods(methods: Any) -> tuple[str, ...] | None:
    """Sorted methods without the HEAD that GET implies; None means any method."""
    if not methods:
        return None
    found = {str(m).upper() for m in methods}
    if "GET" in found:
        found.discard("HEAD")
    return tuple(sorted(found))
