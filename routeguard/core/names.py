"""The names a policy gives, checked when it loads: claim paths and the login redirect's query
parameter. Apart from the request-time modules that read them (claims, responses), so that
validating a policy (``routeguard check``) loads neither those nor what they import."""

from __future__ import annotations

import re
from typing import Final

_NEXT_PARAM: Final = re.compile(r"[A-Za-z0-9_.~-]{1,64}")


def check_claim_name(name: str, where: str) -> str:
    """``name`` if it can name a claim (load-time check); ValueError otherwise."""
    if not name or name != name.strip():
        raise ValueError(f"{where}: {name!r} is not a claim name or dotted path")
    return name


def check_next_param(name: str) -> str:
    """``name`` if it can be a query parameter name without encoding; ValueError otherwise."""
    if not _NEXT_PARAM.fullmatch(name):
        raise ValueError(f"{name!r} is not a query parameter name such as 'next' or 'return_to'")
    return name
