r"""Two-sample tests: do two sets of points come from the same distribution?

The energy distance (Székely and Rizzo 2013) between laws :math:`P` and :math:`Q`,

.. math:: \mathcal E(P, Q) = 2\, \mathbb E \lVert X - Y \rVert - \mathbb E \lVert X - X' \rVert
          - \mathbb E \lVert Y - Y' \rVert \ \ge 0,

with :math:`X, X' \sim P` and :math:`Y, Y' \sim Q` independent, is zero only when :math:`P = Q`
(it is the squared MMD of the kernel :math:`-\lVert x - y \rVert`). Its plug-in estimate from two
samples is positive by chance even when the laws agree; a **permutation test** calibrates it:
under :math:`P = Q` the labels "from a" and "from b" are exchangeable, so the statistic of
random relabellings of the pooled points is its null distribution, and the p-value is the
fraction of relabellings at least as extreme as the observed split (plus one, so that it is
never zero and the test has its stated level exactly).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from ..checks import check_array, check_key, check_positive_int

__all__ = ["TwoSampleTest", "energy_distance", "energy_distance_test"]


class TwoSampleTest(NamedTuple):
    """The result of a permutation test.

    Attributes:
        statistic: the statistic of the observed split.
        p_value: :math:`(1 + \\#\\{\\text{permutations} \\ge \\text{statistic}\\}) / (1 +
            \\text{num\\_permutations})`.
    """

    statistic: float
    p_value: float


def _pooled(a: Array, b: Array) -> tuple[Array, Array]:
    """The points of both samples and a label, 1 for those of ``a``."""
    return jnp.concatenate([a, b]), jnp.concatenate([jnp.ones(a.shape[0]), jnp.zeros(b.shape[0])])


def _energy(pooled: Array, in_a: Array) -> Array:
    """The energy distance between the points labelled 1 and those labelled 0."""
    a_w = in_a / jnp.sum(in_a)
    b_w = (1.0 - in_a) / jnp.sum(1.0 - in_a)
    sq = jnp.sum(pooled * pooled, 1)
    dist = jnp.sqrt(jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * pooled @ pooled.T, 0.0))
    return 2.0 * a_w @ dist @ b_w - a_w @ dist @ a_w - b_w @ dist @ b_w


def _check_pair(where: str, a: Array, b: Array) -> tuple[Array, Array]:
    a = check_array(where, "a", a, shape=("n_a", "d"))
    b = check_array(where, "b", b, shape=("n_b", a.shape[1]))
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"{where}: each sample needs at least 2 points; got {a.shape[0]} and "
                         f"{b.shape[0]}")
    return a, b


def energy_distance(a: Array, b: Array) -> float:
    r"""The plug-in energy distance (module docstring) between samples ``a`` ``(n_a, d)`` and
    ``b`` ``(n_b, d)``, all pairs included (a V-statistic)."""
    a, b = _check_pair("energy_distance", a, b)
    return float(_energy(*_pooled(a, b)))


def energy_distance_test(
    key: Array, a: Array, b: Array, *, num_permutations: int = 200
) -> TwoSampleTest:
    """The permutation test of :math:`P = Q` with the energy distance (module docstring), for
    samples ``a`` ``(n_a, d)`` and ``b`` ``(n_b, d)``; ``num_permutations`` relabellings,
    drawn from ``key``. Memory grows as :math:`(n_a + n_b)^2`: a few thousand points."""
    where = "energy_distance_test"
    key = check_key(where, key)
    a, b = _check_pair(where, a, b)
    num_permutations = check_positive_int(where, "num_permutations", num_permutations)
    return TwoSampleTest(*(float(v) for v in _permutation_test(key, a, b, num_permutations)))


@partial(jax.jit, static_argnums=3)
def _permutation_test(key: Array, a: Array, b: Array, num_permutations: int) -> tuple[Array, Array]:
    pooled, labels = _pooled(a, b)
    observed = _energy(pooled, labels)
    keys = jax.random.split(key, num_permutations)
    null = jax.lax.map(lambda k: _energy(pooled, jax.random.permutation(k, labels)), keys)
    return observed, (1.0 + jnp.sum(null >= observed)) / (1.0 + num_permutations)
