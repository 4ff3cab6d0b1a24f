"""TOML, parsed in one place: policy files and API-key files both go through :func:`parse`."""

from __future__ import annotations

import tomllib
from typing import Any

from ..errors import PolicyError


def parse(text: str, source: str) -> dict[str, Any]:
    """The TOML document ``text``; a :class:`PolicyError` naming ``source`` when it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
