"""Properties of dgm_lib.evaluation.frechet: the Gaussian Frechet distance against the closed
form computed with scipy's general matrix square root (an oracle nobody here wrote), its
one-dimensional and commuting special cases, zero only for equal Gaussians, symmetric, a
squared metric; the estimate from samples converging to the closed form, invariant to rotating
and shifting the features, using the unbiased covariance; and a clear, warning-free error for
each bad input."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import linalg, stats
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.evaluation import frechet_distance, gaussian_frechet_distance


def random_spd(rng: np.random.Generator, k: int) -> np.ndarray:
    """A random covariance with eigenvalues spread over about two decades."""
    q = stats.ortho_group.rvs(k, random_state=rng) if k > 1 else np.ones((1, 1))
    return (q * rng.uniform(0.05, 5.0, k)) @ q.T


def random_gaussian(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=k), random_spd(rng, k)


def sqrtm_frechet(mean_a, cov_a, mean_b, cov_b) -> float:
    """The textbook formula with the non-symmetric product C_a C_b and scipy's sqrtm."""
    root = linalg.sqrtm(cov_a @ cov_b)
    return float(
        np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root).real
    )


# ------------------------------------------------------------------------------------------
# The distance between two Gaussians
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 5, 16, 64])
def test_gaussian_frechet_distance_matches_the_sqrtm_closed_form(k):
    rng = np.random.default_rng(k)
    covariance_terms = []
    for _ in range(3):
        (mean_a, cov_a), (mean_b, cov_b) = random_gaussian(rng, k), random_gaussian(rng, k)
        expected = sqrtm_frechet(mean_a, cov_a, mean_b, cov_b)
        ours = gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b)
        assert isinstance(ours, float)
        np.testing.assert_allclose(ours, expected, rtol=1e-8)
        covariance_terms.append(expected - np.sum((mean_a - mean_b) ** 2))
    # The trace term is far from zero, so a wrong square root would be caught.
    assert max(covariance_terms) > 0.1


def test_in_one_dimension_it_is_the_squared_gaps_of_means_and_standard_deviations():
    for mean_a, sd_a, mean_b, sd_b in [(0.0, 1.0, 0.0, 2.0), (1.5, 0.3, -0.5, 0.7), (2.0, 1.0, 2.0, 1.0)]:
        d2 = gaussian_frechet_distance([mean_a], [[sd_a**2]], [mean_b], [[sd_b**2]])
        np.testing.assert_allclose(d2, (mean_a - mean_b) ** 2 + (sd_a - sd_b) ** 2, atol=1e-12)


def test_for_commuting_covariances_it_is_the_squared_gaps_of_root_eigenvalues():
    rng = np.random.default_rng(0)
    k = 12
    q = stats.ortho_group.rvs(k, random_state=rng)  # shared eigenvectors, not the axes
    a, b = rng.uniform(0.0, 4.0, k), rng.uniform(0.0, 4.0, k)
    a[:3] = 0.0  # singular covariances (dead features) are fine
    b[2:4] = 0.0
    mean_a, mean_b = rng.normal(size=k), rng.normal(size=k)
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    d2 = gaussian_frechet_distance(mean_a, (q * a) @ q.T, mean_b, (q * b) @ q.T)
    # A zero eigenvalue comes back as +-1e-15 and enters through a square root: ~1e-7 each.
    np.testing.assert_allclose(d2, expected, rtol=1e-9, atol=1e-6)
    # Diagonal covariances, the simplest commuting pair.
    np.testing.assert_allclose(
        gaussian_frechet_distance(mean_a, np.diag(a), mean_b, np.diag(b)), expected, rtol=1e-9
    )


@pytest.mark.parametrize("rank", [8, 3, 0])
def test_the_distance_is_zero_for_equal_gaussians_and_only_for_them(rank):
    rng = np.random.default_rng(rank)
    k = 8
    factor = rng.normal(size=(k, rank))
    cov = factor @ factor.T  # rank-deficient for rank < k: eigenvalues round to +-1e-15
    mean = rng.normal(size=k)
    assert gaussian_frechet_distance(mean, cov, mean, cov) < 1e-9
    # Any change of the mean, or of the covariance, is seen.
    assert gaussian_frechet_distance(mean, cov, mean + 0.01, cov) > 0.5 * k * 1e-4
    bump = np.zeros((k, k))
    bump[0, 0] = 0.1
    assert gaussian_frechet_distance(mean, cov, mean, cov + bump) > 1e-4


def test_the_distance_is_symmetric_and_its_root_obeys_the_triangle_inequality():
    rng = np.random.default_rng(1)
    for k in (2, 7):
        g = [random_gaussian(rng, k) for _ in range(3)]
        d = {
            (i, j): gaussian_frechet_distance(*g[i], *g[j]) for i in range(3) for j in range(3)
        }
        for i in range(3):
            for j in range(3):
                np.testing.assert_allclose(d[i, j], d[j, i], rtol=1e-9)
        w = {ij: np.sqrt(v) for ij, v in d.items()}  # W2 itself is a metric
        assert w[0, 2] <= w[0, 1] + w[1, 2] + 1e-12
        assert w[0, 1] <= w[0, 2] + w[2, 1] + 1e-12


# ------------------------------------------------------------------------------------------
# The estimate from samples
# ------------------------------------------------------------------------------------------


