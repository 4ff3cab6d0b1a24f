"""One helper for the value classes built on every request (request view, auth result, route,
decision, effect): a frozen, slotted dataclass whose ``__init__`` fills the slots through their
descriptors, about three times cheaper than the frozen dataclass ``__init__`` (which goes
through ``object.__setattr__`` once per field). Each field is written once, in the class body::

    @fast_init
    @dataclass(frozen=True, slots=True)
    class Route:
        rule: CompiledRule | None
        params: Mapping[str, str] = EMPTY

Type checkers see the dataclass's own signature; at run time the generated ``__init__`` takes
the same parameters (a ``default_factory`` field also accepts None for "the default").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The descriptor ``__set__`` of slot ``name``: sets it on a frozen instance."""
    setter: Callable[[Any, Any], None] = vars(cls)[name].__set__
    return setter


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass ``cls`` an ``__init__`` that sets slots directly."""
    namespace: dict[str, Any] = {}
    params: list[str] = []
    body: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = field.name
        namespace[f"_set_{name}"] = slot_setter(cls, name)
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
        if not field.init:
            value = f"_default_{name}" if field.default is not dataclasses.MISSING else f"_factory_{name}()"
        elif field.default is not dataclasses.MISSING:
            params.append(f"{name}=_default_{name}")
            value = name
        elif field.default_factory is not dataclasses.MISSING:
            params.append(f"{name}=None")
            value = f"_factory_{name}() if {name} is None else {name}"
        else:
            params.append(name)
            value = name
        body.append(f"    _set_{name}(self, {value})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - source built from the dataclass's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
