"""The input checks every public function relies on say what was wrong and what was expected."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dgm_lib.checks import (
    check_array,
    check_broadcastable,
    check_key,
    check_positive_int,
    format_shape,
)


def test_accepts_matching_shapes_with_named_and_leading_axes() -> None:
    x = jnp.zeros((5, 3, 784))
    assert check_array("f", "x", x, shape=(..., 784)).shape == (5, 3, 784)
    assert check_array("f", "x", x, shape=("batch", 3, "D")).shape == (5, 3, 784)
    assert check_array("f", "x", [[1, 2]], shape=(1, 2)).dtype == jnp.float32


def test_wrong_shape_names_function_argument_and_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"log_prob: argument 'x' must have shape \(batch, 784\); got shape \(2, 5\)"):
        check_array("log_prob", "x", jnp.zeros((2, 5)), shape=("batch", 784))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        check_array("f", "z", jnp.zeros((3,)), shape=(..., 2))


def test_wrong_dtype_names_argument_and_kind() -> None:
    with pytest.raises(TypeError, match=r"f: argument 'k' must be an integer array; got dtype float32"):
        check_array("f", "k", jnp.zeros(3), kind="int")
    with pytest.raises(TypeError, match=r"argument 'x' must be a floating-point array; got dtype bool"):
        check_array("f", "x", np.zeros(3, bool))


def test_broadcast_and_size_checks() -> None:
    assert check_broadcastable("f", a=np.zeros((4, 1)), b=np.zeros(3)) == (4, 3)
    with pytest.raises(ValueError, match=r"'a' \(4,\), 'b' \(3,\)"):
        check_broadcastable("f", a=np.zeros(4), b=np.zeros(3))
    assert check_positive_int("f", "n", 3) == 3
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="argument 'n' must be a positive int"):
            check_positive_int("f", "n", bad)
    assert format_shape(("batch",)) == "(batch,)"


def test_check_key_accepts_one_key_and_refuses_batches_and_seeds() -> None:
    key = jax.random.key(0)
    assert check_key("f", key) is key
    legacy = check_key("f", jax.random.PRNGKey(0))
    assert jnp.issubdtype(legacy.dtype, jax.dtypes.prng_key) and legacy.shape == ()
    assert (jax.random.key_data(legacy) == jax.random.PRNGKey(0)).all()
    for bad in (jax.random.split(key), 0, jnp.zeros(2)):
        with pytest.raises(TypeError, match=r"f: argument 'key' must be a single random key"):
            check_key("f", bad)
