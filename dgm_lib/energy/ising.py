r"""The Ising model: the smallest Markov random field with an intractable-looking normaliser.

Spins :math:`s_i \in \{-1, +1\}` sit on an ``height`` x ``width`` grid (free boundaries), and
neighbouring spins :math:`i \sim j` (left-right, up-down) like to agree:

.. math:: E(s) = -J \sum_{i \sim j} s_i s_j - h \sum_i s_i, \qquad
          p(s) = \frac{e^{-E(s)}}{Z}, \qquad Z = \sum_{s \in \{-1,1\}^{HW}} e^{-E(s)},

with coupling :math:`J` (the inverse temperature is folded into it) and field :math:`h`. The
energy is a sum of pairwise potentials, one per edge of the grid: a Markov random field whose
cliques are the edges. :math:`Z` is a sum over :math:`2^{HW}` states, 65,536 for a 4 x 4 grid:
exact here, hopeless at 28 x 28.

Given its four neighbours a spin is independent of the rest of the grid, with

.. math:: p(s_i = +1 \mid s_{-i}) = \sigma\Big(2 \big(J \textstyle\sum_{j \sim i} s_j + h\big)\Big),

and the sites of one colour of a checkerboard are not neighbours of each other, so all of them
can be drawn at once: a sweep is two block updates (black, then white), an exact Gibbs sampler.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..checks import check_array, check_key, check_positive_int
from ..enumeration import MAX_BINARY_DIM, all_binary_vectors

__all__ = ["Ising", "magnetisation"]


def magnetisation(s: Array) -> Array:
    r"""The mean spin of each configuration, :math:`m(s) = \frac{1}{HW}\sum_i s_i \in [-1, 1]`,
    for spins ``(n, height, width)``; shape ``(n,)``."""
    s = check_array("magnetisation", "s", s, shape=("n", "height", "width"), kind="number")
    return jnp.mean(s.astype(jnp.float32), axis=(1, 2))


def _neighbour_sum(s: Array) -> Array:
    """Sum of each site's (up to four) neighbours, free boundaries; shape of ``s``."""
    padded = jnp.pad(s, ((0, 0), (1, 1), (1, 1)))
    return padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]


@dataclass(frozen=True)
class Ising:
    """An Ising model on a ``height`` x ``width`` grid with coupling ``coupling`` (J) and field
    ``field`` (h); spins are float arrays of -1 and +1, shape ``(n, height, width)``.

    It has no trainable parameters, so it is a frozen dataclass, not an ``nnx.Module``.
    """

    height: int
    width: int
    coupling: float = 1.0
    field: float = 0.0

    def __post_init__(self) -> None:
        check_positive_int("Ising", "height", self.height)
        check_positive_int("Ising", "width", self.width)

    @property
    def d(self) -> int:
        """The number of spins, ``height * width``."""
        return self.height * self.width

    def _check_spins(self, where: str, s: Array) -> Array:
        s = check_array(where, "s", s, shape=("n", self.height, self.width), kind="number")
        if not isinstance(s, jax.core.Tracer) and not bool(jnp.all(jnp.abs(s) == 1)):
            raise ValueError(
                f"{where}: argument 's' must hold spins -1 and +1 (map 0/1 bits b to 2 b - 1); "
                f"got values {np.unique(np.asarray(s))[:5].tolist()}"
            )
        return s.astype(jnp.float32)

    def _energy(self, s: Array) -> Array:
        pairs = jnp.sum(s[:, 1:, :] * s[:, :-1, :], axis=(1, 2)) + jnp.sum(
            s[:, :, 1:] * s[:, :, :-1], axis=(1, 2)
        )
        return -self.coupling * pairs - self.field * jnp.sum(s, axis=(1, 2))

    def energy(self, s: Array) -> Array:
        r""":math:`E(s) = -J\sum_{i\sim j} s_i s_j - h\sum_i s_i`, shape ``(n,)``."""
        return self._energy(self._check_spins("Ising.energy", s))

    def all_states(self) -> Array:
        """Every configuration, ``(2**d, height, width)`` of -1/+1 (``d`` at most 20)."""
        if self.d > MAX_BINARY_DIM:
            raise ValueError(
                f"Ising.all_states: a {self.height} x {self.width} grid has 2**{self.d} states, "
                f"too many to enumerate (at most 2**{MAX_BINARY_DIM}); estimate by sampling "
                "(gibbs_sweep) instead"
            )
        bits = all_binary_vectors(self.d)
        return (2.0 * bits - 1.0).reshape(-1, self.height, self.width)

    def log_partition(self) -> Array:
        r""":math:`\log Z = \log\sum_s e^{-E(s)}`, exact by enumerating every state."""
        return jax.nn.logsumexp(-self._energy(self.all_states()))

    def log_prob(self, s: Array) -> Array:
        r""":math:`\log p(s) = -E(s) - \log Z`, exact (enumeration), shape ``(n,)``."""
        return -self.energy(s) - self.log_partition()

    def gibbs_sweep(self, key: Array, s: Array) -> Array:
        r"""One checkerboard Gibbs sweep: every black site drawn from its conditional
        :math:`\sigma(2(J\sum_{j\sim i}s_j + h))` given the white ones, then every white site
        given the new black ones. Leaves :math:`p` invariant; shape of ``s``."""
        where = "Ising.gibbs_sweep"
        key = check_key(where, key)
        s = self._check_spins(where, s)
        rows, cols = jnp.meshgrid(jnp.arange(self.height), jnp.arange(self.width), indexing="ij")
        black = (rows + cols) % 2 == 0
        for colour, k in zip((black, ~black), jax.random.split(key), strict=True):
            logits = 2.0 * (self.coupling * _neighbour_sum(s) + self.field)
            draw = jnp.where(jax.random.bernoulli(k, jax.nn.sigmoid(logits)), 1.0, -1.0)
            s = jnp.where(colour, draw, s)
        return s
