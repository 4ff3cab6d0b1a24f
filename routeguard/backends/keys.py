"""What the policy model checks of keys before any backend exists: the JWT algorithm families
and an API key's digest. Pure and light: ``routeguard check`` imports it, never the backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..errors import PolicyError

HMAC: Final = "HMAC"
RSA: Final = "RSA"
EC: Final = "EC"
OKP: Final = "OKP"

#: Algorithm -> key family. Anything not listed (``none`` above all) is refused at load.
FAMILIES: Final = {
    "HS256": HMAC, "HS384": HMAC, "HS512": HMAC,
    "RS256": RSA, "RS384": RSA, "RS512": RSA, "PS256": RSA, "PS384": RSA, "PS512": RSA,
    "ES256": EC, "ES384": EC, "ES512": EC, "ES256K": EC,
    "EdDSA": OKP,
}  # fmt: skip

#: How an API key's digest is written: ``sha256:<64 hex digits>``.
DIGEST_PREFIX: Final = "sha256:"


def algorithm_family(algorithms: Sequence[str]) -> str:
    """The one key family ``algorithms`` share; :class:`PolicyError` if none or mixed."""
    if not algorithms:
        raise PolicyError("auth.bearer.algorithms: an explicit, non-empty allowlist is required")
    families = set()
    for alg in algorithms:
        if alg not in FAMILIES:
            raise PolicyError(
                f"auth.bearer.algorithms: {alg!r} is not allowed; choose from {', '.join(FAMILIES)}"
            )
        families.add(FAMILIES[alg])
    if len(families) > 1:
        raise PolicyError(
            "auth.bearer.algorithms: mixes key families "
            f"({', '.join(sorted(families))}); one key must never verify two kinds of token"
        )
    return families.pop()


def parse_key_digest(value: str) -> bytes:
    """``sha256:<64 hex>`` -> raw digest bytes (PolicyError otherwise)."""
    hex_part = value[len(DIGEST_PREFIX):] if value.startswith(DIGEST_PREFIX) else ""
    try:
        raw = bytes.fromhex(hex_part)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise PolicyError(f"auth.api_key: {value[:16]!r}... is not 'sha256:<64 hex digits>'")
    return raw
