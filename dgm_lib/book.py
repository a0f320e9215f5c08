"""What every chapter runs first: the book's plot style and a line saying how it ran."""

from __future__ import annotations

import platform
from dataclasses import dataclass

import jax

from .budgets import Budget, budget_and_reason
from .plot import use_book_style


@dataclass(frozen=True)
class RunInfo:
    """How a chapter was executed: the budget, why, and the devices JAX used."""

    budget: Budget
    reason: str
    devices: str
    versions: str

    def __str__(self) -> str:
        return (
            f"budget: {self.budget} ({self.reason}); devices: {self.devices}; {self.versions}"
        )


def run_info() -> RunInfo:
    """Collect the budget, the devices and the library versions of this process."""
    name, reason = budget_and_reason()
    devices = ", ".join(f"{d.platform}:{d.id}" for d in jax.devices())
    versions = f"jax {jax.__version__}, python {platform.python_version()}"
    return RunInfo(name, reason, devices, versions)


def glue(name: str, value: object, display: bool = True) -> None:
    """Store ``value`` under ``name`` for the book's prose (``{glue:text}`name```).

    A thin wrapper on ``myst_nb.glue`` that also runs where myst-nb is not installed (Colab,
    a plain Jupyter): there it only shows the value when ``display`` is true.
    """
    try:
        from myst_nb import glue as nb_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    nb_glue(name, value, display=display)


def start_chapter() -> RunInfo:
    """Set the book's plot style and full float32 matmuls, print the run line, glue it.

    Full precision: on recent GPUs JAX's default float32 matmul uses TensorFloat-32 (about
    three decimal digits), which is too coarse for the book's checks of identities to 1e-6. A
    chapter that wants the faster matmuls for a long training run can wrap it in
    ``with jax.default_matmul_precision("tensorfloat32"):``.

    The glue keys ``run_budget`` and ``run_devices`` are read by ``execution.md``. Outside a
    book build (Colab, a plain Jupyter) there is no myst-nb and nothing is glued.
    """
    use_book_style()
    jax.config.update("jax_default_matmul_precision", "highest")
    info = run_info()
    print(info)
    glue("run_budget", info.budget, display=False)
    glue("run_devices", info.devices, display=False)
    return info
