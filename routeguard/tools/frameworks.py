"""Route readers for Django, Litestar, Pyramid, Bottle and Falcon (Starlette, FastAPI, Flask and
Quart are read in :mod:`routeguard.tools.introspect`).

Each reader takes the framework's own route list (Django's URL resolver, Litestar's
``app.routes``, Pyramid's routes mapper and view introspector, Bottle's ``app.routes``,
``falcon.inspect``) and yields :class:`AppRoute` globs. Frameworks are recognised without
importing them: a module that is not loaded cannot have built the app.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, Final

from .routeglob import WERKZEUG_PARAM, AppRoute, methods_of, plain_segments, route_glob

Mount = Callable[[Any, str, int, str], Iterator[AppRoute]]

_LITESTAR_PARAM: Final = re.compile(r"\{(?P<name>[A-Za-z_]\w*)(?::(?P<converter>[A-Za-z_]\w*))?\}")
_PYRAMID_PARAM: Final = re.compile(r"\{(?P<name>[A-Za-z_]\w*)(?::(?P<args>(?:[^{}]|\{[^{}]*\})*))?\}")
_BOTTLE_PARAM: Final = re.compile(r"<(?P<name>[A-Za-z_]\w*)?(?::(?P<converter>\w*)(?::(?P<args>(?:\\.|[^\\>])*))?)?>")
_FALCON_PARAM: Final = re.compile(
    r"\{(?P<name>[A-Za-z_]\w*)(?::(?P<converter>[A-Za-z_]\w*)(?:\((?P<args>[^)]*)\))?)?\}")


def _module_of(app: Any) -> str:
    return type(app).__module__.split(".")[0]


def _loaded(module: str, name: str) -> Any:
    found = sys.modules.get(module)
    return getattr(found, name, None) if found is not None else None


def _can_hold_slash(regex: str) -> bool:
    """True when a placeholder's regex can match across ``/`` (``.*``, ``.+``, ``[\\w/]+``)."""
    if "/" in regex.replace("[^/", ""):
        return True
    try:
        return re.fullmatch(regex, "a/b") is not None
    except re.error:
        return True


# -- Django --------------------------------------------------------------------------------------

def is_django(app: Any) -> bool:
    """A Django WSGI or ASGI handler (``mysite.wsgi:application``)."""
    base = _loaded("django.core.handlers.base", "BaseHandler")
    return base is not None and isinstance(app, base)


def django_routes(app: Any, prefix: str, depth: int, mount: Mount) -> Iterator[AppRoute]:
    """Every URL pattern of the project's root URLconf (``settings.ROOT_URLCONF``), includes,
    namespaces, the admin site and DRF routers flattened."""
    from django.urls import URLResolver, get_resolver

    def walk(patterns: Any, route: str, raw: str, names: tuple[str, ...], warn: str) -> Iterator[AppRoute]:
        for pattern in patterns:
            written = raw + str(pattern.pattern)
            endpoint = not isinstance(pattern, URLResolver)
            text, note = _django_piece(pattern.pattern, endpoint)
            note = warn or note
            if not endpoint:
                ns = (*names, pattern.namespace) if pattern.namespace else names
                yield from walk(pattern.url_patterns, route + text, written, ns, note)
                continue
            full = route + text
            name = ":".join((*names, pattern.name)) if pattern.name else _callable_name(pattern.callback)
            yield AppRoute(route_glob(prefix, full, WERKZEUG_PARAM), _django_methods(pattern.callback), name,
                           prefix + "/" + written, warning=note)

    resolver = get_resolver()
    yield from walk(resolver.url_patterns, "", "", (), "")


def _callable_name(view: Any) -> str:
    cls = getattr(view, "view_class", None)
    if isinstance(cls, type):
        return cls.__name__
    return str(getattr(view, "__qualname__", None) or getattr(view, "__name__", None) or type(view).__name__)


