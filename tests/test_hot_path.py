"""Hot path (issue 16): the ASGI header view scans the scope's header list once per request,
and decides exactly as a per-lookup scan did (repeated headers joined, any name case)."""

from __future__ import annotations

import pytest

from routeguard.asgi import ScopeHeaders

RAW = [
    (b"host", b"example.test"),
    (b"Authorization", b"Bearer abc"),
    (b"cookie", b"a=1"),
    (b"x-http-method-override", b"DELETE"),
    (b"COOKIE", b"b=2"),
    (b"accept", b"text/html"),
    (b"accept", b"application/json"),
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("authorization", "Bearer abc", id="mixed-case-raw-name"),
        pytest.param("Authorization", "Bearer abc", id="mixed-case-lookup"),
        pytest.param("cookie", "a=1; b=2", id="cookies-joined-with-semicolon"),
        pytest.param("accept", "text/html, application/json", id="others-joined-with-comma"),
        pytest.param("x-http-method-override", "DELETE", id="override-header"),
        pytest.param("x-method-override", None, id="absent"),
        pytest.param("x-unknown", None, id="absent-uncommon-name"),
    ],
)
def test_lookup(name: str, expected: str | None) -> None:
    assert ScopeHeaders(RAW).get(name) == expected


class _CountingList(list[tuple[bytes, bytes]]):
    scans = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        type(self).scans += 1
        return super().__iter__()


def test_headers_are_scanned_once_for_many_lookups() -> None:
    raw = _CountingList(RAW)
    headers = ScopeHeaders(raw)
    for name in ("authorization", "cookie", "x-http-method-override", "x-http-method", "x-method-override", "accept"):
        headers.get(name)
    assert _CountingList.scans == 1


def test_mapping_view_decodes_every_header() -> None:
    headers = ScopeHeaders(RAW)
    assert dict(headers) == {
        "host": "example.test", "authorization": "Bearer abc", "cookie": "a=1; b=2",
        "x-http-method-override": "DELETE", "accept": "text/html, application/json",
    }
    with pytest.raises(KeyError):
        headers["x-missing"]
