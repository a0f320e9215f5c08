"""Empirical CDF and PMF, checked against scipy.stats and numpy, which nobody here wrote."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from support.bad_calls import assert_raises_naming

from dgm_lib.empirical import dkw_epsilon, empirical_cdf, empirical_pmf, ks_distance


def _normal_samples(n, seed=0):
    return np.random.default_rng(seed).normal(size=n).astype(np.float32)


def test_empirical_cdf_matches_scipy_ecdf():
    samples = _normal_samples(500)
    x = np.linspace(-4.0, 4.0, 301).astype(np.float32)
    expected = scipy.stats.ecdf(samples).cdf.evaluate(x)
    np.testing.assert_allclose(np.asarray(empirical_cdf(samples, x)), expected, atol=1e-7)


def test_empirical_cdf_is_right_continuous_and_counts_ties():
    samples = np.array([0.0, 1.0, 1.0, 2.0], np.float32)
    x = np.array([-1.0, 0.0, 0.5, 1.0, 1.999, 2.0, 3.0], np.float32)
    expected = np.array([0.0, 0.25, 0.25, 0.75, 0.75, 1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(empirical_cdf(samples, x)), expected)


def test_empirical_cdf_keeps_the_shape_of_x():
    out = empirical_cdf(_normal_samples(10), np.zeros((2, 3, 4), np.float32))
    assert out.shape == (2, 3, 4) and out.dtype == jnp.float32


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_distance_matches_scipy_kstest(seed):
    samples = _normal_samples(300, seed)
    expected = scipy.stats.kstest(samples, "norm").statistic
    got = ks_distance(samples, jax.scipy.stats.norm.cdf)
    assert float(got) == pytest.approx(expected, abs=2e-6)  # float32 CDF values


def test_dkw_epsilon_solves_the_massart_bound_for_alpha():
    for n, alpha in [(10, 0.05), (1000, 1e-3), (123_456, 0.5)]:
        eps = dkw_epsilon(n, alpha)
        assert 2.0 * math.exp(-2.0 * n * eps**2) == pytest.approx(alpha, rel=1e-12)


def test_dkw_band_holds_the_true_cdf_with_probability_at_least_one_minus_alpha():
    n, alpha, repeats = 50, 0.2, 4000
    uniforms = jax.random.uniform(jax.random.key(3), (repeats, n))
    distances = jax.vmap(lambda s: ks_distance(s, lambda u: u))(uniforms)
    miss_rate = float(jnp.mean(distances > dkw_epsilon(n, alpha)))
    # The bound allows alpha; sampling noise of the rate is sqrt(alpha (1 - alpha) / repeats).
    assert miss_rate <= alpha + 4.0 * math.sqrt(alpha * (1.0 - alpha) / repeats)


def test_empirical_pmf_matches_numpy_bincount():
    samples = np.random.default_rng(4).poisson(3.0, size=1000).astype(np.int32)
    num_values = int(samples.max()) + 3
    expected = np.bincount(samples, minlength=num_values) / samples.size
    np.testing.assert_allclose(np.asarray(empirical_pmf(samples, num_values)), expected, atol=1e-7)


def test_empirical_pmf_leaves_out_of_range_samples_in_no_bin():
    samples = np.array([-1, 0, 0, 1, 5], np.int32)
    np.testing.assert_allclose(np.asarray(empirical_pmf(samples, 2)), [0.4, 0.2])


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (
            lambda: empirical_cdf(np.zeros((3, 2)), 0.0),
            ValueError,
            ["empirical_cdf", "'samples'", "(n,)"],
        ),
        (lambda: empirical_cdf(np.zeros(3, bool), 0.0), TypeError, ["empirical_cdf", "'samples'"]),
        (lambda: empirical_cdf(np.zeros(3), "a"), TypeError, ["empirical_cdf", "'x'"]),
        (lambda: ks_distance(np.zeros((3, 2)), jnp.tanh), ValueError, ["ks_distance", "'samples'"]),
        (lambda: ks_distance(np.zeros(3), 0.5), TypeError, ["ks_distance", "'cdf'", "callable"]),
        (
            lambda: ks_distance(np.zeros(3), lambda s: s[:2]),
            ValueError,
            ["ks_distance", "'cdf(samples)'", "(3,)"],
        ),
        (lambda: dkw_epsilon(0, 0.1), ValueError, ["dkw_epsilon", "'n'"]),
        (lambda: dkw_epsilon(10, 1.0), ValueError, ["dkw_epsilon", "'alpha'", "(0, 1)"]),
        (
            lambda: empirical_pmf(np.zeros(3), 2),
            TypeError,
            ["empirical_pmf", "'samples'", "integer"],
        ),
        (
            lambda: empirical_pmf(np.zeros((3, 1), np.int32), 2),
            ValueError,
            ["empirical_pmf", "'samples'", "(n,)"],
        ),
        (
            lambda: empirical_pmf(np.zeros(3, np.int32), 0),
            ValueError,
            ["empirical_pmf", "'num_values'"],
        ),
    ],
)
def test_wrong_arguments_raise_errors_naming_the_function_and_argument(call, error, words):
    assert_raises_naming(call, error, words)
