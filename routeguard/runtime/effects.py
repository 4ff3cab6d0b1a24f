"""Write an I/O flow once, drive it sync (WSGI) or async (ASGI).

A flow is a generator that yields :class:`Effect` values and returns a result. The sync
driver performs each effect by calling its blocking form; the async driver awaits its async
form. Exceptions raised while performing an effect are thrown back into the flow, so
``try``/``except`` inside the flow works the same under both drivers (httpx's auth flow).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..core._slots import fast_init

T = TypeVar("T")


@fast_init
@dataclass(frozen=True, slots=True)
class Effect:
    """One I/O step: ``sync(*args)`` under WSGI, ``await async_(*args)`` under ASGI."""

    sync: Callable[..., Any]
    async_: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...] = ()


Flow = Generator[Effect, Any, T]


def done(value: T) -> Flow[T]:
    """A flow that performs no I/O and returns ``value``: for contracts that always answer
    with a flow (a key resolver), when the answer is already known."""
    return value
    yield  # unreachable: makes this function a generator


def run_sync(flow: Flow[T]) -> T:
    """Drive a flow to completion with blocking calls."""
    try:
        effect = next(flow)
        while True:
            try:
                result = effect.sync(*effect.args)
            except Exception as exc:  # thrown back into the flow, which decides
                effect = flow.throw(exc)
            else:
                effect = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def run_async(flow: Flow[T]) -> T:
    """Drive a flow to completion, awaiting each effect."""
    try:
        effect = next(flow)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    return await resume_async(flow, effect)


async def resume_async(flow: Flow[T], effect: Effect) -> T:
    """Drive a started flow, whose first ``effect`` was already yielded, to completion.

    An adapter can call ``next(flow)`` itself and await this only when the flow has I/O to
    do, so a request decided without I/O creates no coroutine.
    """
    try:
        while True:
            try:
                result = await effect.async_(*effect.args)
            except Exception as exc:
                effect = flow.throw(exc)
            else:
                effect = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
