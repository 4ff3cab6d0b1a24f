"""Timing: calibrated batches, interleaved rounds, medians.

Each case is a function ``batch(n) -> elapsed ns`` running ``n`` operations. A case is warmed
up, then calibrated so that one batch lasts about ``batch_ms``. The cases then run in
interleaved rounds (one batch of every case per round), so a burst of load on a shared machine
hits every case alike instead of skewing whichever happened to run at that moment. The garbage
collector is collected and frozen before the rounds and disabled inside them (it is collected
between rounds), so a collection never lands inside one case's batch. The result of a case is
the median over its batches of the time per operation, with the quartiles as its spread.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Case:
    """One timed thing. ``per_op`` divides a batch's time (e.g. the queries in one pass)."""

    name: str
    batch: Callable[[int], int]
    per_op: int = 1
    budget_s: float | None = None  # cap on this case's total time (slow peers such as pycasbin)
    n: int = 1
    samples: list[float] = field(default_factory=list)  # ns per operation, one per batch
    max_rounds: int = 0


@dataclass(frozen=True)
class Settings:
    warmup_ms: float
    batch_ms: float
    rounds: int
    min_rounds: int


FULL = Settings(warmup_ms=200, batch_ms=3, rounds=201, min_rounds=3)  # fine interleaving: stable ratios
QUICK = Settings(warmup_ms=10, batch_ms=1, rounds=5, min_rounds=1)


def calibrate(case: Case, settings: Settings, default_budget_s: float) -> None:
    """Warm the case up and choose its batch size and number of rounds."""
    spent, calls = 0, 0
    n = 1
    deadline = settings.warmup_ms * 1e6
    while True:
        elapsed = case.batch(n)
        spent += elapsed
        calls += n
        if spent >= deadline or (case.budget_s is not None and spent > 0.2 * case.budget_s * 1e9):
            break
        n *= 2
    per_call = spent / calls
    case.n = max(1, round(settings.batch_ms * 1e6 / per_call))
    budget = (case.budget_s or default_budget_s) * 1e9
    affordable = int(budget // (per_call * case.n))
    case.max_rounds = max(settings.min_rounds, min(settings.rounds, affordable))


def measure(cases: Sequence[Case], settings: Settings, default_budget_s: float = 30.0,
            progress: Callable[[str], None] | None = None) -> None:
    """Calibrate every case, then run interleaved rounds until each has its batches."""
    for case in cases:
        if progress is not None:
            progress(f"calibrating {case.name}")
        calibrate(case, settings, default_budget_s)
    gc.collect()
    gc.freeze()
    enabled = gc.isenabled()
    try:
        for round_no in range(max(c.max_rounds for c in cases)):
            gc.disable()
            for case in cases:
                if round_no < case.max_rounds:
                    case.samples.append(case.batch(case.n) / (case.n * case.per_op))
            if enabled:
                gc.enable()
            gc.collect()
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


def summary(case: Case) -> dict[str, float | int]:
    """Median and quartiles (ns per operation) of a measured case."""
    samples = sorted(case.samples)
    if len(samples) >= 4:
        q1, _, q3 = statistics.quantiles(samples, n=4)
    else:
        q1, q3 = samples[0], samples[-1]
    return {
        "median_ns": statistics.median(samples),
        "q1_ns": q1,
        "q3_ns": q3,
        "batches": len(samples),
        "ops_per_batch": case.n * case.per_op,
    }


def clock_info() -> dict[str, float | str]:
    info = time.get_clock_info("perf_counter")
    return {"implementation": info.implementation, "resolution_s": info.resolution}
