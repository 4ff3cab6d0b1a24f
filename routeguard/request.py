"""A frozen, I/O-free view of one request, built by the adapters and judged by the engine.

Both adapters build it through :func:`route_path`, so ASGI ``root_path`` and WSGI
``SCRIPT_NAME`` mounts yield the same judged path for the same request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie

from .errors import AuthenticationError


def route_path(full_path: str, prefix: str) -> str:
    """The path the mounted app's router dispatches on: ``full_path`` below ``prefix``.

    Same rule as Starlette's ``get_route_path``: the prefix is removed only when it is a
    whole leading segment run of the path.
    """
    if not prefix or not full_path.startswith(prefix):
        return full_path or "/"
    rest = full_path[len(prefix):]
    if not rest:
        return "/"
    return rest if rest[0] == "/" else full_path


@dataclass(frozen=True, slots=True)
class RequestView:
    """What the guard knows about a request: enough to judge it, nothing to answer it.

    ``path`` is the percent-decoded path below the mount prefix; ``raw_path`` is the target's
    path exactly as received (``None`` when the server does not expose it); ``headers`` has
    lower-case names; ``prefix`` is the mount point (ASGI ``root_path``, WSGI ``SCRIPT_NAME``).
    """

    method: str
    path: str
    raw_path: str | None = None
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""
    client: str | None = None
    scheme: str = "http"
    websocket: bool = False
    path_error: str | None = None  # set by the adapter when the path could not be decoded

    def header(self, name: str) -> str | None:
        """One header by lower-case name, or None."""
        return self.headers.get(name)

    def cookie(self, name: str) -> str | None:
        """One cookie value from the ``Cookie`` header, or None.

        Raises :class:`AuthenticationError` when the cookie is sent twice with different
        values: frameworks disagree on which copy wins, so the guard trusts neither.
        """
        raw = self.headers.get("cookie")
        if not raw or name not in raw:
            return None
        values = parse_cookies(raw).get(name)
        if not values:
            return None
        if len(set(values)) > 1:
            raise AuthenticationError(f"cookie {name!r} sent more than once")
        return values[0]


def parse_cookies(header: str) -> dict[str, list[str]]:
    """Cookie header -> {name: [values]}; a malformed pair is skipped, never fatal."""
    cookies: dict[str, list[str]] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                parsed = SimpleCookie(f"x={value}")
            except CookieError:
                continue
            value = parsed["x"].value if "x" in parsed else value
        cookies.setdefault(name, []).append(value)
    return cookies
