"""An app route as routeguard sees it (:class:`AppRoute`), and how a framework's path syntax
becomes a routeguard glob: a whole-segment parameter is ``{name}``, a ``path`` converter is
``**``, a segment that mixes text and parameters is ``*``, the rest is literal."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ..core.rules import parse_pattern
from ..errors import PatternError


@dataclass(frozen=True, slots=True)
class AppRoute:
    """One route of the app: its glob, methods (None: any method), where it came from, and a
    warning when the framework matches more than the glob says (an unanchored Django regex)."""

    path: str
    methods: tuple[str, ...] | None
    endpoint: str
    source: str  # the route as the framework writes it
    kind: str = "http"  # "http", "websocket" or "mount" (an opaque mounted app)
    warning: str = ""


#: ``<name>``, ``<converter:name>``, ``<converter(args):name>`` (werkzeug, Django's ``path()``).
WERKZEUG_PARAM: Final = re.compile(r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\((?P<args>.*?)\))?:)?(?P<name>[A-Za-z_]\w*)>")
#: ``{name}``, ``{name:converter}`` (Starlette, Litestar).
STARLETTE_PARAM: Final = re.compile(r"\{(?P<name>[A-Za-z_]\w*)(?::(?P<converter>[A-Za-z_]\w*))?\}")


def route_glob(prefix: str, path: str, param: re.Pattern[str]) -> str:
    """A router's path (below a mount ``prefix``) as a routeguard glob."""
    segments = [*plain_segments(prefix)]
    for text in path.strip("/").split("/") if path.strip("/") else []:
        whole = param.fullmatch(text)
        if whole:
            segments.append("**" if whole.group("converter") == "path" else "{" + whole.group("name") + "}")
        elif param.search(text):
            segments.append("*")
        elif text:
            segments.append(text)
    return glob(segments)


def plain_segments(prefix: str) -> list[str]:
    """The non-empty segments of a mount prefix."""
    return [s for s in prefix.split("/") if s]


def glob(segments: list[str]) -> str:
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


def methods_of(methods: Iterable[str] | None) -> tuple[str, ...] | None:
    """Sorted upper-case methods without the HEAD that GET implies; None means any method."""
    if not methods:
        return None
    found = {str(m).upper() for m in methods}
    if "GET" in found:
        found.discard("HEAD")
    return tuple(sorted(found))
