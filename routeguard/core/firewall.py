"""Strict request firewall: rejects paths that routers and proxies may resolve differently.

Defends against authorization bypass through path confusion: a proxy or router that decodes,
normalizes or splits a path differently from the guard would otherwise reach a route the
guard judged under another name (``/public/..%2fadmin``, ``/admin;x=1``, ``//admin``,
``%252e%252e``). Every check runs on the raw target as received and on the decoded path, and
each class of ambiguity can be relaxed by name for an app that needs it (Spring Security's
``StrictHttpFirewall`` model). The query string is never examined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote_to_bytes

from ..errors import PolicyError

NON_ORIGIN_FORM: Final = "non_origin_form"
CONTROL_CHARACTER: Final = "control_character"
MALFORMED_ENCODING: Final = "malformed_encoding"
INVALID_UTF8: Final = "invalid_utf8"
DOUBLE_ENCODING: Final = "double_encoding"
ENCODED_SLASH: Final = "encoded_slash"
BACKSLASH: Final = "backslash"
EMPTY_SEGMENT: Final = "empty_segment"
DOT_SEGMENT: Final = "dot_segment"
SEMICOLON: Final = "semicolon"

#: Every class of ambiguity, by the name a policy uses to relax it.
CLASSES: Final = (
    NON_ORIGIN_FORM,
    CONTROL_CHARACTER,
    MALFORMED_ENCODING,
    INVALID_UTF8,
    DOUBLE_ENCODING,
    ENCODED_SLASH,
    BACKSLASH,
    EMPTY_SEGMENT,
    DOT_SEGMENT,
    SEMICOLON,
)

# A path made only of unreserved characters, each segment starting with a non-dot: nothing
# in it can be ambiguous, so the per-class checks are skipped (the common case).
_PLAIN: Final = re.compile(r"/|(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?")
_ABSOLUTE_FORM: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_PERCENT: Final = re.compile(r"%(.?.?)")
_HEX: Final = re.compile(r"[0-9A-Fa-f]{2}")
_ESCAPE_IN_DECODED: Final = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# "." or "..", also with a ";param" suffix (Tomcat strips path parameters: "..;" is "..").
_DOT_SEGMENT: Final = re.compile(r"(?:^|/)\.\.?(?:;[^/]*)?(?:/|$)")
_ENCODED_CONTROL: Final = frozenset(f"{b:02x}" for b in (*range(0x20), 0x7F))
_ENCODED_SLASHES: Final = frozenset(("2f", "5c"))


#: ``is_plain(path)``: whether ``path`` is made of unreserved characters only, no segment
#: starting with a dot: nothing in it can be ambiguous, no class applies (the fast case). A
#: C-level call (the adapters ask it on every request).
is_plain: Final = _PLAIN.fullmatch


class Firewall:
    """Checks a request path against every class not explicitly relaxed.

    ``Firewall(relax=["semicolon"]).check(raw_path, path)`` returns the name of the first
    violated class, or None when the path is unambiguous.
    """

    __slots__ = ("relaxed",)

    def __init__(self, relax: Iterable[str] = ()) -> None:
        relaxed = frozenset(relax)
        unknown = sorted(relaxed.difference(CLASSES))
        if unknown:
            raise PolicyError(
                f"firewall.relax: unknown class {unknown[0]!r}; known classes: {', '.join(CLASSES)}"
            )
        self.relaxed = relaxed

    def check(self, raw_path: str | None, path: str, path_error: str | None = None) -> str | None:
        """Name of the first ambiguity class found in the raw target or decoded path, or None."""
        if path_error is not None and path_error not in self.relaxed:
            return path_error
        if (raw_path is None or raw_path == path) and is_plain(path) is not None:
            return None
        for violation in self._violations(raw_path, path):
            if violation not in self.relaxed:
                return violation
        return None

    @staticmethod
    def _violations(raw_path: str | None, path: str) -> Iterable[str]:
        """Every class the path violates, raw target first (lazily; the caller stops early)."""
        decoded_views = [path]
        if raw_path is not None:
            absolute = _ABSOLUTE_FORM.match(raw_path)
            if absolute:  # the server mapped an absolute-form target; judge its path part
                raw_path = raw_path[absolute.end():] or "/"
            if not raw_path.startswith("/"):
                yield NON_ORIGIN_FORM
            if _CONTROL.search(raw_path):
                yield CONTROL_CHARACTER
            escapes = [m.group(1) for m in _PERCENT.finditer(raw_path)]
            if any(not _HEX.fullmatch(e) for e in escapes):
                yield MALFORMED_ENCODING
            lowered = {e.lower() for e in escapes}
            if lowered & _ENCODED_CONTROL:
                yield CONTROL_CHARACTER
            try:
                decoded_views.append(unquote_to_bytes(raw_path).decode("utf-8"))
            except UnicodeDecodeError:
                yield INVALID_UTF8
            if "25" in lowered and re.search(r"%25[0-9A-Fa-f]{2}", raw_path):
                yield DOUBLE_ENCODING
            if lowered & _ENCODED_SLASHES:
                yield ENCODED_SLASH
            if "\\" in raw_path:
                yield BACKSLASH
        for view in decoded_views:
            if not view.startswith("/"):
                yield NON_ORIGIN_FORM
            if _CONTROL.search(view):
                yield CONTROL_CHARACTER
            if _ESCAPE_IN_DECODED.search(view):
                yield DOUBLE_ENCODING
            if "\\" in view:
                yield BACKSLASH
            if "//" in view:
                yield EMPTY_SEGMENT
            if _DOT_SEGMENT.search(view):
                yield DOT_SEGMENT
            if ";" in view:
                yield SEMICOLON