def _django_piece(pattern: Any, endpoint: bool) -> tuple[str, str]:
    """One pattern as route text in werkzeug's ``<conv:name>`` syntax (Django's own for
    ``path()``), and a warning when Django matches a regex more widely than it reads: without
    ``^`` it is searched anywhere in the path, an endpoint without ``$`` also matches longer paths."""
    kind = type(pattern).__name__
    if kind == "RoutePattern":
        return str(pattern), ""
    if kind == "LocalePrefixPattern":
        return "<lang>/", ""
    regex = str(pattern)
    text = _regex_route(regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z"))
    problems = []
    if not regex.startswith(("^", ".*")) and not re.match(r"\(\?P<\w+>\.\*\)", regex):
        text = "<path:_any>/" + text
        problems.append("has no '^': Django searches it anywhere in the path, so it is also reached under "
                        "other prefixes")
    if endpoint and not regex.endswith(("$", r"\Z")):
        text = text.rstrip("/") + "/<path:_rest>"
        problems.append("has no '$': it also matches every longer path")
    warning = f"re_path {regex!r} " + "; it ".join(problems) + "; anchor it" if problems else ""
    return text, warning


_GROUP: Final = re.compile(r"\((\?P<(?P<name>\w+)>|\?:)?")


def _regex_route(regex: str) -> str:
    """A Django regex as route text: named groups become ``<name>`` (``<path:name>`` when they can
    hold a ``/``), escapes are unescaped, and a segment with other regex syntax becomes ``*``."""
    out: list[str] = []
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\" and i + 1 < len(regex):
            nxt = regex[i + 1]
            out.append(nxt if not nxt.isalnum() else "\x00")
            i += 2
            continue
        if char == "(":
            depth, j = 1, i + 1
            while j < len(regex) and depth:
                if regex[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(regex[j], 0)
                j += 1
            group = regex[i:j]
            head = _GROUP.match(group)
            name = head.group("name") if head and head.group("name") else "arg"
            body = group[head.end() if head else 1:-1]
            out.append(f"<path:{name}>" if _can_hold_slash(body) else f"<{name}>")
            i = j
            if i < len(regex) and regex[i] in "?*+":
                i += 1
            continue
        out.append("\x00" if char in ".[]{}?*+|" else char)
        if char == "[":
            i = regex.find("]", i + 2) + 1 or len(regex)
            continue
        i += 1
    segments = "".join(out).split("/")
    return "/".join("<re>x" if "\x00" in s and not s.startswith("<") else s.replace("\x00", "") for s in segments)


def _django_methods(view: Any) -> tuple[str, ...] | None:
    """DRF viewset actions, a class-based view's handlers, ``require_http_methods``; None (any
    method) for a function view with no restriction."""
    actions = getattr(view, "actions", None)
    if isinstance(actions, dict) and actions:
        return methods_of(actions)
    cls = getattr(view, "view_class", None) or getattr(view, "cls", None)
    if isinstance(cls, type):
        names = [m for m in getattr(cls, "http_method_names", ()) if m != "options" and hasattr(cls, m)]
        return methods_of(names) if names else None
    try:
        allowed = inspect.getclosurevars(view).nonlocals.get("request_method_list")
    except (TypeError, ValueError):
        allowed = None
    if isinstance(allowed, list | tuple) and allowed:
        return methods_of(allowed)
    return None


# -- Litestar ------------------------------------------------------------------------------------

def is_litestar(app: Any) -> bool:
    """A Litestar application."""
    return _module_of(app) == "litestar" and isinstance(getattr(app, "routes", None), list)


def litestar_routes(app: Any, prefix: str, depth: int, mount: Mount) -> Iterator[AppRoute]:
    """Litestar's flattened routes; the ``OPTIONS`` handler it adds to every path is left out,
    ASGI mounts are opaque sub-apps."""
    for route in app.routes:
        kind = type(route).__name__
        glob = route_glob(prefix, route.path, _LITESTAR_PARAM)
        if kind == "WebSocketRoute":
            yield AppRoute(glob, ("GET",), route.route_handler.handler_name, prefix + route.path, "websocket")
        elif kind == "ASGIRoute":
            handler = route.route_handler
            if getattr(handler, "is_mount", False):
                yield from mount(handler.fn, prefix + route.path, depth + 1, route.path)
            else:
                yield AppRoute(glob, None, handler.handler_name, prefix + route.path)
        else:
            for handler in route.route_handlers:
                if handler.handler_name == "options_handler":
                    continue
                yield AppRoute(glob, methods_of(handler.http_methods), handler.handler_name, prefix + route.path)


# -- Pyramid -------------------------------------------------------------------------------------

def is_pyramid(app: Any) -> bool:
    """A Pyramid router (``config.make_wsgi_app()``)."""
    return _module_of(app) == "pyramid" and hasattr(getattr(app, "registry", None), "introspector")


def pyramid_routes(app: Any, prefix: str, depth: int, mount: Mount) -> Iterator[AppRoute]:
    """Pyramid's routes mapper, with methods from each route's views (``request_method``)."""
    from pyramid.interfaces import IRoutesMapper

    mapper = app.registry.queryUtility(IRoutesMapper)
    views: dict[str, set[str] | None] = {}
    for item in app.registry.introspector.get_category("views") or ():
        view = item["introspectable"]
        name = view["route_name"]
        if name is None:
            continue
        methods = view["request_methods"]
        if methods is None or views.get(name, set()) is None:
            views[name] = None
        else:
            found = views.setdefault(name, set())
            if found is not None:
                found.update([methods] if isinstance(methods, str) else methods)
    for route in mapper.get_routes() if mapper is not None else ():
        pattern = "/" + route.pattern.lstrip("/")
        text = re.sub(r"\*(\w+)$", r"<path:\1>", pattern)
        text = _PYRAMID_PARAM.sub(
            lambda m: f"<path:{m['name']}>" if m["args"] and _can_hold_slash(m["args"]) else f"<{m['name']}>", text)
        found = views.get(route.name)
        for predicate in getattr(route, "predicates", ()):  # add_route(..., request_method=...)
            if type(predicate).__name__ == "RequestMethodPredicate":
                limit = {str(m).upper() for m in predicate.val}
                found = limit if found is None else found & limit
        yield AppRoute(route_glob(prefix, text, WERKZEUG_PARAM), methods_of(found) if found else None, route.name,
                       prefix + pattern)


# -- Bottle --------------------------------------------------------------------------------------

def is_bottle(app: Any) -> bool:
    """A Bottle application."""
    return _module_of(app) == "bottle" and isinstance(getattr(app, "routes", None), list)


def bottle_routes(app: Any, prefix: str, depth: int, mount: Mount) -> Iterator[AppRoute]:
    """Bottle's routes (a Bottle sub-app's routes are merged by ``mount``; a mounted WSGI app is
    an opaque sub-app)."""
    for route in app.routes:
        target = route.config.get("mountpoint.target")
        mountpoint = route.config.get("mountpoint.prefix")
        if target is not None and mountpoint:
            yield from mount(target, prefix + "/" + str(mountpoint).strip("/"), depth + 1, str(mountpoint))
            continue
        text = _BOTTLE_PARAM.sub(lambda m: _bottle_param(m), route.rule)
        method = str(route.method).upper()
        name = route.name or _callable_name(route.callback)
        yield AppRoute(route_glob(prefix, text, WERKZEUG_PARAM), None if method == "ANY" else methods_of([method]),
                       name, prefix + route.rule)


def _bottle_param(match: re.Match[str]) -> str:
    name = match["name"] or "arg"
    if match["converter"] == "path" or (match["converter"] == "re" and _can_hold_slash(match["args"] or ".*")):
        return f"<path:{name}>"
    return f"<{name}>"


# -- Falcon --------------------------------------------------------------------------------------

def is_falcon(app: Any) -> bool:
    """A Falcon WSGI or ASGI application."""
    return _module_of(app) == "falcon" and hasattr(app, "_router")


def falcon_routes(app: Any, prefix: str, depth: int, mount: Mount) -> Iterator[AppRoute]:
    """``falcon.inspect``: each route's implemented responders (not the 405 defaults), and
    static routes as ``prefix/**``."""
    from falcon import inspect as falcon_inspect

    for info in falcon_inspect.inspect_routes(app):
        methods = [m.method for m in info.methods if not m.internal and m.method != "WEBSOCKET"]
        text = _FALCON_PARAM.sub(lambda m: f"<path:{m['name']}>" if m["converter"] == "path" else f"<{m['name']}>",
                                 info.path)
        if methods:
            yield AppRoute(route_glob(prefix, text, WERKZEUG_PARAM), methods_of(methods), info.class_name,
                           prefix + info.path)
        if any(m.method == "WEBSOCKET" and not m.internal for m in info.methods):
            yield AppRoute(route_glob(prefix, text, WERKZEUG_PARAM), ("GET",), info.class_name, prefix + info.path,
                           "websocket")
    for sink in falcon_inspect.inspect_sinks(app):  # add_sink: a prefix (a regex) taking every method
        prefix_text = str(sink.prefix)
        plain = re.fullmatch(r"[\w./-]*", prefix_text) is not None
        segments = [*plain_segments(prefix), *(plain_segments(prefix_text) if plain else []), "**"]
        yield AppRoute("/" + "/".join(segments), None, "sink", f"sink {prefix_text}", "mount",
                       warning="" if plain else f"sink {prefix_text!r} is a regex: listed as every path")
    for static in falcon_inspect.inspect_static_routes(app):
        segments = [*plain_segments(prefix), *plain_segments(static.prefix), "**"]
        yield AppRoute("/" + "/".join(segments), ("GET",), "static", f"static {static.prefix}", "mount")


#: (name, recogniser, reader) for every framework this module reads.
READERS: Final[tuple[tuple[str, Callable[[Any], bool], Callable[[Any, str, int, Mount], Iterator[AppRoute]]], ...]] = (
    ("Django", is_django, django_routes),
    ("Litestar", is_litestar, litestar_routes),
    ("Pyramid", is_pyramid, pyramid_routes),
    ("Bottle", is_bottle, bottle_routes),
    ("Falcon", is_falcon, falcon_routes),
)
