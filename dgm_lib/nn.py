r"""Small networks and initialisers shared by every family: one MLP, one 2-D convolution
(:func:`conv2d`, :class:`Conv2d`, fast inside ``train.fit``), a normal initialiser, a host
random generator seeded by a key, and :class:`Frozen`, the one variable type for arrays a
model holds but never trains (masks, degrees, permutations).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .checks import check_array, check_positive_int, check_rngs

Array = jax.Array

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Conv2d",
    "Frozen",
    "conv2d",
    "host_rng",
    "normal_init",
    "tap_products",
]


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
    "silu": jax.nn.silu,
    "leaky_relu": jax.nn.leaky_relu,
}
"""The hidden activations an :class:`MLP` accepts, by name."""


class Frozen(nnx.Variable):
    """An array a model holds but never trains (a mask, MADE's degrees, a permutation):
    ``fit`` trains ``nnx.Param`` leaves only, so a ``Frozen`` leaf keeps its value."""


def host_rng(key: Array) -> np.random.Generator:
    """A NumPy generator seeded by the key's data: the key still fixes every draw, and the host
    draws permutations, integers and initial weights without compiling a device program for
    each new shape (``train.fit`` orders its batches the same way)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)))


def normal_init(key: Array, shape: tuple[int, ...], fan_in: int, gain: float = 1.0) -> Array:
    r"""Draws of :math:`\mathcal N(0, \text{gain}/\text{fan\_in})` of the given shape, float32
    (gain 1: LeCun's scale; gain 2: He's, for ReLU layers).

    Drawn flat and reshaped: XLA on CPU compiles the generator for a rank-3 or higher shape in
    seconds.
    """
    size = math.prod(shape)
    return jax.random.normal(key, (size,), jnp.float32).reshape(shape) * math.sqrt(gain / fan_in)


