"""What building a policy reads: environment variables, files named in it, imported references.

Only :mod:`routeguard.policy.build` (and the settings' ``build`` methods it calls) use these;
validation never does. A failure is a :class:`PolicyError` naming the key, never the secret.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from ..errors import PolicyError
from .settings import check_ref

__all__ = ["env_secret", "file_text", "import_ref"]


def env_secret(env: str, where: str) -> str:
    """The value of environment variable ``env`` (PolicyError naming ``where`` if unset)."""
    value = os.environ.get(env)
    if not value:
        raise PolicyError(f"{where}: environment variable {env!r} is not set or empty")
    return value


def file_text(path: Path, where: str) -> str:
    """The text of a file named in the policy."""
    full = path  # resolved against the policy file by validation
    try:
        return full.read_text()
    except OSError as exc:
        raise PolicyError(f"{where}: cannot read {str(full)!r} ({exc.strerror})") from None


def import_ref(ref: Any, where: str) -> Any:
    """``"package.module:attribute"`` -> the object; any other value is returned as is."""
    if not isinstance(ref, str):  # a callable, or an object such as a custom backend instance
        return ref
    try:
        check_ref(ref)
    except ValueError as exc:
        raise PolicyError(f"{where}: {exc}") from None
    module_name, _, attribute = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as exc:  # any import-time failure is a load error, named
        raise PolicyError(f"{where}: cannot import {ref!r} ({type(exc).__name__}: {exc})") from None
    return target
