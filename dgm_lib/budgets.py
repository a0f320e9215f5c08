"""Experiment budgets: ``smoke`` (tests), ``cpu`` (the default build), ``gpu`` (paper scale).

Every chapter reads its budget through :func:`budget` and sizes its experiments with
:func:`pick`, so one environment variable, ``DGM_BUDGET``, scales the whole book.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar

import jax

__all__ = [
    "BUDGETS",
    "CELL_TIMEOUTS",
    "Budget",
    "accelerators",
    "budget",
    "budget_and_reason",
    "cell_timeout",
    "pick",
]

Budget = Literal["smoke", "cpu", "gpu"]
"""The name of an experiment budget."""

BUDGETS: tuple[Budget, ...] = ("smoke", "cpu", "gpu")
"""Every budget, from the smallest to the largest."""

CELL_TIMEOUTS: dict[Budget, int | None] = {"smoke": 600, "cpu": 1800, "gpu": None}
"""Seconds one cell of a chapter may run at each budget, for the book's build and
``scripts/reproduce.sh``; None: no limit (the ``gpu`` budget trains for hours on some
chapters). A cell over its limit fails the build rather than hang it."""

T = TypeVar("T")
"""The type of the values :func:`pick` chooses between."""


def accelerators() -> list[str]:
    """Names of the non-CPU devices JAX sees (empty on a CPU-only machine)."""
    return [f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.devices() if d.platform != "cpu"]


def budget_and_reason() -> tuple[Budget, str]:
    """The budget in force and why: ``DGM_BUDGET`` if set, else ``gpu`` iff JAX sees one."""
    raw = os.environ.get("DGM_BUDGET", "").strip().lower()
    if raw in BUDGETS:
        return raw, f"DGM_BUDGET={raw}"  # type: ignore[return-value]
    if raw not in ("", "auto"):
        raise ValueError(
            f"DGM_BUDGET={raw!r} is not a budget; set it to one of {', '.join(BUDGETS)} "
            "or 'auto' (or leave it unset to pick gpu when JAX sees an accelerator, else cpu)"
        )
    if accelerators():
        return "gpu", "DGM_BUDGET unset and JAX sees an accelerator"
    return "cpu", "DGM_BUDGET unset and JAX sees no accelerator"


def budget() -> Budget:
    """The experiment budget in force: ``smoke``, ``cpu`` or ``gpu``."""
    return budget_and_reason()[0]


def pick(*, smoke: T, cpu: T, gpu: T) -> T:
    """The value for the budget in force: ``steps = pick(smoke=50, cpu=5_000, gpu=100_000)``."""
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[budget()]


def cell_timeout() -> int | None:
    """The cell timeout of the budget in force (:data:`CELL_TIMEOUTS`), seconds or None."""
    return CELL_TIMEOUTS[budget()]
