r"""Sample-quality metrics from k-nearest-neighbour balls: is each generated sample near the
data (fidelity), and is each part of the data near some sample (diversity)?

Write :math:`\mathrm{NND}_k(x)` for the distance from a point of a set to its :math:`k`-th
nearest *other* point of the same set (:func:`knn_radii`) and :math:`B(x, r)` for the closed
ball :math:`\{y : \lVert y - x \rVert \le r\}`. The balls :math:`B(x_i, \mathrm{NND}_k(x_i))`
around the :math:`N` real points :math:`x_i` estimate the real manifold; those around the
:math:`M` generated points :math:`y_j` the generated one. Kynkäänniemi et al. (2019),
"Improved precision and recall metric for assessing generative models", count

.. math:: \text{precision} = \frac1M \sum_{j=1}^M
          \mathbf 1\Bigl[y_j \in \textstyle\bigcup_i B(x_i, \mathrm{NND}_k(x_i))\Bigr],
          \qquad
          \text{recall} = \frac1N \sum_{i=1}^N
          \mathbf 1\Bigl[x_i \in \textstyle\bigcup_j B(y_j, \mathrm{NND}_k(y_j))\Bigr]:

the share of samples that land on the real manifold, and of real points that land on the
generated one. One real outlier has a large ball that can swallow many poor samples, so
Naeem et al. (2020), "Reliable fidelity and diversity metrics for generative models", count
with the real balls only:

.. math:: \text{density} = \frac{1}{kM} \sum_{j=1}^M \sum_{i=1}^N
          \mathbf 1\bigl[y_j \in B(x_i, \mathrm{NND}_k(x_i))\bigr], \qquad
          \text{coverage} = \frac1N \sum_{i=1}^N
          \mathbf 1\bigl[\exists\, j : y_j \in B(x_i, \mathrm{NND}_k(x_i))\bigr].

Density counts how many real balls hold each sample (so it rewards samples where the real
points are dense and can exceed 1); coverage is the share of real points whose ball holds at
least one sample. When the two laws are equal (and continuous), exchangeability of the pooled
points gives :math:`\mathbb E[\text{density}] = 1` and :math:`\mathbb E[\text{coverage}] = 1 -
\prod_{l=0}^{k-1} \frac{N-1-l}{N-1+M-l}` (:math:`\approx 1 - 2^{-k}` for :math:`M = N`).
Precision and density fall when samples leave the data (blur, artefacts), while recall can
stay high (the generated balls grow with the blur); recall and coverage fall when samples miss
part of the data (dropped modes), while precision stays high. :func:`prdc` returns all four,
finding each set's radii once.

Distances are Euclidean and exact, computed in row blocks so that two sets of 10,000 points in
1,000 dimensions need a few hundred MB. Each block is screened with a float32 Gram product,
:math:`\lVert x - y \rVert^2 = \lVert x \rVert^2 + \lVert y \rVert^2 - 2 x^\top y` (after
centring on the reference set's mean and scaling by a power of two), whose rounding error is
bounded: :math:`\lvert \mathrm{fl}(x^\top y) - x^\top y \rvert \le \gamma_{d+2} \lVert x \rVert
\lVert y \rVert` with :math:`\gamma_n = nu/(1 - nu)` and :math:`u = 2^{-24}`. Only the entries
within that bound of a decision (a k-th smallest value, a ball's radius) are recomputed in
float64 as :math:`\sum_l (x_l - y_l)^2`, so every neighbour, distance and count is the one an
all-float64 computation gives, in about a third of its time.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..checks import check_host_array, check_positive_int

__all__ = [
    "PRDC",
    "density_coverage",
    "knn_radii",
    "nearest_neighbours",
    "prdc",
    "precision_recall",
]

_CHUNK_ROWS = 512  # query rows per block: 512 x 10,000 float32 is 20 MB
_PAIR_ELEMENTS = 1 << 20  # float64 entries of the gathered rows of one refinement batch (8 MB)
_U32 = 2.0**-24  # the unit roundoff of float32


class PRDC(NamedTuple):
    """The four k-NN metrics of :func:`prdc` (module docstring), each a Python float.

    Attributes:
        precision: the share of generated samples inside some real ball, in [0, 1].
        recall: the share of real points inside some generated ball, in [0, 1].
        density: real balls per generated sample, divided by ``k``; 1 on average for equal
            laws, and unbounded above.
        coverage: the share of real points whose ball holds a generated sample, in [0, 1].
    """

    precision: float
    recall: float
    density: float
    coverage: float


def _points(where: str, name: str, x: Any) -> np.ndarray:
    """``x`` as a finite float64 ``(n, d)`` array with ``n, d >= 1``."""
    a = check_host_array(where, name, x, ("n", "d"))
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(
            f"{where}: argument '{name}' must have shape (n, d) with n, d >= 1, one row per "
            f"point; got shape {a.shape}"
        )
    return a


def _same_d(where: str, names: tuple[str, str], x: np.ndarray, y: np.ndarray) -> None:
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{where}: arguments '{names[0]}' and '{names[1]}' must have the same dimension d "
            f"(columns); got shapes {x.shape} and {y.shape}"
        )


def _check_k(where: str, k: Any, n: int, name: str, *, other: bool) -> int:
    """``k`` as an int in ``1..n-1`` (a k-th *other* point of ``name``) or ``1..n``."""
    k = check_positive_int(where, "k", k)
    limit = n - 1 if other else n
    if k > limit:
        why = "a k-th nearest other point for each" if other else "k neighbours for each query"
        hint = f"Pass k <= {limit} or give more points." if limit >= 1 else "Give more points."
        raise ValueError(
            f"{where}: argument 'k'={k} needs at least {k + 1 if other else k} points in "
            f"'{name}' ({why}); '{name}' has {n}. {hint}"
        )
    return k


class _Distances:
    """Squared distances from the rows of ``x`` to those of ``y``: screened block by block in
    float32 (:meth:`blocks`), exact in float64 where asked (:meth:`exact`)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y
        center = y.mean(axis=0)
        # Centred on the reference set's mean: the distances do not change, the norms shrink.
        yc = y - center
        xc = yc if x is y else x - center
        top = max(float(np.max(yc)), -float(np.min(yc)), float(np.max(xc)), -float(np.min(xc)))
        # An exact power of two: the scaled entries have magnitude below 2 (no float32 overflow).
        e = 0 if top == 0.0 else int(np.clip(np.floor(np.log2(top)), -500, 500))
        self.scale2 = float(np.ldexp(1.0, -2 * e))
        y_norm = np.sqrt(np.einsum("ij,ij->i", yc, yc) * self.scale2)
        x_norm = y_norm if x is y else np.sqrt(np.einsum("ij,ij->i", xc, xc) * self.scale2)
        np.multiply(yc, np.sqrt(self.scale2), out=yc)
        self.y32 = yc.astype(np.float32)
        self.y_sq32 = (y_norm**2).astype(np.float32)
        if x is y:
            self.x32, self.x_sq32 = self.y32, self.y_sq32
        else:
            np.multiply(xc, np.sqrt(self.scale2), out=xc)
            self.x32 = xc.astype(np.float32)
            self.x_sq32 = (x_norm**2).astype(np.float32)
        del xc, yc
        # |approx - exact| <= slack_i for every entry of row i, in scaled units. The float32
        # Gram entry is off by at most gamma_{d+2} |x_i| |y_j| (the +2: rounding the inputs),
        # so approx by twice that, <= gamma_{d+2} reach / 2 with reach = (|x_i| + max |y|)^2;
        # rounding the norms and the two sums adds at most 3 u reach, rounding a threshold (a
        # squared distance within one set, <= 4 spread) 4 u spread, underflow (d + 2) 2^-122.
        # The slack is at least twice the sum of these.
        d = x.shape[1]
        reach = (x_norm + float(np.max(y_norm))) ** 2
        spread = (float(np.max(x_norm)) + float(np.max(y_norm))) ** 2
        gamma = (d + 2) * _U32 / (1.0 - (d + 2) * _U32)
        self.slack32 = (
            2.0 * (gamma * reach + 8.0 * _U32 * (reach + spread) + (d + 2) * 2.0**-120)
        ).astype(np.float32)

    def scaled(self, squared: np.ndarray) -> np.ndarray:
        """Exact squared distances as float32 in the units of :meth:`blocks`."""
        return (squared * self.scale2).astype(np.float32)

    def blocks(self):
        """Yield ``(start, approx, slack)`` for each block of ``_CHUNK_ROWS`` rows of ``x``:
        ``approx[i, j]`` (float32, scaled units) approximates the squared distance from
        ``x[start + i]`` to ``y[j]`` to within ``slack[i, 0]``."""
        for start in range(0, self.x.shape[0], _CHUNK_ROWS):
            stop = min(start + _CHUNK_ROWS, self.x.shape[0])
            approx = self.x32[start:stop] @ self.y32.T
            approx *= -2.0
            approx += self.x_sq32[start:stop, None]
            approx += self.y_sq32[None, :]
            np.maximum(approx, 0.0, out=approx)
            yield start, approx, self.slack32[start:stop, None]

    def exact(self, start: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The float64 squared distances from ``x[start + rows]`` to ``y[cols]``."""
        d = self.x.shape[1]
        if rows.size > (_CHUNK_ROWS * self.y.shape[0]) // 16:
            # Too many to gather pair by pair (ties, duplicates): the block's float64 Gram form.
            stop = start + int(rows.max()) + 1
            center = self.y.mean(axis=0)
            xc, yc = self.x[start:stop] - center, self.y - center
            block = np.einsum("ij,ij->i", xc, xc)[:, None] + np.einsum("ij,ij->i", yc, yc)
            block -= 2.0 * (xc @ yc.T)
            return np.maximum(block[rows, cols], 0.0)
        out = np.empty(rows.size)
        step = max(1, _PAIR_ELEMENTS // d)
        for s in range(0, rows.size, step):
            diff = self.x[start + rows[s : s + step]] - self.y[cols[s : s + step]]
            out[s : s + step] = np.einsum("ij,ij->i", diff, diff)
        return out


def _kth_upper_bound(approx: np.ndarray, k: int) -> np.ndarray:
    """An upper bound on each row's k-th smallest entry, ``(rows, 1)``, in about one pass: the
    largest of the minima of k interleaved column groups (k distinct entries lie at or below
    it). Tiny blocks get the k-th smallest itself."""
    width = approx.shape[1] // k
    if width < 2:
        return np.partition(approx, k - 1, axis=1)[:, k - 1 : k]
    minima = [approx[:, j : width * k : k].min(axis=1) for j in range(k)]
    return np.max(minima, axis=0)[:, None]


def _knn_squared(
    x: np.ndarray, y: np.ndarray, k: int, *, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest squared distances from each row of ``x`` to the rows of ``y`` (when
    ``exclude_self``, ``x`` is ``y`` and a row's own column is skipped), ascending, ties by
    column; and their columns."""
    distances = _Distances(x, y)
    squared = np.empty((x.shape[0], k))
    indices = np.empty((x.shape[0], k), np.int64)
    offsets = np.arange(k)
    for start, approx, slack in distances.blocks():
        n_rows = approx.shape[0]
        if exclude_self:
            approx[np.arange(n_rows), start + np.arange(n_rows)] = np.inf
        # Candidates: the entries within 2 slack of the row's k-th smallest approximation. The
        # k entries at or below it are within slack of their exact values, so the exact k
        # smallest are all among them. Found below an upper bound first, then sorted.
        upper = _kth_upper_bound(approx, k)
        rows, cols = np.nonzero(approx <= upper + 2.0 * slack)
        if rows.size > 16 * k * n_rows:  # a loose bound (columns ordered in clusters)
            upper = np.partition(approx, k - 1, axis=1)[:, k - 1 : k]
            rows, cols = np.nonzero(approx <= upper + 2.0 * slack)
        values = approx[rows, cols]
        order = np.lexsort((values, rows))
        first = np.searchsorted(rows[order], np.arange(n_rows))
        kth = values[order][first + k - 1]  # all entries <= upper are candidates
        keep = values <= kth[rows] + 2.0 * slack[rows, 0]
        rows, cols = rows[keep], cols[keep]
        exact = distances.exact(start, rows, cols)
        order = np.lexsort((cols, exact, rows))
        rows, cols, exact = rows[order], cols[order], exact[order]
        take = np.searchsorted(rows, np.arange(n_rows))[:, None] + offsets
        squared[start : start + n_rows] = exact[take]
        indices[start : start + n_rows] = cols[take]
    return squared, indices


def nearest_neighbours(queries: Any, reference: Any, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    r"""The ``k`` nearest rows of ``reference`` to each row of ``queries``, by Euclidean
    distance: for generated samples and training images, whether a model copies its data.

    Exact (module docstring), in blocks of 512 query rows: 10,000 queries against 10,000
    reference points in 1,000 dimensions take a few hundred MB. A query that is also in
    ``reference`` finds itself at distance 0; for the k-th nearest *other* point of a set use
    :func:`knn_radii`.

    Args:
        queries: ``(n, d)`` array (NumPy or JAX).
        reference: ``(m, d)`` array with the same ``d``.
        k: neighbours per query, ``1 <= k <= m``.

    Returns:
        ``(distances, indices)``: float64 ``(n, k)`` distances, ascending along each row, and
        the int64 ``(n, k)`` rows of ``reference`` they belong to (equal distances in the
        order of their rows).
    """
    where = "nearest_neighbours"
    queries = _points(where, "queries", queries)
    reference = _points(where, "reference", reference)
    _same_d(where, ("queries", "reference"), queries, reference)
    k = _check_k(where, k, reference.shape[0], "reference", other=False)
    squared, indices = _knn_squared(queries, reference, k, exclude_self=False)
    return np.sqrt(squared), indices


def knn_radii(points: Any, k: int = 5) -> np.ndarray:
    r""":math:`\mathrm{NND}_k(x_i)`: the distance from each point to its ``k``-th nearest
    *other* point of the same set (the point itself left out by index, so a duplicate counts
    as another point, at distance 0). These are the radii of the balls of :func:`prdc`.

    Args:
        points: ``(n, d)`` array (NumPy or JAX).
        k: which neighbour, ``1 <= k <= n - 1``.

    Returns:
        float64 ``(n,)`` array.
    """
    where = "knn_radii"
    points = _points(where, "points", points)
    k = _check_k(where, k, points.shape[0], "points", other=True)
    return np.sqrt(_knn_squared(points, points, k, exclude_self=True)[0][:, -1])


def _check_sets(where: str, real: Any, fake: Any, k: Any, *, fake_radii: bool) -> tuple:
    real = _points(where, "real", real)
    fake = _points(where, "fake", fake)
    _same_d(where, ("real", "fake"), real, fake)
    k = _check_k(where, k, real.shape[0], "real", other=True)
    if fake_radii:
        _check_k(where, k, fake.shape[0], "fake", other=True)
    return real, fake, k


def _ball_counts(
    real: np.ndarray, fake: np.ndarray, k: int, *, fake_radii: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per generated sample, the number of real balls that hold it; per real point, whether
    its ball holds a sample, and (if ``fake_radii``) whether some generated ball holds it."""
    real_r2 = _knn_squared(real, real, k, exclude_self=True)[0][:, -1]
    fake_r2 = _knn_squared(fake, fake, k, exclude_self=True)[0][:, -1] if fake_radii else None
    distances = _Distances(fake, real)  # rows: generated samples; columns: real points
    real_t = distances.scaled(real_r2)[None, :]
    fake_t = distances.scaled(fake_r2)[:, None] if fake_radii else None
    in_real_balls = np.zeros(fake.shape[0], np.int64)
    covered = np.zeros(real.shape[0], bool)
    recalled = np.zeros(real.shape[0], bool) if fake_radii else None
    buffer = np.empty((min(_CHUNK_ROWS, fake.shape[0]), real.shape[0]), np.float32)
    for start, approx, slack in distances.blocks():
        stop = start + approx.shape[0]
        # Decide in float32 where the margin is wider than the error; recompute the rest.
        gap = np.subtract(approx, real_t, out=buffer[: stop - start])
        inside = gap <= 0.0
        unsure = np.abs(gap, out=gap) <= slack
        if fake_radii:
            gap = np.subtract(approx, fake_t[start:stop], out=gap)
            in_fake = gap <= 0.0
            unsure |= np.abs(gap, out=gap) <= slack
        rows, cols = np.nonzero(unsure)
        exact = distances.exact(start, rows, cols)
        inside[rows, cols] = exact <= real_r2[cols]
        in_real_balls[start:stop] = np.count_nonzero(inside, axis=1)
        covered |= inside.any(axis=0)
        if fake_radii:
            in_fake[rows, cols] = exact <= fake_r2[start + rows]
            recalled |= in_fake.any(axis=0)
    return in_real_balls, covered, recalled


def prdc(real: Any, fake: Any, k: int = 5) -> PRDC:
    r"""Precision, recall, density and coverage (module docstring) of generated samples
    ``fake`` against real points ``real``, with the ``k``-th nearest-neighbour balls.

    The cost is three passes over pairs of points (real-real and generated-generated for the
    radii, generated-real for the counts); for two sets of 10,000 points in 1,000 dimensions,
    about seven seconds on two idle cores (an all-float64 count takes about 25). Compare
    scores computed with the same ``k``, feature space and numbers of points: all four depend
    on them.

    Args:
        real: ``(N, d)`` array (NumPy or JAX), ``N >= k + 1``.
        fake: ``(M, d)`` array with the same ``d``, ``M >= k + 1``.
        k: the neighbour that sets each ball's radius (5 in both papers' defaults).

    Returns:
        A :class:`PRDC` of four floats.
    """
    return _prdc("prdc", real, fake, k)


def _prdc(where: str, real: Any, fake: Any, k: Any) -> PRDC:
    real, fake, k = _check_sets(where, real, fake, k, fake_radii=True)
    in_real_balls, covered, recalled = _ball_counts(real, fake, k, fake_radii=True)
    return PRDC(
        precision=float(np.mean(in_real_balls > 0)),
        recall=float(np.mean(recalled)),
        density=float(np.sum(in_real_balls) / (k * fake.shape[0])),
        coverage=float(np.mean(covered)),
    )


def precision_recall(real: Any, fake: Any, k: int = 5) -> tuple[float, float]:
    r"""``(precision, recall)`` of Kynkäänniemi et al. (2019) (module docstring); the same
    numbers as :func:`prdc`, which gives density and coverage at little extra cost.

    Args:
        real: ``(N, d)`` array (NumPy or JAX), ``N >= k + 1``.
        fake: ``(M, d)`` array with the same ``d``, ``M >= k + 1``.
        k: the neighbour that sets each ball's radius.

    Returns:
        Two Python floats in [0, 1].
    """
    result = _prdc("precision_recall", real, fake, k)
    return result.precision, result.recall


def density_coverage(real: Any, fake: Any, k: int = 5) -> tuple[float, float]:
    r"""``(density, coverage)`` of Naeem et al. (2020) (module docstring): only the real
    points' radii are needed, so it skips the generated-generated pass of :func:`prdc`.

    Args:
        real: ``(N, d)`` array (NumPy or JAX), ``N >= k + 1``.
        fake: ``(M, d)`` array with the same ``d``, ``M >= 1``.
        k: the neighbour that sets each ball's radius.

    Returns:
        Two Python floats: density (>= 0, 1 on average for equal laws) and coverage in [0, 1].
    """
    real, fake, k = _check_sets("density_coverage", real, fake, k, fake_radii=False)
    in_real_balls, covered, _ = _ball_counts(real, fake, k, fake_radii=False)
    return float(np.sum(in_real_balls) / (k * fake.shape[0])), float(np.mean(covered))
