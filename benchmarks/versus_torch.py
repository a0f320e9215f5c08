"""The shared protocol of the benchmarks that compare the library with PyTorch on the same CPU.

A benchmark is a list of ``Case`` rows, each with one measurement of each side in steps per
second. The library side is compiled before any timing and its rate is the extra steps over
the extra time of a run of n and of 4n steps (``compiled_rate``, ``extra_rate``), so that the
compilation and the fixed cost of a call cancel; the first call's time is kept
(``LibraryRate.first_seconds``), and what it took beyond the steady rate is the compile time
(``LibraryRate.compile_seconds``). The PyTorch side is warmed up, then timed with every core
or with one thread, whichever a short trial finds faster (``torch_rate``). ``medians``
alternates the two sides' measurements, so the noise of a shared machine hits both alike, and
returns their medians.

PyTorch is needed by these benchmarks only, never by the library: this module and the scripts
import without it (``torch`` is then None, ``TorchModule`` a placeholder base for their
PyTorch networks, which are then never built), and each script's ``main`` says how to install
it (``INSTALL``) where it is missing; ``vs_pytorch.py`` runs its JAX half alone.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import numpy as np

from dgm_lib.book import timer

try:
    import torch
except ImportError:  # the library halves still run; the scripts say how to install it
    torch = None

TorchModule = object if torch is None else torch.nn.Module
"""The base class of the scripts' PyTorch networks (a placeholder without torch, so that their
modules import; no PyTorch network is built then)."""

INSTALL = (
    "install the CPU build into the project's environment with `.venv/bin/pip install "
    "torch==2.13.0` (it is a dependency of the benchmarks only, never of the library)"
)

CORES = len(os.sched_getaffinity(0))  # the cores this process may use; XLA:CPU uses them all


@dataclass(frozen=True)
class Case:
    """One row of the table: one measurement of each side, in steps per second, and whether
    the benchmark's speed target applies to the row. ``pytorch`` is None where PyTorch is not
    installed (the library's half alone)."""

    name: str
    library: Callable[[], float]
    pytorch: Callable[[], tuple[float, int]] | None
    target_applies: bool


@dataclass(frozen=True)
class LibraryRate:
    """A ``Case.library``: calling it makes one measurement of the library's steps/s
    (``measure``); ``first_seconds`` is the time of its first call, of ``n`` steps, compilation
    included."""

    measure: Callable[[], float]
    first_seconds: float
    n: int

    def __call__(self) -> float:
        return self.measure()

    def compile_seconds(self, rate: float) -> float:
        """The compile time: the first call's seconds beyond ``n`` steps at ``rate``."""
        return self.first_seconds - self.n / rate


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


def compiled_rate(run: Callable[[int], object], n: int) -> LibraryRate:
    """Compile ``run(num_steps)`` for ``n`` and ``4n`` steps; return one measurement of its
    steps/s, the extra steps over the extra time (and the first call's seconds)."""
    with timer() as first:
        jax.block_until_ready(run(n))
    jax.block_until_ready(run(4 * n))

    def seconds(steps: int) -> float:
        with timer() as t:
            jax.block_until_ready(run(steps))
        return t.seconds

    return LibraryRate(partial(extra_rate, seconds, n), first.seconds, n)


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
    and the PyTorch threads of each measurement (NaN and none without ``case.pytorch``)."""
    ours, theirs, threads = [], [], []
    for _ in range(repeats):
        ours.append(case.library())
        if case.pytorch is not None:
            rate, k = case.pytorch()
            theirs.append(rate)
            threads.append(k)
    return statistics.median(ours), statistics.median(theirs or [math.nan]), threads
