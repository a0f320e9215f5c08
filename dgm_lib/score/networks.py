r"""Noise-conditional networks: one network for every noise level, told the level through an
embedding of the time :math:`t`.

The networks predict the noise, :math:`\hat\varepsilon_\theta(x_t, t)`, and the score is
:math:`s_\theta(x_t, t) = -\hat\varepsilon_\theta(x_t, t) / \sigma(t)`
(:class:`~dgm_lib.score.model.ScoreModel`). The true score of the noised data,
:math:`-\mathbb E[\varepsilon \mid x_t] / \sigma(t)`, grows like :math:`1/\sigma(t)` as the noise
vanishes; the noise it divides stays of unit scale at every level, which is what a network
outputs comfortably (the output scaling of Song and Ermon 2020).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from ..checks import (
    check_array,
    check_hidden_sizes,
    check_positive_float,
    check_positive_int,
    check_rngs,
)
from ..nn import MLP, Frozen

__all__ = ["ScoreMLP", "TimeEmbedding"]


class TimeEmbedding(nnx.Module):
    r"""Random Fourier features of the time, :math:`\gamma(t) = [\sin(2\pi w t), \cos(2\pi w t)]`
    with ``embed_dim / 2`` fixed frequencies :math:`w \sim \mathcal N(0, \text{scale}^2)`
    (Tancik et al. 2020; Song et al. 2021): a smooth code in which nearby times are similar and
    the network can still tell small differences of :math:`t` apart."""

    def __init__(self, embed_dim: int = 64, *, scale: float = 16.0, rngs: nnx.Rngs):
        where = "TimeEmbedding"
        embed_dim = check_positive_int(where, "embed_dim", embed_dim)
        if embed_dim % 2:
            raise ValueError(f"{where}: argument 'embed_dim' must be even (sines and cosines); "
                             f"got {embed_dim}")
        scale = check_positive_float(where, "scale", scale)
        rngs = check_rngs(where, rngs)
        self.embed_dim = embed_dim
        self.frequencies = Frozen(scale * jax.random.normal(rngs.params(), (embed_dim // 2,)))

    def __call__(self, t: Array) -> Array:
        """:math:`\\gamma(t)` for times ``(n,)``: shape ``(n, embed_dim)``."""
        angle = 2.0 * math.pi * t[:, None] * self.frequencies[...]
        return jnp.concatenate([jnp.sin(angle), jnp.cos(angle)], axis=-1)


class ScoreMLP(nnx.Module):
    r"""A noise-prediction MLP on vectors: :math:`\hat\varepsilon_\theta(x, t) =
    \mathrm{MLP}([x, \gamma(t)])`, ``d + embed_dim -> hidden_sizes -> d`` with smooth (SiLU)
    activations. Images are flattened by the caller (``(n, d)`` in, ``(n, d)`` out).

    Args:
        d: the data dimension.
        hidden_sizes: the widths of the hidden layers.
        embed_dim: the size of the time embedding :math:`\gamma(t)`.
        scale: the standard deviation of the embedding's frequencies.
        rngs: ``nnx.Rngs`` for the weights and the frequencies.
    """

    def __init__(
        self,
        d: int,
        hidden_sizes: Sequence[int],
        *,
        embed_dim: int = 64,
        scale: float = 16.0,
        rngs: nnx.Rngs,
    ):
        where = "ScoreMLP"
        self.d = check_positive_int(where, "d", d)
        hidden_sizes = check_hidden_sizes(where, hidden_sizes)
        rngs = check_rngs(where, rngs)
        self.embed = TimeEmbedding(embed_dim, scale=scale, rngs=rngs)
        self.net = MLP((d + embed_dim, *hidden_sizes, d), "silu", rngs=rngs)

    def __call__(self, x: Array, t: Array) -> Array:
        r""":math:`\hat\varepsilon_\theta(x, t)` for states ``(n, d)`` and times ``(n,)``."""
        x = check_array("ScoreMLP", "x", x, shape=("n", self.d))
        t = check_array("ScoreMLP", "t", t, shape=(x.shape[0],))
        return self.net(jnp.concatenate([x, self.embed(t)], axis=-1))
