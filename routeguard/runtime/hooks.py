"""Run the app's hooks (identity loader, membership, ``check``, custom backends) safely.

Defends against a slow or hung hook taking the service down:

- **ASGI**: a sync hook runs in a worker thread (anyio's thread pool, bounded by a
  ``CapacityLimiter`` of ``[hooks] threads``), so a blocking database call never stalls the
  event loop (and Django's ORM, which refuses to run on it, works); an async hook stays on the
  loop. Both run under ``anyio.fail_after([hooks] timeout)``.
- **WSGI**: a sync hook cannot be interrupted, so it runs in a bounded thread pool of its own
  and the request stops waiting at the deadline; the hung call keeps its pool thread until it
  returns (the pool never grows past ``threads``; later calls queue and time out). An async
  hook runs on a private event loop under ``asyncio.wait_for``.

A timeout raises :class:`HookTimeoutError` (a :class:`ServiceUnavailableError`: 503) and is
logged with the hook's name. Context variables reach the hook's thread; thread-locals of the
request thread do not.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, Final

import anyio
import anyio.to_thread

from ..core.decision import Decision, Outcome, Reason
from ..core.engine import AuthResult, Engine, Route
from ..core.identity import Credential, Identity
from ..core.request import RequestView
from ..core.rules import CompiledRule
from ..errors import HookTimeoutError, ServiceUnavailableError
from .audit import log_traceback, logger
from .cache import TTLCache
from .effects import Effect

DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_THREADS: Final = 20
_CACHE_SIZE: Final = 10_000


def is_async(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns a coroutine (functions, partials, async ``__call__``)."""
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - an instance with async __call__
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


class HookRunner:
    """Runs hooks under a deadline: in threads for sync hooks, on the loop for async ones.

    One per guard: ``runner.hook(fn, "identity_loader")(subject)`` is an :class:`Effect`.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, threads: int = DEFAULT_THREADS) -> None:
        self.timeout = timeout
        self.threads = threads
        self._lock = threading.Lock()
        self._abandoned = 0  # ASGI worker threads still running a hook nobody waits for
        self._limiter: tuple[object, anyio.CapacityLimiter] | None = None  # (event loop, limiter)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def hook(self, fn: Callable[..., Any], name: str) -> Hook:
        """``fn`` as a hook: calling it with arguments gives the effect that runs it."""
        return Hook(self, fn, name)

    # -- WSGI ---------------------------------------------------------------------------------
    def run(self, hook: Hook, *args: Any) -> Any:
        """Call ``hook`` from a WSGI request thread; :class:`HookTimeoutError` at the deadline."""
        if hook.is_async:
            return self._run_awaitable(hook, hook.fn(*args), self.timeout)
        deadline = time.monotonic() + self.timeout
        future = self._executor().submit(contextvars.copy_context().run, hook.fn, *args)
        try:
            result = future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()  # not started yet: never runs
            raise self._timed_out(hook) from None
        if inspect.isawaitable(result):
            return self._run_awaitable(hook, result, deadline - time.monotonic())
        return result

    def _run_awaitable(self, hook: Hook, awaitable: Awaitable[Any], timeout: float) -> Any:
        async def bounded() -> Any:
            return await asyncio.wait_for(awaitable, max(timeout, 0.0))

        try:
            return asyncio.run(bounded())
        except TimeoutError:
            raise self._timed_out(hook) from None

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, "routeguard-hook")
                pool = self._pool
        return pool

    # -- ASGI ---------------------------------------------------------------------------------
    async def arun(self, hook: Hook, *args: Any) -> Any:
        """Await ``hook`` from the event loop; :class:`HookTimeoutError` at the deadline."""
        try:
            with anyio.fail_after(self.timeout):
                if hook.is_async:
                    return await hook.fn(*args)
                result = await self._in_thread(hook, args)
                if inspect.isawaitable(result):
                    result = await result
                return result
        except TimeoutError:
            raise self._timed_out(hook) from None

    async def _in_thread(self, hook: Hook, args: tuple[Any, ...]) -> Any:
        # A timed-out thread cannot be stopped: anyio abandons it and frees its limiter token,
        # so threads still running abandoned hooks are counted here and bound separately.
        if self._abandoned >= self.threads:
            raise self._timed_out(hook, "every hook thread is busy with a hook that timed out")
        state = _Call()
        try:
            return await anyio.to_thread.run_sync(
                functools.partial(self._tracked, state, contextvars.copy_context().run, hook.fn, *args),
                limiter=self._current_limiter(),
                abandon_on_cancel=True,
            )
        except BaseException:
            with self._lock:
                if not state.done:
                    state.abandoned = True
                    self._abandoned += 1
            raise

    def _tracked(self, state: _Call, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        finally:
            with self._lock:
                state.done = True
                if state.abandoned:
                    self._abandoned -= 1

    def _current_limiter(self) -> anyio.CapacityLimiter:
        """The limiter of the running event loop (a limiter must not be shared across loops)."""
        try:
            loop: object = asyncio.get_running_loop()
        except RuntimeError:  # another async library (trio): one limiter
            loop = None
        cached = self._limiter
        if cached is None or cached[0] is not loop:
            cached = self._limiter = (loop, anyio.CapacityLimiter(self.threads))
        return cached[1]

    def _timed_out(self, hook: Hook, why: str | None = None) -> HookTimeoutError:
        logger.warning("hook %s: %s", hook.name, why or f"no answer within {self.timeout:g}s")
        return HookTimeoutError(f"{hook.name} timed out")


class _Call:
    __slots__ = ("abandoned", "done")

    def __init__(self) -> None:
        self.done = False
        self.abandoned = False


class Hook:
    """One user callable (sync or async, decided once at load) and the runner that runs it."""

    __slots__ = ("_arun", "_run", "fn", "is_async", "name")

    def __init__(self, runner: HookRunner, fn: Callable[..., Any], name: str) -> None:
        self.fn = fn
        self.name = name
        self.is_async = is_async(fn)
        self._run = functools.partial(runner.run, self)
        self._arun = functools.partial(runner.arun, self)

    def __call__(self, *args: Any) -> Effect:
        """The effect that runs this hook with ``args`` under its runner's deadline."""
        return Effect(self._run, self._arun, args)


