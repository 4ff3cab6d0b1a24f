"""An immutable, hashable empty mapping, usable as a dataclass default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final


class _EmptyMapping(Mapping[str, Any]):
    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


EMPTY: Final[Mapping[str, Any]] = _EmptyMapping()
