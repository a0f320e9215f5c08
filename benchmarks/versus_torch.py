"""The shared protocol of the benchmarks that compare the library with PyTorch on the same CPU.

A benchmark is a list of ``Case`` rows, each with one measurement of each side in steps per
second. The library side is compiled before any timing and its rate is the extra steps over
the extra time of a run of n and of 4n steps (``compiled_rate``, ``extra_rate``), so that the
compilation and the fixed cost of a call cancel. The PyTorch side is warmed up, then timed
with every core or with one thread, whichever a short trial finds faster (``torch_rate``).
``medians`` alternates the two sides' measurements, so the noise of a shared machine hits both
alike, and returns their medians.

PyTorch is needed by these benchmarks only: a script imports this module after it has checked
that torch is installed, and says how to install it where it is not.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import numpy as np
import torch

from dgm_lib.book import timer

CORES = len(os.sched_getaffinity(0))  # the cores this process may use; XLA:CPU uses them all


@dataclass(frozen=True)
class Case:
    """One row of the table: one measurement of each side, in steps per second, and whether
    the benchmark's speed target applies to the row."""

    name: str
    library: Callable[[], float]
    pytorch: Callable[[], tuple[float, int]]
    target_applies: bool


def extra_rate(seconds: Callable[[int], float], n: int) -> float:
    """``3n / (t_4n - t_n)``: steps/s of a compiled sampler with its fixed cost per call
    (the dispatch) cancelled."""
    short, long = seconds(n), seconds(4 * n)
    if long - short < 0.2 * long:
        raise RuntimeError(
            f"{n} and {4 * n} steps took {short:.2f} s and {long:.2f} s; the difference is "
            "within the noise of the fixed cost, raise the number of steps"
        )
    return 3 * n / (long - short)


def compiled_rate(run: Callable[[int], object], n: int) -> Callable[[], float]:
    """Compile ``run(num_steps)`` for ``n`` and ``4n`` steps; return one measurement of its
    steps/s, the extra steps over the extra time."""
    for steps in (n, 4 * n):
        jax.block_until_ready(run(steps))

    def seconds(steps: int) -> float:
        with timer() as t:
            jax.block_until_ready(run(steps))
        return t.seconds

    return partial(extra_rate, seconds, n)


def torch_rate(run: Callable[[int], object], n: int, *, warmup: int,
               trial: int) -> tuple[float, int]:
    """Steps/s of ``run(n)`` (PyTorch, synchronous on the CPU) and the threads it ran with.

    After a warm-up of ``warmup`` steps, ``trial`` steps are timed with every core and with
    one thread, and the faster setting is used: on a CPU shared with another busy process,
    OpenMP's threads wait for the descheduled one at every operation and all cores can run
    many times slower than one. (Each script picks step counts that its ``run`` accepts.)"""

    def seconds(steps: int) -> float:
        with timer() as t:
            run(steps)
        return t.seconds

    run(warmup)
    timings = {}
    for k in sorted({CORES, 1}, reverse=True):
        torch.set_num_threads(k)
        timings[k] = seconds(trial)
    threads = min(timings, key=timings.__getitem__)
    torch.set_num_threads(threads)
    rate = n / seconds(n)
    torch.set_num_threads(CORES)
    return rate, threads


def to_torch(a: jax.Array | np.ndarray) -> torch.Tensor:
    """A float32 torch tensor with the values of ``a`` (a copy)."""
    return torch.from_numpy(np.array(a, dtype=np.float32))


def medians(case: Case, repeats: int) -> tuple[float, float, list[int]]:
    """Median steps/s of the library and of PyTorch over ``repeats`` alternating measurements,
    and the PyTorch threads of each measurement."""
    ours, theirs, threads = [], [], []
    for _ in range(repeats):
        ours.append(case.library())
        rate, k = case.pytorch()
        theirs.append(rate)
        threads.append(k)
    return statistics.median(ours), statistics.median(theirs), threads