class HookedBackend:
    """A custom backend as the guard runs it: ``authenticate`` under the hook deadline (in a
    worker thread when it is sync), on a view that records the cookies it reads.

    ``cookie_based`` is the backend's declaration (None: decided by the cookies it reads).
    """

    __slots__ = ("backend", "cookie_based", "hook", "name")

    def __init__(self, backend: Any, runner: HookRunner) -> None:
        self.backend = backend
        self.name: str = backend.name
        self.hook = runner.hook(backend.authenticate, f"backend {backend.name}")
        declared = getattr(backend, "cookie_based", None)
        self.cookie_based: bool | None = declared if isinstance(declared, bool) else None

    def authenticate(self, request: RequestView) -> Generator[Effect, Any, Credential | None]:
        """A flow: the backend's answer (after any flow it returned) as a :class:`Credential`."""
        result = yield self.hook(request.watched())
        if isinstance(result, Generator):
            result = yield from result
        if result is None or isinstance(result, Credential):
            return result
        if isinstance(result, Identity):
            return Credential(result if result.backend else dataclasses.replace(result, backend=self.name))
        raise TypeError(f"backend returned {type(result).__name__}; expected Identity, Credential or None")


class AuthorizationHooks:
    """The hooks step after the engine's first verdict: the tenant membership hook (its answer
    is the engine's ``member`` input) and the rule's ownership ``check``."""

    def __init__(self, engine: Engine, runner: HookRunner, membership: Callable[..., Any] | None,
                 membership_ttl: float, rules: tuple[CompiledRule, ...],
                 checks: Mapping[int, Callable[..., Any]]) -> None:
        self.engine = engine
        self.membership = runner.hook(membership, "tenant_membership") if membership is not None else None
        self.membership_ttl = membership_ttl
        self.checks = {index: runner.hook(check, f"check {rules[index].check_name}")
                       for index, check in checks.items()}
        self._members: TTLCache[bool] = TTLCache(_CACHE_SIZE)

    def wanted(self, decision: Decision, route: Route) -> bool:
        """Whether a hook has a say in ``decision`` (so a request without one makes no flow)."""
        if decision.outcome is Outcome.ALLOW:
            return route.rule is not None and route.rule.check_name is not None
        return self.membership is not None and decision.reason is Reason.TENANT

    def authorize(self, decision: Decision, route: Route, auth: AuthResult) -> Generator[Effect, Any, Decision]:
        """``decision`` re-judged with the membership verdict, then refused if ``check`` says no."""
        identity, rule = auth.identity, route.rule
        if (
            decision.reason is Reason.TENANT
            and self.membership is not None
            and identity is not None
            and (yield from self._member(self.membership, identity, route))
        ):
            decision = self.engine.judge(route, auth, member=True)
        if decision.outcome is Outcome.ALLOW and rule is not None and rule.check_name is not None:
            decision = yield from self._check_owner(self.checks[rule.index], route, decision)
        return decision

    def _member(self, hook: Hook, identity: Identity, route: Route) -> Generator[Effect, Any, bool]:
        """Ask the membership hook whether ``identity`` belongs to the route's tenant (cached)."""
        tenant = route.params.get(route.rule.tenant or "") if route.rule is not None else None
        if not tenant:
            return False
        key = (identity.subject, tenant)
        now = time.time()
        cached = self._members.get(key, now)
        if cached is not None:
            return cached
        try:
            answer = (yield hook(identity, tenant)) is True
        except ServiceUnavailableError:
            raise
        except Exception as exc:
            logger.error("tenant membership hook failed: %s", type(exc).__name__)
            log_traceback("tenant membership hook", exc)
            raise ServiceUnavailableError(f"membership hook: {type(exc).__name__}") from None
        if self.membership_ttl > 0:
            self._members.set(key, answer, now + self.membership_ttl)
        return answer

    def _check_owner(self, check: Hook, route: Route, decision: Decision) -> Generator[Effect, Any, Decision]:
        """Run the rule's ``check`` predicate; False or an error refuses (403), a timeout is 503."""
        try:
            allowed = (yield check(decision.identity, dict(route.params))) is True
        except ServiceUnavailableError:
            raise
        except Exception as exc:
            logger.error("%s failed: %s", check.name, type(exc).__name__)
            log_traceback(check.name, exc)
            return self.engine.refuse(Outcome.FORBIDDEN, f"check error ({type(exc).__name__})", route,
                                      decision.identity)
        if allowed:
            return decision
        return self.engine.refuse(Outcome.FORBIDDEN, Reason.CHECK_REFUSED, route, decision.identity)
