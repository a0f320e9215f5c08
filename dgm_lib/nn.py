r"""Small networks and initialisers shared by every family: one MLP, a normal initialiser, a
host random generator seeded by a key, and :class:`Frozen`, the one variable type for arrays
a model holds but never trains (masks, degrees, permutations).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .checks import check_positive_int

Array = jax.Array

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Frozen",
    "host_rng",
    "normal_init",
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
