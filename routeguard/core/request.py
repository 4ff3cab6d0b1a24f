"""A frozen, I/O-free view of one request, built by the adapters and judged by the engine.

The judged path is the one the app's router dispatches on: below ``root_path`` for ASGI
(:func:`route_path`, Starlette's rule), ``PATH_INFO`` for WSGI (werkzeug's). A test proves the
two agree for the same request mounted under the same prefix.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import AmbiguousCookieError
from ._slots import fast_init, slot_setter


class HeaderMap(Mapping[str, str]):
    """Request headers by lower-case name, as an adapter indexes them (``ScopeHeaders``,
    ``EnvironHeaders``), with one set test for several names."""

    __slots__ = ()

    @abstractmethod
    def any_of(self, names: frozenset[str]) -> bool:
        """Whether any header of ``names`` (lower-case) is present."""


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


@fast_init
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
    #: Names of the cookies read through :meth:`cookie` that the request carried, in order
    #: (``"*"``: the raw ``Cookie`` header was read). None until the first such read; the guard
    #: uses it to tell a cookie-based credential (CSRF) and which cookies to withhold.
    cookie_reads: list[str] | None = field(default=None, init=False, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        """One header by lower-case name, or None (reading ``cookie`` counts as a cookie read)."""
        value = self.headers.get(name)
        if value and name == "cookie":
            self.note_cookie_read("*")
        return value

    def watched(self) -> RequestView:
        """A copy for code the guard does not control (a custom backend) that records its
        cookie reads here too: a read of the raw ``Cookie`` header through ``headers`` counts
        as reading every cookie."""
        if self.cookie_reads is None:
            _set_cookie_reads(self, [])
        view = RequestView(self.method, self.path, self.raw_path, self.query, _WatchedHeaders(self.headers, self),
                           self.prefix, self.client, self.scheme, self.websocket, self.path_error)
        _set_cookie_reads(view, self.cookie_reads)  # one list: reads through the copy count here
        return view

    def note_cookie_read(self, name: str) -> None:
        """Record that cookie ``name`` (``"*"``: the whole header) was read and present."""
        reads = self.cookie_reads
        if reads is None:
            _set_cookie_reads(self, [name])
        else:
            reads.append(name)

    def cookie(self, name: str) -> str | None:
        """One cookie value from the ``Cookie`` header, or None.

        Raises :class:`AmbiguousCookieError` when the cookie is sent twice with different
        values: frameworks disagree on which copy wins, so the guard trusts neither.
        """
        headers = self.headers
        if type(headers) is _WatchedHeaders:  # a named read is recorded by name, below
            headers = headers.inner
        raw = headers.get("cookie")
        if not raw or not name or name not in raw:
            return None
        values = cookie_values(raw, name)
        if not values:
            return None
        self.note_cookie_read(name)  # before a duplicate is refused: that cookie is withheld too
        first = values[0]
        if len(values) > 1 and any(value != first for value in values):
            raise AmbiguousCookieError(f"cookie {name!r} sent more than once")
        return first


class _WatchedHeaders(Mapping[str, str]):
    """Headers that tell their view when the ``Cookie`` header is read (see :meth:`RequestView.watched`)."""

    __slots__ = ("inner", "view")

    def __init__(self, inner: Mapping[str, str], view: RequestView) -> None:
        self.inner = inner
        self.view = view

    def __getitem__(self, name: str) -> str:
        value = self.inner[name]
        if value and name.lower() == "cookie":
            self.view.note_cookie_read("*")
        return value

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


_set_cookie_reads = slot_setter(RequestView, "cookie_reads")


def parse_cookies(header: str) -> dict[str, list[str]]:
    """Cookie header -> {name: [values]}; a malformed pair is skipped, never fatal."""
    cookies: dict[str, list[str]] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        unquoted = _unquote(value.strip())
        if unquoted is not None:
            cookies.setdefault(name, []).append(unquoted)
    return cookies


def without_cookies(header: str, names: Collection[str]) -> str:
    """``header`` (a Cookie header) without the cookies called ``names`` (``"*"``: all of them).

    Pairs are split on ``;`` and named by their stripped name, as :func:`cookie_values` reads
    them: a name the guard read is gone for every parser that splits the same way, and a parser
    that honours quotes (``a="x;session=..."``) never saw it as a cookie.
    """
    if "*" in names:
        return ""
    kept = [chunk for chunk in header.split(";") if chunk.partition("=")[0].strip() not in names]
    return ";".join(kept).strip()


def cookie_values(header: str, name: str) -> list[str]:
    """The values of cookie ``name`` in a Cookie header, in order: ``parse_cookies(header)[name]``
    without building the dict of every other cookie (a browser sends many)."""
    values = []
    for chunk in header.split(";"):
        key, sep, value = chunk.partition("=")
        if not sep or key.strip() != name:
            continue
        unquoted = _unquote(value.strip())
        if unquoted is not None:
            values.append(unquoted)
    return values


def _unquote(value: str) -> str | None:
    """A cookie value with RFC 6265 quotes removed (None: a malformed quoted value, skipped)."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    from http.cookies import CookieError, SimpleCookie  # a quoted value is rare: loaded when seen

    try:
        parsed = SimpleCookie(f"x={value}")
    except CookieError:
        return None
    return parsed["x"].value if "x" in parsed else value
