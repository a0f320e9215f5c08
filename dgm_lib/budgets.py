"""Experiment budgets: ``smoke`` (tests), ``cpu`` (the default build), ``gpu`` (one small GPU),
``paper`` (the papers' schedules).

Every chapter reads its budget through :func:`budget` and sizes its experiments with
:func:`pick`, so one environment variable, ``DGM_BUDGET``, scales the whole book:

- ``smoke``: the tests; seconds per chapter, the code runs and the numbers are sane.
- ``cpu``: the default; minutes per chapter on a 2-core laptop, models close to convergence
  for their size, so every comparison the prose makes holds.
- ``gpu``: picked automatically when JAX sees an accelerator; minutes per chapter on one small
  GPU (a free Colab T4), numbers close to the papers.
- ``paper``: only when asked for (``DGM_BUDGET=paper``); the papers' schedules, hours.

Nobody gets an hours-long run by accident: no machine selects ``paper`` by itself.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar

import jax

__all__ = [
    "AS_GPU",
    "BUDGETS",
    "CELL_TIMEOUTS",
    "AsGpu",
    "Budget",
    "accelerators",
    "budget",
    "budget_and_reason",
    "cell_timeout",
    "pick",
]

Budget = Literal["smoke", "cpu", "gpu", "paper"]
"""The name of an experiment budget."""

BUDGETS: tuple[Budget, ...] = ("smoke", "cpu", "gpu", "paper")
"""Every budget, from the smallest to the largest."""

CELL_TIMEOUTS: dict[Budget, int | None] = {"smoke": 600, "cpu": 1800, "gpu": 3600, "paper": None}
"""Seconds one cell of a chapter may run at each budget, for the book's build and
``scripts/reproduce.sh``; None: no limit (the ``paper`` budget trains for hours). A cell over
its limit fails the build rather than hang it."""

T = TypeVar("T")
"""The type of the values :func:`pick` chooses between."""


class AsGpu:
    """The type of :data:`AS_GPU`, :func:`pick`'s default ``paper``: use the ``gpu`` value."""

    def __repr__(self) -> str:
        return "AS_GPU"


AS_GPU = AsGpu()
"""``pick(..., paper=AS_GPU)``, the default: at ``paper`` use the ``gpu`` value."""


def accelerators() -> list[str]:
    """Names of the non-CPU devices JAX sees (empty on a CPU-only machine)."""
    return [f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.devices() if d.platform != "cpu"]


def budget_and_reason() -> tuple[Budget, str]:
    """The budget in force and why: ``DGM_BUDGET`` if set, else ``gpu`` iff JAX sees an
    accelerator, else ``cpu`` (``paper`` only when ``DGM_BUDGET`` asks for it)."""
    raw = os.environ.get("DGM_BUDGET", "").strip().lower()
    if raw in BUDGETS:
        return raw, f"DGM_BUDGET={raw}"  # type: ignore[return-value]
    if raw not in ("", "auto"):
        raise ValueError(
            f"DGM_BUDGET={raw!r} is not a budget; set it to one of {', '.join(BUDGETS)} "
            "or 'auto' (or leave it unset to pick gpu when JAX sees an accelerator, else cpu; "
            "paper, the papers' schedules, runs for hours and is only ever picked by name)"
        )
    if accelerators():
        return "gpu", "DGM_BUDGET unset and JAX sees an accelerator"
    return "cpu", "DGM_BUDGET unset and JAX sees no accelerator"


def budget() -> Budget:
    """The experiment budget in force: ``smoke``, ``cpu``, ``gpu`` or ``paper``."""
    return budget_and_reason()[0]


def pick(*, smoke: T, cpu: T, gpu: T, paper: T | AsGpu = AS_GPU) -> T:
    """The value for the budget in force:
    ``steps = pick(smoke=50, cpu=5_000, gpu=50_000, paper=1_000_000)``.

    ``paper`` is the papers' schedule; leave it out where the ``gpu`` value already is (a test
    set of 10,000 images, a network's published width), and it is the ``gpu`` value."""
    name = budget()
    if name == "paper":
        return gpu if isinstance(paper, AsGpu) else paper
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[name]


def cell_timeout() -> int | None:
    """The cell timeout of the budget in force (:data:`CELL_TIMEOUTS`), seconds or None."""
    return CELL_TIMEOUTS[budget()]
