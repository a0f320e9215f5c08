r"""The kernel inception distance (KID) of Bińkowski et al. (2018), "Demystifying MMD GANs", in
whatever feature space the caller chooses.

The squared maximum mean discrepancy between laws :math:`P` and :math:`Q` for a kernel
:math:`k`,

.. math:: \mathrm{MMD}^2(P, Q) = \mathbb E\, k(X, X') + \mathbb E\, k(Y, Y')
          - 2\, \mathbb E\, k(X, Y),

with :math:`X, X' \sim P` and :math:`Y, Y' \sim Q` independent, is the squared distance
between the two laws' mean embeddings in the kernel's feature space. KID takes the polynomial
kernel on :math:`d` features

.. math:: k(x, y) = \Bigl(\frac{x^\top y}{d} + c\Bigr)^p, \qquad p = 3,\ c = 1.

Expanded, :math:`(x^\top y / d + c)^3` is an inner product of feature maps holding every
monomial of degree at most three with a positive weight (for :math:`c > 0`), so the MMD is
zero exactly when the two laws agree in their moments up to order three: more than the
Frechet distance's two moments (:mod:`~dgm_lib.evaluation.frechet`), less than the whole law.

Unlike the Frechet distance, the MMD has an **unbiased** estimate, the U-statistic of
:func:`mmd2_unbiased`: its expectation does not depend on the sample sizes, so it is zero on
average for equal laws (and then often negative) and scores from different numbers of samples
estimate the same number. :func:`kernel_distance` averages it over random subsets of equal
size, as the KID recipe does, and reports the standard error of that average. Values are small
for good models; papers often print :math:`10^3 \times` KID.

The same estimator takes the **Gaussian** kernel too, ``kernel="gaussian"``,

.. math:: k(x, y) = \exp\Bigl(-\frac{\lVert x - y \rVert^2}{2 h^2}\Bigr)
          \qquad (:func:`gaussian_kernel`),

which is characteristic: its MMD is zero only when the two laws are equal, whatever their
moments. Its bandwidth :math:`h` sets the scale at which the laws are compared; by default it is
:func:`median_bandwidth`, the median distance between pairs of the pooled points (the median
heuristic of Gretton et al. 2012). :func:`~dgm_lib.evaluation.mmd_test` calibrates this
statistic by a permutation test.

Everything here runs in float64 NumPy on the host; :func:`mmd2_unbiased` sums its Gram matrices
in blocks of rows, so those of large sets are never held whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import numpy as np
from jax import Array
from scipy.spatial.distance import pdist

from ..checks import (
    check_host_array,
    check_int_at_least,
    check_key,
    check_positive_float,
    check_positive_int,
)
from ..nn import host_rng

__all__ = [
    "KernelDistance",
    "gaussian_kernel",
    "kernel_distance",
    "median_bandwidth",
    "mmd2_unbiased",
    "polynomial_kernel",
]

_KERNELS = ("polynomial", "gaussian")
Gram = Callable[[np.ndarray, np.ndarray], np.ndarray]

_CHUNK_ROWS = 1024  # rows of a Gram block: 1024 x 10,000 float64 is 82 MB


class KernelDistance(NamedTuple):
    r"""The result of :func:`kernel_distance`.

    Attributes:
        value: the KID, :math:`\frac1S \sum_s \widehat{\mathrm{MMD}}^2_u(s)` over the
            :math:`S` subsets, in squared units of the kernel (a plain float; it can be
            slightly negative when the two laws agree).
        stderr: :math:`\mathrm{sd}_s / \sqrt S`, the standard error of that mean over the
            random choice of subsets (the two sets held fixed): it says whether more subsets
            would change the printed digits, not how much a fresh set of samples would. The
            spread over subsets itself is ``stderr * sqrt(num_subsets)``.
        num_subsets: :math:`S`.
        subset_size: the points drawn from each set for each subset.
    """

    value: float
    stderr: float
    num_subsets: int
    subset_size: int


def _features(where: str, name: str, x: Any, *, min_rows: int) -> np.ndarray:
    """``x`` as a finite float64 ``(n, d)`` array with ``n >= min_rows``."""
    a = check_host_array(where, name, x, ("n", "d"))
    if a.shape[0] < min_rows:
        raise ValueError(
            f"{where}: argument '{name}' needs at least {min_rows} samples (rows); got shape "
            f"{a.shape}"
        )
    return a


def _pair(where: str, a: Any, b: Any, *, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    a = _features(where, "a", a, min_rows=min_rows)
    b = _features(where, "b", b, min_rows=min_rows)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{where}: arguments 'a' and 'b' must have the same number of features d "
            f"(columns); got shapes {a.shape} and {b.shape}"
        )
    return a, b


def _kernel_params(where: str, degree: Any, coef0: Any) -> tuple[int, float]:
    degree = check_positive_int(where, "degree", degree)
    if isinstance(coef0, bool) or not isinstance(coef0, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: argument 'coef0' must be a number >= 0; got {coef0!r}")
    if not (math.isfinite(coef0) and coef0 >= 0):
        raise ValueError(
            f"{where}: argument 'coef0' must be a finite number >= 0 (a negative offset "
            f"does not give a positive semi-definite kernel); got {coef0!r}"
        )
    return degree, float(coef0)


def _polynomial_gram(a: np.ndarray, b: np.ndarray, degree: int, coef0: float) -> np.ndarray:
    g = a @ b.T
    g /= a.shape[1]
    g += coef0
    return g**degree


def _gaussian_gram(a: np.ndarray, b: np.ndarray, bandwidth: float) -> np.ndarray:
    sq = a @ b.T
    sq *= -2.0
    sq += np.einsum("ij,ij->i", a, a)[:, None]
    sq += np.einsum("ij,ij->i", b, b)[None, :]
    np.maximum(sq, 0.0, out=sq)
    sq *= -0.5 / bandwidth**2
    return np.exp(sq, out=sq)


def _median_distance(where: str, pooled: np.ndarray) -> float:
    h = float(np.median(pdist(pooled)))
    if not h > 0:
        raise ValueError(
            f"{where}: the median distance between pairs of the pooled points is 0 (more than "
            "half the pairs coincide), so the median heuristic gives no bandwidth; pass "
            "argument 'bandwidth' > 0 explicitly"
        )
    return h


def _block_sum(a: np.ndarray, b: np.ndarray, gram: Gram, *, distinct: bool) -> float:
    r""":math:`\sum_{i,j} k(a_i, b_j)`, one block of ``_CHUNK_ROWS`` rows at a time; with
    ``distinct`` (``b`` is ``a``) the diagonal :math:`i = j` is left out of each block."""
    total = []
    for s in range(0, a.shape[0], _CHUNK_ROWS):
        block = gram(a[s : s + _CHUNK_ROWS], b)
        if distinct:
            rows = np.arange(block.shape[0])
            block[rows, s + rows] = 0.0
        total.append(float(np.sum(block)))
    return math.fsum(total)


def _mmd2(a: np.ndarray, b: np.ndarray, gram: Gram) -> float:
    m, n = a.shape[0], b.shape[0]
    return (
        _block_sum(a, a, gram, distinct=True) / (m * (m - 1))
        + _block_sum(b, b, gram, distinct=True) / (n * (n - 1))
        - 2.0 * _block_sum(a, b, gram, distinct=False) / (m * n)
    )


def polynomial_kernel(a: Any, b: Any, *, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    r"""The Gram matrix of the polynomial kernel,
    :math:`K_{ij} = (a_i^\top b_j / d + c)^p`, with :math:`p` = ``degree`` and :math:`c` =
    ``coef0``; the defaults are KID's.

    Args:
        a: ``(n, d)`` array (NumPy or JAX), one row per sample.
        b: ``(m, d)`` array with the same ``d``.
        degree: :math:`p`, a positive int.
        coef0: :math:`c \ge 0`.

    Returns:
        float64 NumPy array of shape ``(n, m)`` (all of it in memory: for large sets use
        :func:`mmd2_unbiased`, which sums it block by block).
    """
    where = "polynomial_kernel"
    a, b = _pair(where, a, b, min_rows=1)
    degree, coef0 = _kernel_params(where, degree, coef0)
    return _polynomial_gram(a, b, degree, coef0)


def gaussian_kernel(a: Any, b: Any, *, bandwidth: float) -> np.ndarray:
    r"""The Gram matrix of the Gaussian kernel,
    :math:`K_{ij} = \exp(-\lVert a_i - b_j \rVert^2 / (2 h^2))`, with :math:`h` =
    ``bandwidth``.

    Args:
        a: ``(n, d)`` array (NumPy or JAX), one row per sample.
        b: ``(m, d)`` array with the same ``d``.
        bandwidth: :math:`h > 0`, in the units of the points (:func:`median_bandwidth` is
            the usual choice).

    Returns:
        float64 NumPy array of shape ``(n, m)``, entries in :math:`(0, 1]`.
    """
    where = "gaussian_kernel"
    a, b = _pair(where, a, b, min_rows=1)
    bandwidth = check_positive_float(where, "bandwidth", bandwidth)
    return _gaussian_gram(a, b, bandwidth)


def median_bandwidth(a: Any, b: Any) -> float:
    r"""The median heuristic for the bandwidth of :func:`gaussian_kernel`: the median of the
    distances :math:`\lVert z_i - z_j \rVert`, :math:`i < j`, between distinct pairs of the
    pooled points :math:`z = (a_1, \dots, a_m, b_1, \dots, b_n)` (the zero distances of a
    point to itself left out). It depends on the pooled set only, not on which point came
    from which sample, so a permutation test can keep it fixed.

    Args:
        a: ``(m, d)`` array (NumPy or JAX).
        b: ``(n, d)`` array with the same ``d``; :math:`m + n \ge 2`.

    Returns:
        The median distance as a Python float (all :math:`(m+n)(m+n-1)/2` distances are held
        at once: a few thousand points).

    Raises:
        ValueError: bad shapes, NaN, or a median of zero (more than half the pairs coincide).
    """
    where = "median_bandwidth"
    a, b = _pair(where, a, b, min_rows=1)
    return _median_distance(where, np.concatenate([a, b]))


def mmd2_unbiased(
    a: Any,
    b: Any,
    *,
    kernel: str = "polynomial",
    degree: int = 3,
    coef0: float = 1.0,
    bandwidth: float | None = None,
) -> float:
    r"""The unbiased (U-statistic) estimate of :math:`\mathrm{MMD}^2` for samples
    :math:`a_1, \dots, a_m` and :math:`b_1, \dots, b_n`, with the polynomial kernel of KID
    (:func:`polynomial_kernel`, the default) or the Gaussian kernel (:func:`gaussian_kernel`):

    .. math:: \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)} \sum_{i \ne j} k(a_i, a_j)
              + \frac{1}{n(n-1)} \sum_{i \ne j} k(b_i, b_j)
              - \frac{2}{mn} \sum_{i=1}^m \sum_{j=1}^n k(a_i, b_j).

    Leaving out the diagonals :math:`k(a_i, a_i)` (a point paired with itself) is what makes
    it unbiased: each sum then averages the kernel over pairs of independent points, so its
    expectation is the :math:`\mathrm{MMD}^2` of the module docstring, for every :math:`m, n
    \ge 2`. It can therefore be negative. With ``degree=1, coef0=0`` the kernel is
    :math:`x^\top y / d` and the population value is :math:`\lVert \mu_a - \mu_b \rVert^2 / d`.
    (A bandwidth chosen from the data, the median heuristic, makes the Gaussian estimate
    unbiased only given that bandwidth; its bias from the choice is small.)

    Args:
        a: ``(m, d)`` array (NumPy or JAX), ``m >= 2``.
        b: ``(n, d)`` array with the same ``d``, ``n >= 2``.
        kernel: ``"polynomial"`` (KID's) or ``"gaussian"``.
        degree: :math:`p` of the polynomial kernel, a positive int (unused by the Gaussian).
        coef0: :math:`c \ge 0` of the polynomial kernel (unused by the Gaussian).
        bandwidth: :math:`h > 0` of the Gaussian kernel; ``None`` (the default) takes
            :func:`median_bandwidth` of ``a`` and ``b``. Must be ``None`` for the polynomial
            kernel.

    Returns:
        The estimate as a Python float, in squared units of the kernel.
    """
    where = "mmd2_unbiased"
    a, b = _pair(where, a, b, min_rows=2)
    degree, coef0 = _kernel_params(where, degree, coef0)
    if kernel == "polynomial":
        if bandwidth is not None:
            raise ValueError(
                f"{where}: argument 'bandwidth' is for kernel='gaussian' only; got "
                f"bandwidth={bandwidth!r} with kernel='polynomial'"
            )
        return _mmd2(a, b, partial(_polynomial_gram, degree=degree, coef0=coef0))
    if kernel == "gaussian":
        bandwidth = (
            _median_distance(where, np.concatenate([a, b]))
            if bandwidth is None
            else check_positive_float(where, "bandwidth", bandwidth)
        )
        return _mmd2(a, b, partial(_gaussian_gram, bandwidth=bandwidth))
    raise ValueError(f"{where}: argument 'kernel' must be one of {_KERNELS}; got {kernel!r}")


def kernel_distance(
    key: Array,
    a: Any,
    b: Any,
    *,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    coef0: float = 1.0,
) -> KernelDistance:
    r"""The kernel inception distance (KID) between two sets of features: the mean of
    :func:`mmd2_unbiased` over random subsets,

    .. math:: \mathrm{KID} = \frac1S \sum_{s=1}^S \widehat{\mathrm{MMD}}^2_u
              \bigl(a_{I_s}, b_{J_s}\bigr), \qquad
              \widehat{\mathrm{se}} = \frac{\mathrm{sd}_s}{\sqrt S},

    where each :math:`I_s` (:math:`J_s`) holds ``subset_size`` distinct rows of ``a`` (``b``)
    drawn uniformly without replacement, independently for each of the :math:`S` =
    ``num_subsets`` subsets, and :math:`\mathrm{sd}_s` is the standard deviation (``ddof=1``)
    of the :math:`S` estimates. Each term is unbiased, so the mean is too; its expectation over
    the subsets is the U-statistic of the two whole sets. The defaults (100 subsets of 1,000,
    the kernel :math:`(x^\top y / d + 1)^3`) are the common KID recipe.

    The subsets come from a NumPy generator seeded by ``key`` (:func:`dgm_lib.nn.host_rng`),
    so one key gives the same result on every machine. Each subset costs three
    ``subset_size`` :math:`\times` ``subset_size`` Gram matrices, summed in blocks of 1,024
    rows.

    Args:
        key: a random key, ``jax.random.key(seed)``, that chooses the subsets.
        a: ``(n_a, d)`` features (NumPy or JAX), one row per sample.
        b: ``(n_b, d)`` features with the same ``d``.
        num_subsets: :math:`S \ge 2` (two at least, for a standard error).
        subset_size: rows drawn from each set per subset; at least 2 and at most
            ``min(n_a, n_b)``. A larger value is refused rather than silently lowered: pass
            ``subset_size=min(len(a), len(b))`` to use as many as the smaller set allows.
        degree: :math:`p` of the polynomial kernel, a positive int.
        coef0: :math:`c \ge 0` of the polynomial kernel.

    Returns:
        A :class:`KernelDistance` (value, stderr, num_subsets, subset_size).

    Raises:
        ValueError: sets that are not 2-D, have different ``d``, hold NaN or fewer than 2
            rows; ``num_subsets < 2``; ``subset_size`` below 2 or above either set's size;
            ``degree < 1`` or ``coef0 < 0``.
    """
    where = "kernel_distance"
    key = check_key(where, key)
    a, b = _pair(where, a, b, min_rows=2)
    num_subsets = check_int_at_least(where, "num_subsets", num_subsets, 2)
    subset_size = check_int_at_least(where, "subset_size", subset_size, 2)
    degree, coef0 = _kernel_params(where, degree, coef0)
    smaller = min(a.shape[0], b.shape[0])
    if subset_size > smaller:
        raise ValueError(
            f"{where}: argument 'subset_size'={subset_size} is larger than a set: 'a' has "
            f"{a.shape[0]} rows and 'b' {b.shape[0]}, and a subset draws distinct rows from "
            f"each. Pass subset_size={smaller} (the smaller set) or less."
        )
    gram = partial(_polynomial_gram, degree=degree, coef0=coef0)
    rng = host_rng(key)
    estimates = np.empty(num_subsets)
    for s in range(num_subsets):
        rows_a = rng.choice(a.shape[0], subset_size, replace=False)
        rows_b = rng.choice(b.shape[0], subset_size, replace=False)
        estimates[s] = _mmd2(a[rows_a], b[rows_b], gram)
    return KernelDistance(
        value=float(np.mean(estimates)),
        stderr=float(np.std(estimates, ddof=1) / math.sqrt(num_subsets)),
        num_subsets=num_subsets,
        subset_size=subset_size,
    )
