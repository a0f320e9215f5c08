"""What every chapter uses: the start line (budget, devices), glue for the prose, the one timer
(:func:`timer`, :func:`best_time`, also used by the benchmarks) and the one way to compile a
model's method (:func:`compiled`)."""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import jax
import numpy as np
from flax import nnx

from .budgets import Budget, budget_and_reason
from .chapter_times import expected_time
from .plot import use_book_style

__all__ = [
    "RunInfo",
    "Stopwatch",
    "best_time",
    "compiled",
    "glue",
    "run_info",
    "show_table",
    "start_chapter",
    "timer",
]


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
    a plain Jupyter): there it only shows the value when ``display`` is true. A NumPy or JAX
    scalar is stored as the Python number it holds (its text form, ``np.float64(0.5)``, would
    not format in the prose).
    """
    if isinstance(value, (np.generic, jax.Array)) and np.ndim(value) == 0:
        value = np.asarray(value).item()
    try:
        from myst_nb import glue as nb_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    nb_glue(name, value, display=display)


def show_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    """Display a Markdown table: one header row, then ``rows`` (each cell shown with ``str``).

    In a book build myst-nb renders it as a table (``nb_render_markdown_format: myst``, so
    maths, citations and references in cells work); in Jupyter it is shown as Markdown.
    """
    from IPython.display import Markdown, display

    where = "book.show_table"
    width = len(header)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(
                f"{where}: row {i} has {len(row)} cells for {width} columns; got {list(row)!r}"
            )
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    display(Markdown("\n".join(lines)))


def start_chapter(chapter: str | None = None) -> RunInfo:
    """Set the book's plot style and full float32 matmuls, print the run line, glue it; with
    ``chapter`` (its file name, ``"vae"``) also print how long the chapter took at this budget
    when it was last measured (:func:`dgm_lib.chapter_times.expected_time`).

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
    if chapter is not None:
        print(expected_time(chapter, info.budget))
    glue("run_budget", info.budget, display=False)
    glue("run_devices", info.devices, display=False)
    return info


class Stopwatch:
    """Wall-clock seconds of a ``with timer() as t:`` block: ``t.seconds`` once it has ended."""

    def __init__(self) -> None:
        self.seconds = math.nan


@contextmanager
def timer() -> Iterator[Stopwatch]:
    """Time a block of code: ``with timer() as t: ...`` then ``t.seconds``.

    Wrap the block's results in ``jax.block_until_ready`` inside the block: JAX dispatches
    work asynchronously, so without it the clock may stop before the computation does.
    """
    watch = Stopwatch()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start


def best_time(fn: Callable[..., Any], *args: Any, repeats: int = 3, warmup: int = 1) -> float:
    """The fastest wall-clock seconds of ``fn(*args)`` over ``repeats`` calls, after ``warmup``
    calls (which compile it); every call is waited for with ``jax.block_until_ready``. The
    minimum is the least noisy summary on a shared machine.

    When ``fn`` is a ``jax.jit`` function, or a ``functools.partial`` of one (what
    :func:`compiled` returns), the warm-up compiles it ahead of time for ``args`` instead of
    running it, and the compiled program is what is timed: a sampler that runs for seconds is
    not run once more just to compile it."""
    ahead = _compile_ahead(fn, args) if warmup > 0 else None
    if ahead is not None:
        fn, warmup = ahead, 0
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    best = math.inf
    for _ in range(repeats):
        with timer() as t:
            jax.block_until_ready(fn(*args))
        best = min(best, t.seconds)
    return best


def _compile_ahead(fn: Callable[..., Any], args: tuple) -> Callable[..., Any] | None:
    """``fn`` compiled for ``args`` without running it, as a function of the same arguments;
    None when ``fn`` is not a ``jax.jit`` function or a positional ``partial`` of one, or when
    an argument is not an array (it could be a static argument, which a compiled program does
    not take)."""
    bound: tuple = ()
    if isinstance(fn, partial) and not fn.keywords:
        fn, bound = fn.func, fn.args
    lower = getattr(fn, "lower", None)
    arrays = all(isinstance(x, (jax.Array, np.ndarray)) for x in jax.tree.leaves((bound, args)))
    if lower is None or not arrays:
        return None
    executable = lower(*bound, *args).compile()
    return lambda *a: executable(*bound, *a)


@lru_cache(maxsize=256)
def _jitted_method(
    graphdef: nnx.GraphDef, treedef: Any, method: str | Callable, static: tuple
) -> Callable:
    """One jitted function of ``(state leaves, *arrays)`` per graph, method and static
    arguments (a flat list of leaves is cheaper to pass per call than the nested state)."""

    def call(leaves: list, *args: Any) -> Any:
        model = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves), copy=True)
        bound = getattr(model, method) if isinstance(method, str) else partial(method, model)
        return bound(*args, **dict(static))

    return jax.jit(call)


def compiled(model: nnx.Module, method: str | Callable[..., Any], **static: Any) -> Callable:
    """``model.method(*arrays, **static)`` (or ``method(model, *arrays, **static)`` for a
    function) as one jitted function of the arrays: the book's one way to compile a model.

    The model is split once (``nnx.split``) and its current parameters are passed as an
    argument, not baked in as constants, so models of the same structure share one compilation
    (the cache is keyed on the graph, the method and ``static``). The returned function uses
    the parameters as they are now; call :func:`compiled` again after training. ``static``
    values must be hashable (sizes such as ``n=256``); a function ``method`` must be the same
    object on every call for the compilation to be shared (a module-level function, not a new
    lambda).
    """
    if not (isinstance(method, str) or callable(method)):
        raise TypeError(
            f"compiled: argument 'method' must be a method name or a function (model, ...) -> "
            f"arrays; got {type(method).__name__}"
        )
    if isinstance(method, str) and not callable(getattr(model, method, None)):
        raise AttributeError(f"compiled: {type(model).__name__} has no method {method!r}")
    graphdef, state = nnx.split(model)
    leaves, treedef = jax.tree.flatten(state)
    fixed = tuple(sorted(static.items()))
    return partial(_jitted_method(graphdef, treedef, method, fixed), leaves)