def test_the_estimate_from_samples_converges_to_the_closed_form():
    rng = np.random.default_rng(2)
    k = 4
    (mean_a, cov_a), (mean_b, cov_b) = random_gaussian(rng, k), random_gaussian(rng, k)
    exact = gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b)
    assert exact > 1.0

    def error(n: int, seed: int) -> float:
        g = np.random.default_rng(seed)
        x = g.multivariate_normal(mean_a, cov_a, size=n)
        y = g.multivariate_normal(mean_b, cov_b, size=n)
        return abs(frechet_distance(x, y) - exact)

    small = np.mean([error(50, s) for s in range(10)])
    large = np.mean([error(20000, s) for s in range(10)])
    assert large < 0.02 * exact  # well under the effect size
    assert large < small / 5  # and shrinking with n


def test_the_estimate_for_equal_distributions_shrinks_like_one_over_n():
    rng = np.random.default_rng(3)
    k = 3
    mean, cov = random_gaussian(rng, k)

    def average(n: int) -> float:
        g = np.random.default_rng(n)
        return np.mean(
            [
                frechet_distance(g.multivariate_normal(mean, cov, n), g.multivariate_normal(mean, cov, n))
                for _ in range(20)
            ]
        )

    # The mean term alone contributes 2 tr(C) / n on average; the covariance term adds more.
    small, large = average(100), average(10000)
    assert small > 2 * np.trace(cov) / 100 * 0.5
    assert large < small / 30


def test_the_estimate_uses_the_unbiased_covariance():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 3)), 3.0 * rng.normal(size=(9, 3))
    expected = gaussian_frechet_distance(
        x.mean(0), np.cov(x, rowvar=False, ddof=1), y.mean(0), np.cov(y, rowvar=False, ddof=1)
    )
    np.testing.assert_allclose(frechet_distance(x, y), expected, rtol=1e-10)
    biased = gaussian_frechet_distance(
        x.mean(0), np.cov(x, rowvar=False, ddof=0), y.mean(0), np.cov(y, rowvar=False, ddof=0)
    )
    assert abs(biased - expected) > 1e-3 * expected  # the test tells the two apart


def test_the_estimate_is_invariant_to_rotating_and_shifting_and_scales_quadratically():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(400, 5)), rng.normal(size=(300, 5)) * 1.3 + 0.4
    q = stats.ortho_group.rvs(5, random_state=rng)
    shift = rng.normal(size=5)
    base = frechet_distance(x, y)
    np.testing.assert_allclose(frechet_distance(x @ q + shift, y @ q + shift), base, rtol=1e-9)
    np.testing.assert_allclose(frechet_distance(3.0 * x, 3.0 * y), 9.0 * base, rtol=1e-9)


def test_the_estimate_accepts_jax_arrays():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(200, 4)).astype(np.float32), rng.normal(size=(300, 4)).astype(np.float32)
    np.testing.assert_allclose(
        frechet_distance(jnp.asarray(x), jnp.asarray(y)), frechet_distance(x, y), rtol=1e-12
    )


# ------------------------------------------------------------------------------------------
# Bad inputs: clear errors, and no warnings on the way
# ------------------------------------------------------------------------------------------

_X = np.random.default_rng(0).normal(size=(20, 3))
_M, _C = np.zeros(3), np.eye(3)
_NAN = _X.copy()
_NAN[3, 1] = np.nan


@bad_calls(
    [
        ("features_not_2d", lambda: frechet_distance(_X[:, 0], _X), ValueError, "frechet_distance: argument 'features_a' must have shape (n_a, k); got shape (20,)"),
        ("features_3d", lambda: frechet_distance(_X, _X[None]), ValueError, "argument 'features_b' must have shape (n_b, k); got shape (1, 20, 3)"),
        ("different_k", lambda: frechet_distance(_X, _X[:, :2]), ValueError, "must have the same number of features k (columns); got shapes (20, 3) and (20, 2)"),
        ("one_sample", lambda: frechet_distance(_X[:1], _X), ValueError, "argument 'features_a' needs at least 2 samples (rows) for a covariance; got shape (1, 3)"),
        ("n_equal_k", lambda: frechet_distance(_X, _X[:3]), ValueError, ["argument 'features_b' has n = 3 samples of k = 3 features", "singular", "more samples than feature dimensions (n > 3) or use fewer features"]),
        ("n_below_k", lambda: frechet_distance(np.ones((5, 8)), np.ones((50, 8))), ValueError, "n = 5 samples of k = 8 features"),
        ("nan_features", lambda: frechet_distance(_X, _NAN), ValueError, "argument 'features_b' holds NaN or infinite values"),
        ("string_features", lambda: frechet_distance(np.array([["a", "b"]] * 4), _X), TypeError, "must be a real (float or int) array; got dtype <U1"),
        ("mean_wrong_length", lambda: gaussian_frechet_distance(_M, _C, np.zeros(2), _C), ValueError, "gaussian_frechet_distance: argument 'mean_b' must have shape (3,); got shape (2,)"),
        ("cov_not_square", lambda: gaussian_frechet_distance(_M, np.ones((3, 2)), _M, _C), ValueError, "argument 'cov_a' must have shape (3, 3); got shape (3, 2)"),
        ("cov_asymmetric", lambda: gaussian_frechet_distance(_M, _C, _M, np.triu(np.ones((3, 3)))), ValueError, "argument 'cov_b' must be a symmetric covariance matrix"),
        ("cov_not_psd", lambda: gaussian_frechet_distance(_M, np.diag([1.0, -0.5, 1.0]), _M, _C), ValueError, "argument 'cov_a' must be positive semi-definite (a covariance); its smallest eigenvalue is -0.5"),
    ]
)
def test_bad_inputs_raise_clear_errors_without_warnings(call, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. numpy's "degrees of freedom <= 0" must not fire
        assert_raises_naming(call, error, message)
