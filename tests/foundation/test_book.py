"""dgm_lib.book.glue hands the prose plain Python values: a NumPy or JAX scalar glued as it is
would reach myst-nb as its repr, ``np.float64(0.5)``, which a ``{glue:text}`name:.2f``` role
cannot format (the build fails)."""

from __future__ import annotations

import jax.numpy as jnp
import myst_nb
import numpy as np

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
