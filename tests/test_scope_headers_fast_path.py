"""ScopeHeaders: the one-pass index of lower-case, unrepeated names gives what the slow path gives."""

from __future__ import annotations

import pytest

from routeguard.asgi import ScopeHeaders


@pytest.mark.parametrize(
    ("raw", "name", "expected"),
    [
        pytest.param([(b"authorization", b"Bearer t")], "authorization", "Bearer t", id="lower-unique"),
        pytest.param([(b"Authorization", b"Bearer t")], "authorization", "Bearer t", id="upper-name"),
        pytest.param([(b"cookie", b"a=1"), (b"cookie", b"b=2")], "cookie", "a=1; b=2", id="repeated-cookie"),
        pytest.param([(b"x-http-method", b"PUT"), (b"x-http-method", b"DELETE")], "x-http-method", "PUT, DELETE",
                     id="repeated-header"),
        pytest.param([(b"Cookie", b"a=1"), (b"cookie", b"b=2")], "cookie", "a=1; b=2", id="repeated-mixed-case"),
        pytest.param(((b"cookie", b"a=1"), (b"cookie", b"b=2")), "cookie", "a=1; b=2", id="tuple-headers"),
        pytest.param([(b"accept", b"*/*")], "cookie", None, id="absent"),
        pytest.param([(b"1", b"x"), (b"X-Method-Override", b"PUT")], "x-method-override", "PUT",
                     id="uncased-and-upper"),
    ],
)
def test_lookup_matches_slow_path(raw: list[tuple[bytes, bytes]], name: str, expected: str | None) -> None:
    assert ScopeHeaders(raw).get(name) == expected
    assert dict(ScopeHeaders(raw)).get(name) == expected