class MLP(nnx.Module):
    r"""A multilayer perceptron :math:`h^0 = x`, :math:`h^l = a(h^{l-1} W^l + b^l)`, with a
    linear last layer; ``sizes = (in, hidden_1, ..., out)``.

    Args:
        sizes: the widths of every layer, input first; at least two.
        activation: a name in :data:`ACTIVATIONS`.
        zero_last: start the last layer at zero, so the network outputs zero (a coupling
            layer then starts as the identity).
        rngs: ``nnx.Rngs`` for the initial weights (``nnx.Linear``'s initialisers).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        *,
        zero_last: bool = False,
        rngs: nnx.Rngs,
    ) -> None:
        where = "MLP"
        sizes = [check_positive_int(where, "sizes", s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"{where}: argument 'sizes' needs at least two widths; got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"{where}: argument 'activation' must be one of {sorted(ACTIVATIONS)}; "
                f"got {activation!r}"
            )
        zeros = nnx.initializers.zeros
        last = len(sizes) - 2
        self.layers = nnx.List(
            [
                nnx.Linear(a, b, rngs=rngs)
                if i < last or not zero_last
                else nnx.Linear(a, b, kernel_init=zeros, bias_init=zeros, rngs=rngs)
                for i, (a, b) in enumerate(itertools.pairwise(sizes))
            ]
        )
        self.activation = activation

    def __call__(self, h: Array) -> Array:
        """The output ``(..., out)`` for inputs ``(..., in)``."""
        act = ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            h = act(layer(h))
        return self.layers[-1](h)


def tap_products(
    x: Array, weights: Array, taps: np.ndarray, out_hw: tuple[int, int], precision=None
) -> Array:
    r"""The sum over kernel taps :math:`(i, j)` of the shifted image times that tap's weights,

    .. math:: y_{r,c,o} = \sum_{(i,j) \in \text{taps}} \sum_k x_{r+i,\,c+j,\,k}\, W_{ij,k,o},

    computed as one matrix product of the shifted copies of ``x`` side by side
    (``(batch, h, w, T C_in)``) with the stacked taps (``weights`` ``(T, C_in, C_out)``,
    ``taps`` ``(T, 2)`` offsets into the already padded ``x``, output ``out_hw = (h, w)``).

    This is how the book convolves: XLA on CPU runs the gradient of ``lax.conv`` inside a
    loop (``train.fit``'s ``lax.fori_loop``, a sampler's ``lax.scan``) some 25 times slower
    than outside one (measured with JAX 0.10 on a 3x3, 32-channel network on 28x28 images:
    0.57 s against 23 ms a step; jax-ml/jax#12868), while slices and a matmul, and their
    gradients, run at full speed anywhere. The cost: the shifted copies take ``T`` times the
    input's memory.
    """
    h, w = out_hw
    shifted = jnp.concatenate([x[:, i : i + h, j : j + w] for i, j in taps], axis=-1)
    flat = weights.reshape(len(taps) * weights.shape[1], weights.shape[2])
    return jnp.dot(shifted, flat, precision=precision)


def conv2d(x: Array, kernel: Array, bias: Array) -> Array:
    r"""A stride-1 2-D convolution with zero ("same") padding, as deep-learning libraries define
    it (a cross-correlation),

    .. math:: y_{r,c,o} = b_o + \sum_{i,j,k} K_{i,j,k,o}\, x_{r+i-m,\,c+j-m,\,k},
              \qquad m = \lfloor k_h / 2 \rfloor \text{ (and likewise for columns)},

    equal to ``lax.conv_general_dilated(x, kernel, (1, 1), "SAME")`` with NHWC/HWIO layouts,
    computed by :func:`tap_products` so that it is fast inside ``train.fit``.

    Args:
        x: ``(batch, H, W, C_in)`` float feature maps.
        kernel: ``(k_h, k_w, C_in, C_out)``, odd sizes.
        bias: ``(C_out,)``.

    Returns:
        ``(batch, H, W, C_out)``.
    """
    where = "conv2d"
    kernel = check_array(where, "kernel", kernel, shape=("k_h", "k_w", "C_in", "C_out"))
    kh, kw, c_in, c_out = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(
            f"{where}: argument 'kernel' must have odd sizes (k_h, k_w, C_in, C_out) for "
            f"'same' padding; got shape {tuple(kernel.shape)}"
        )
    x = check_array(where, "x", x, shape=("batch", "H", "W", c_in))
    bias = check_array(where, "bias", bias, shape=(c_out,))
    h, w = x.shape[1], x.shape[2]
    padded = jnp.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    taps = np.argwhere(np.ones((kh, kw), bool))
    return tap_products(padded, kernel.reshape(kh * kw, c_in, c_out), taps, (h, w)) + bias


class Conv2d(nnx.Module):
    """A layer of :func:`conv2d`: kernel ``(k, k, C_in, C_out)`` drawn from
    :func:`normal_init` (fan-in ``k^2 C_in``, LeCun's scale), bias zero; ``zero_init`` starts
    both at zero (the last layer of a residual branch or of a network that should start by
    outputting zero)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        zero_init: bool = False,
        rngs: nnx.Rngs,
    ) -> None:
        where = "Conv2d"
        c_in = check_positive_int(where, "in_channels", in_channels)
        c_out = check_positive_int(where, "out_channels", out_channels)
        k = check_positive_int(where, "kernel_size", kernel_size)
        if k % 2 == 0:
            raise ValueError(f"{where}: argument 'kernel_size' must be odd; got {k}")
        rngs = check_rngs(where, rngs)
        shape = (k, k, c_in, c_out)
        kernel = jnp.zeros(shape) if zero_init else normal_init(rngs.params(), shape, k * k * c_in)
        self.kernel = nnx.Param(kernel)
        self.bias = nnx.Param(jnp.zeros(c_out))

    def __call__(self, x: Array) -> Array:
        """``(batch, H, W, C_in) -> (batch, H, W, C_out)``."""
        return conv2d(x, self.kernel[...], self.bias[...])
