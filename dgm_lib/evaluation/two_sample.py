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
never zero and the test has its stated level exactly). :func:`mmd_test` runs the same test
with the unbiased squared MMD of a Gaussian kernel (:func:`~dgm_lib.evaluation.mmd2_unbiased`,
Gretton et al. 2012) as the statistic, its bandwidth from the median heuristic of the pooled
points, fixed across the relabellings.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..checks import check_array, check_key, check_positive_float, check_positive_int
from .kid import gaussian_kernel, median_bandwidth

__all__ = ["TwoSampleTest", "energy_distance", "energy_distance_test", "mmd_test"]

Statistic = Callable[[Array, Array], Array]
"""A two-sample statistic ``(pairwise, in_a) -> scalar`` of a matrix over the pooled points and
their labels, 1 for the points of ``a``."""


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


def _distances(pooled: Array) -> Array:
    """The matrix of Euclidean distances between the pooled points."""
    sq = jnp.sum(pooled * pooled, 1)
    return jnp.sqrt(jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * pooled @ pooled.T, 0.0))


def _energy(dist: Array, in_a: Array) -> Array:
    """The energy distance between the points labelled 1 and those labelled 0, from their
    distances."""
    a_w = in_a / jnp.sum(in_a)
    b_w = (1.0 - in_a) / jnp.sum(1.0 - in_a)
    return 2.0 * a_w @ dist @ b_w - a_w @ dist @ a_w - b_w @ dist @ b_w


def _mmd2(gram: Array, in_a: Array) -> Array:
    """The unbiased squared MMD between the points labelled 1 and those labelled 0, from a Gram
    matrix whose diagonal is zero (so the sums run over distinct pairs)."""
    in_b = 1.0 - in_a
    m, n = jnp.sum(in_a), jnp.sum(in_b)
    return (in_a @ gram @ in_a / (m * (m - 1)) + in_b @ gram @ in_b / (n * (n - 1))
            - 2.0 * in_a @ gram @ in_b / (m * n))


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
    pooled, in_a = _pooled(a, b)
    return float(_energy(_distances(pooled), in_a))


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
    pooled, in_a = _pooled(a, b)
    return _permutation_test(key, _distances(pooled), in_a, num_permutations, _energy)


def mmd_test(
    key: Array, a: Array, b: Array, *, bandwidth: float | None = None,
    num_permutations: int = 200,
) -> TwoSampleTest:
    r"""The permutation test of :math:`P = Q` with the unbiased squared MMD of the Gaussian
    kernel :math:`k(x, y) = e^{-\lVert x - y \rVert^2 / 2h^2}`, for samples ``a`` ``(n_a, d)``
    and ``b`` ``(n_b, d)``. ``bandwidth`` is :math:`h`; ``None`` takes the median distance
    between pooled points (:func:`~dgm_lib.evaluation.median_bandwidth`), which no relabelling
    changes. ``num_permutations`` relabellings, drawn from ``key``; memory grows as
    :math:`(n_a + n_b)^2`."""
    where = "mmd_test"
    key = check_key(where, key)
    a, b = _check_pair(where, a, b)
    num_permutations = check_positive_int(where, "num_permutations", num_permutations)
    h = median_bandwidth(a, b) if bandwidth is None else check_positive_float(
        where, "bandwidth", bandwidth)
    pooled, in_a = _pooled(a, b)
    gram = gaussian_kernel(pooled, pooled, bandwidth=h)
    gram[np.diag_indices_from(gram)] = 0.0
    return _permutation_test(key, jnp.asarray(gram, jnp.float32), in_a, num_permutations, _mmd2)


def _permutation_test(key: Array, pairwise: Array, in_a: Array, num_permutations: int,
                      statistic: Statistic) -> TwoSampleTest:
    """The statistic of the observed labels and the p-value of the permutation test."""
    observed, count = _permutation_count(key, pairwise, in_a, num_permutations, statistic)
    return TwoSampleTest(float(observed), (1.0 + int(count)) / (1.0 + num_permutations))


@partial(jax.jit, static_argnums=(3, 4))
def _permutation_count(key: Array, pairwise: Array, in_a: Array, num_permutations: int,
                       statistic: Statistic) -> tuple[Array, Array]:
    observed = statistic(pairwise, in_a)
    keys = jax.random.split(key, num_permutations)
    null = jax.lax.map(lambda k: statistic(pairwise, jax.random.permutation(k, in_a)), keys)
    return observed, jnp.sum(null >= observed)
