"""dgm_lib.book.glue hands the prose plain Python values: a NumPy or JAX scalar glued as it is
would reach myst-nb as its repr, ``np.float64(0.5)``, which a ``{glue:text}`name:.2f``` role
cannot format (the build fails). dgm_lib.book.best_time compiles a jitted function ahead of time
instead of running it once more to warm it up."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import myst_nb
import numpy as np
from flax import nnx

from dgm_lib import book


def test_glue_passes_numpy_and_jax_scalars_on_as_python_numbers(monkeypatch) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: seen.update({name: value}))
    book.glue("numpy_float", np.float64(0.25), display=False)
    book.glue("numpy_int", np.int32(7), display=False)
    book.glue("jax_float", jnp.float32(2.5), display=False)
    book.glue("text", "fashion-mnist", display=False)
    book.glue("array", np.arange(3), display=False)
    assert type(seen["numpy_float"]) is float and seen["numpy_float"] == 0.25
    assert type(seen["numpy_int"]) is int and seen["numpy_int"] == 7
    assert type(seen["jax_float"]) is float and seen["jax_float"] == 2.5
    assert seen["text"] == "fashion-mnist"
    assert isinstance(seen["array"], np.ndarray), "arrays are not scalars: left as they are"



def _counting(runs: list, *, static: bool = False):
    """A jitted ``x * 2`` (or ``x * n``, ``n`` static) that appends to ``runs`` each time it
    RUNS, not when it is traced."""

    def f(x, n=2.0):
        jax.debug.callback(lambda: runs.append(1))
        return x * n

    return jax.jit(f, static_argnums=1) if static else jax.jit(f)


def test_best_time_compiles_a_jitted_function_ahead_instead_of_running_it() -> None:
    runs: list = []
    fn = _counting(runs)
    assert book.best_time(fn, jnp.ones(3), repeats=2) > 0
    assert len(runs) == 2  # the repeats only: no warm-up run
    runs.clear()
    book.best_time(partial(_counting(runs), jnp.ones(3)), repeats=1)  # as `compiled` returns
    assert len(runs) == 1
    runs.clear()
    book.best_time(lambda x: fn(x), jnp.ones(3), repeats=2)  # not jitted itself: run to warm
    assert len(runs) == 3
    runs.clear()
    book.best_time(_counting(runs, static=True), jnp.ones(3), 2, repeats=1)  # a static argument
    assert len(runs) == 2


def test_a_compiled_model_takes_the_ahead_of_time_path() -> None:
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    x = jnp.ones((4, 3))
    ahead = book._compile_ahead(book.compiled(model, "__call__"), (x,))
    assert ahead is not None
    np.testing.assert_allclose(np.asarray(ahead(x)), np.asarray(model(x)), rtol=1e-6)
