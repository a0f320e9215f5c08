r"""The Frechet distance between two sets of features (Heusel et al. 2017's FID, in whatever
feature space the caller chooses).

Fit a Gaussian to each set, :math:`\mathcal N(\mu_a, C_a)` and :math:`\mathcal N(\mu_b, C_b)`,
and report the squared 2-Wasserstein (Frechet) distance between the two Gaussians,

.. math:: d^2 = \lVert \mu_a - \mu_b \rVert^2
          + \operatorname{tr}\bigl(C_a + C_b - 2\,(C_a^{1/2} C_b C_a^{1/2})^{1/2}\bigr).

It is zero only when the two means and covariances agree, so it sees a shift of the features
and a change in their spread or correlations, but nothing beyond the first two moments. The
estimate from samples is biased upwards (each empirical mean and covariance adds its own noise;
for equal distributions :math:`d^2 \approx 2\operatorname{tr} C / n` from the means alone), so
scores are comparable only at equal sample sizes.

Everything here runs in float64 NumPy on the host: the sets of features are small (thousands
of rows of a hundred or so columns) and the matrix square roots want the precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_host_array

__all__ = ["frechet_distance", "gaussian_frechet_distance"]

# A covariance may be asymmetric, or have negative eigenvalues, by this much relative to its
# largest entry / eigenvalue (rounding in float32); beyond it, it is refused.
_RELATIVE_TOLERANCE = 1e-5


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    r""":math:`C^{1/2} = V \operatorname{diag}(\sqrt{\max(w, 0)}) V^\top` from ``eigh``."""
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    r""":math:`\operatorname{tr}(C_a^{1/2} C_b C_a^{1/2})^{1/2}`: the sum of the square roots
    of the eigenvalues of a symmetric PSD matrix."""
    root_a = _psd_sqrt(cov_a)
    m = root_a @ cov_b @ root_a
    w = np.linalg.eigvalsh(0.5 * (m + m.T))
    return float(np.sum(np.sqrt(np.clip(w, 0.0, None))))


def _frechet(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    diff = mean_a - mean_b
    d2 = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * _trace_sqrt_product(cov_a, cov_b)
    return max(float(d2), 0.0)


def _check_covariance(where: str, name: str, c: np.ndarray) -> np.ndarray:
    scale = max(float(np.max(np.abs(c))), np.finfo(np.float64).tiny)
    asym = float(np.max(np.abs(c - c.T)))
    if asym > _RELATIVE_TOLERANCE * scale:
        raise ValueError(
            f"{where}: argument '{name}' must be a symmetric covariance matrix; "
            f"max |C - C^T| = {asym:.3g} (largest |entry| {scale:.3g})"
        )
    c = 0.5 * (c + c.T)
    w = np.linalg.eigvalsh(c)
    if w[0] < -_RELATIVE_TOLERANCE * max(float(w[-1]), scale):
        raise ValueError(
            f"{where}: argument '{name}' must be positive semi-definite (a covariance); its "
            f"smallest eigenvalue is {w[0]:.3g} (largest {w[-1]:.3g})"
        )
    return c


def gaussian_frechet_distance(mean_a: Any, cov_a: Any, mean_b: Any, cov_b: Any) -> float:
    r"""The squared Frechet (2-Wasserstein) distance between two Gaussians,

    .. math:: W_2^2\bigl(\mathcal N(\mu_a, C_a), \mathcal N(\mu_b, C_b)\bigr)
              = \lVert \mu_a - \mu_b \rVert^2 + \operatorname{tr}\bigl(C_a + C_b
              - 2\,(C_a^{1/2} C_b C_a^{1/2})^{1/2}\bigr).

    For one dimension it is :math:`(\mu_a - \mu_b)^2 + (\sigma_a - \sigma_b)^2`; for
    covariances that commute (diagonal ones, say), :math:`\lVert \mu_a - \mu_b \rVert^2 +
    \sum_i (\sqrt{\lambda^a_i} - \sqrt{\lambda^b_i})^2` over their shared eigenvectors.

    Why the symmetric form: the usual formula is written
    :math:`\operatorname{tr}(C_a C_b)^{1/2}`, and :math:`C_a C_b` is similar to
    :math:`C_a^{1/2} C_b C_a^{1/2}` (conjugate by :math:`C_a^{1/2}`), so both have the same
    eigenvalues and the same trace of the square root. But :math:`C_a C_b` is not symmetric:
    a general matrix square root (``scipy.linalg.sqrtm``, via a Schur decomposition) returns
    complex values with rounding-sized imaginary parts, and is ill-conditioned when the
    covariances are near singular (FID code adds :math:`\epsilon I` and drops the imaginary part
    to cope). :math:`C_a^{1/2} C_b C_a^{1/2}` is symmetric positive semi-definite, so a
    symmetric eigendecomposition (``eigh``, backward stable) gives real eigenvalues
    that rounding can make only slightly negative; those are clipped to zero before the square
    root, as are those of :math:`C_a` when forming :math:`C_a^{1/2}`. Singular covariances
    (a dead feature, fewer samples than features) are therefore fine, though a zero eigenvalue
    computed as :math:`\pm 10^{-15}` enters through a square root, so expect an absolute error
    of about :math:`10^{-7}` times the features' scale there. The result is clipped at zero
    (rounding can leave a tiny negative number for equal Gaussians).

    Args:
        mean_a: :math:`\mu_a`, shape ``(k,)``.
        cov_a: :math:`C_a`, a symmetric positive semi-definite ``(k, k)`` matrix.
        mean_b: :math:`\mu_b`, shape ``(k,)``.
        cov_b: :math:`C_b`, shape ``(k, k)``.

    Returns:
        :math:`d^2 \ge 0` as a Python float, in squared units of the features.
    """
    where = "gaussian_frechet_distance"
    mean_a = check_host_array(where, "mean_a", mean_a, ("k",))
    k = mean_a.shape[0]
    cov_a = _check_covariance(where, "cov_a", check_host_array(where, "cov_a", cov_a, (k, k)))
    mean_b = check_host_array(where, "mean_b", mean_b, (k,))
    cov_b = _check_covariance(where, "cov_b", check_host_array(where, "cov_b", cov_b, (k, k)))
    return _frechet(mean_a, cov_a, mean_b, cov_b)


def frechet_distance(features_a: Any, features_b: Any) -> float:
    r"""The Frechet distance between two sets of features: fit a Gaussian to each and return
    :func:`gaussian_frechet_distance` of the two,

    .. math:: \hat\mu = \frac1n \sum_{i=1}^n f_i, \qquad
              \hat C = \frac{1}{n-1} \sum_{i=1}^n (f_i - \hat\mu)(f_i - \hat\mu)^\top,

    the unbiased covariance (``ddof=1``). With the features of a classifier's penultimate layer
    (:meth:`dgm_lib.evaluation.FeatureExtractor.features`) this is the FID recipe of Heusel et
    al. (2017) in a smaller feature space. The estimate is biased upwards at finite :math:`n`,
    so compare scores computed from equal numbers of samples.

    Args:
        features_a: ``(n_a, k)`` array (NumPy or JAX), one row per sample.
        features_b: ``(n_b, k)`` array with the same ``k``.

    Returns:
        :math:`d^2 \ge 0` as a Python float.

    Raises:
        ValueError: a set that is not 2-D, sets with different ``k``, a set with fewer than
            two samples, or with ``n <= k`` (its covariance, of rank at most :math:`n-1`, is
            singular: take more samples than features, or fewer features), or NaN features.
    """
    where = "frechet_distance"
    a = check_host_array(where, "features_a", features_a, ("n_a", "k"))
    b = check_host_array(where, "features_b", features_b, ("n_b", "k"))
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{where}: arguments 'features_a' and 'features_b' must have the same number of "
            f"features k (columns); got shapes {a.shape} and {b.shape}"
        )
    for name, x in (("features_a", a), ("features_b", b)):
        n, k = x.shape
        if n < 2:
            raise ValueError(
                f"{where}: argument '{name}' needs at least 2 samples (rows) for a covariance; "
                f"got shape {x.shape}"
            )
        if n <= k:
            raise ValueError(
                f"{where}: argument '{name}' has n = {n} samples of k = {k} features; with "
                f"n <= k its covariance (rank at most n - 1) is singular. Give more samples "
                f"than feature dimensions (n > {k}) or use fewer features."
            )
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.cov(a, rowvar=False, ddof=1).reshape(a.shape[1], a.shape[1])
    cov_b = np.cov(b, rowvar=False, ddof=1).reshape(b.shape[1], b.shape[1])
    return _frechet(mean_a, cov_a, mean_b, cov_b)
