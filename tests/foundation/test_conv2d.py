"""Tests of dgm_lib.nn.conv2d and Conv2d: the shifted-matmul convolution equals lax's
"SAME" convolution, in value and in every gradient; bad kernels get clear errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from dgm_lib.nn import Conv2d, conv2d


def lax_conv(x, kernel, bias):
    dims = ("NHWC", "HWIO", "NHWC")
    return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=dims,
                                    precision=lax.Precision.HIGHEST) + bias  # fmt: skip


@pytest.mark.parametrize("kh, kw, c_in, c_out", [(1, 1, 3, 4), (3, 3, 1, 5), (5, 3, 4, 2)])
def test_conv2d_equals_the_lax_convolution_and_so_do_its_gradients(kh, kw, c_in, c_out):
    keys = jax.random.split(jax.random.key(kh * 10 + kw), 4)
    x = jax.random.normal(keys[0], (2, 7, 6, c_in))
    kernel = jax.random.normal(keys[1], (kh, kw, c_in, c_out))
    bias = jax.random.normal(keys[2], (c_out,))
    target = jax.random.normal(keys[3], (2, 7, 6, c_out))
    np.testing.assert_allclose(conv2d(x, kernel, bias), lax_conv(x, kernel, bias),
                               rtol=1e-5, atol=1e-5)  # fmt: skip

    def loss(conv, *args):  # a loss whose gradient weighs every output differently
        return jnp.sum(jnp.square(conv(*args) - target))

    ours = jax.grad(lambda *a: loss(conv2d, *a), argnums=(0, 1, 2))(x, kernel, bias)
    theirs = jax.grad(lambda *a: loss(lax_conv, *a), argnums=(0, 1, 2))(x, kernel, bias)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_the_layer_is_the_function_of_its_parameters_and_zero_init_outputs_zero():
    layer = Conv2d(3, 4, 3, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 5, 5, 3))
    np.testing.assert_allclose(layer(x), lax_conv(x, layer.kernel[...], layer.bias[...]),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    # LeCun's scale: the kernel's entries have variance 1 / fan_in = 1 / 27 (within 4 s.e.).
    var = float(jnp.var(Conv2d(16, 64, 3, rngs=nnx.Rngs(2)).kernel[...]))
    assert abs(var * 9 * 16 - 1) < 4 * np.sqrt(2 / (9 * 16 * 64))
    assert not np.any(Conv2d(3, 4, 3, zero_init=True, rngs=nnx.Rngs(0))(x))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv2d(jnp.zeros((1, 4, 4, 2)), jnp.zeros((2, 2, 2, 3)), jnp.zeros(3)),
         "conv2d: argument 'kernel' must have odd sizes"),
        (lambda: conv2d(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 5, 3)), jnp.zeros(3)),
         "conv2d: argument 'x'"),
        (lambda: conv2d(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 2, 3)), jnp.zeros(4)),
         "conv2d: argument 'bias'"),
        (lambda: Conv2d(2, 3, 4, rngs=nnx.Rngs(0)), "Conv2d: argument 'kernel_size' must be odd"),
        (lambda: Conv2d(0, 3, rngs=nnx.Rngs(0)), "Conv2d: argument 'in_channels'"),
    ],
)  # fmt: skip
def test_bad_kernels_and_shapes_raise_errors_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
