"""Enumeration over {0, 1}^d: checked against itertools and scipy, which nobody here wrote."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from support.bad_calls import assert_raises_naming

from dgm_lib.enumeration import (
    MAX_BINARY_DIM,
    all_binary_vectors,
    expectation_over_binary,
    log_pushforward_over_binary,
    log_sum_over_binary,
)


def _independent_bernoullis(logits):
    """log p(x) = sum_j x_j l_j - softplus(l_j), written here without dgm_lib."""
    logits = jnp.asarray(logits, jnp.float32)
    return lambda x: jnp.sum(x * logits - jnp.logaddexp(0.0, logits), axis=-1)


def _count(x):
    return jnp.sum(x, axis=-1).astype(jnp.int32)


@pytest.mark.parametrize("d", [1, 2, 3, 7])
def test_all_binary_vectors_lists_every_vector_once_in_itertools_order(d):
    x = all_binary_vectors(d)
    expected = np.array(list(itertools.product([0, 1], repeat=d)), np.float32)
    assert x.dtype == jnp.float32
    assert x.shape == (2**d, d)
    np.testing.assert_array_equal(np.asarray(x), expected)


def test_row_i_is_the_binary_expansion_of_i_most_significant_bit_first():
    d = 13
    x = np.asarray(all_binary_vectors(d)).astype(np.int64)
    place_values = 2 ** np.arange(d - 1, -1, -1)
    np.testing.assert_array_equal(x @ place_values, np.arange(2**d))


def test_log_sum_over_binary_is_zero_for_a_normalised_model():
    logits = jax.random.normal(jax.random.key(0), (10,)) * 3.0
    log_z = log_sum_over_binary(_independent_bernoullis(logits), 10)
    # float32 sum of 1024 terms: rounding error well below 1e-5 nats.
    assert abs(float(log_z)) < 1e-5


def test_log_sum_over_binary_matches_scipy_logsumexp_of_an_unnormalised_energy():
    d = 9
    rng = np.random.default_rng(1)
    w = rng.normal(size=(d, d)).astype(np.float32)
    b = rng.normal(size=d).astype(np.float32)

    def energy(x):  # an Ising-like unnormalised log-mass, far from normalised
        return jnp.einsum("bi,ij,bj->b", x, jnp.asarray(w), x) + x @ jnp.asarray(b)

    outcomes = np.array(list(itertools.product([0, 1], repeat=d)), np.float64)
    expected = scipy.special.logsumexp(
        np.einsum("bi,ij,bj->b", outcomes, w, outcomes) + outcomes @ b
    )
    assert float(log_sum_over_binary(energy, d)) == pytest.approx(expected, rel=1e-6, abs=1e-5)


def test_expectation_of_the_count_of_ones_is_the_sum_of_the_probabilities():
    logits = np.linspace(-2.0, 3.0, 8).astype(np.float32)
    mean = expectation_over_binary(_independent_bernoullis(logits), _count, 8)
    assert float(mean) == pytest.approx(scipy.special.expit(logits).sum(), rel=1e-5)


@pytest.mark.parametrize("logit", [-1.5, 0.0, 0.7])
def test_pushforward_of_the_count_of_ones_is_the_binomial_pmf(logit):
    d = 10
    log_pmf = log_pushforward_over_binary(_independent_bernoullis([logit] * d), _count, d, d + 1)
    expected = scipy.stats.binom.logpmf(np.arange(d + 1), d, scipy.special.expit(logit))
    np.testing.assert_allclose(np.asarray(log_pmf), expected, rtol=1e-5, atol=1e-5)


def test_pushforward_gives_minus_infinity_to_values_no_outcome_reaches():
    def twice_count(x):
        return 2 * _count(x)

    log_pmf = np.asarray(
        log_pushforward_over_binary(_independent_bernoullis([0.3] * 4), twice_count, 4, 9)
    )
    assert np.all(np.isneginf(log_pmf[1::2]))
    assert scipy.special.logsumexp(log_pmf[0::2]) == pytest.approx(0.0, abs=1e-6)


def _model(x):
    return jnp.zeros(x.shape[0]) - x.shape[1] * jnp.log(2.0)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: all_binary_vectors(0), ValueError, ["all_binary_vectors", "'d'", "positive int"]),
        (lambda: all_binary_vectors(3.0), ValueError, ["all_binary_vectors", "'d'"]),
        (lambda: all_binary_vectors(True), ValueError, ["all_binary_vectors", "'d'"]),
        (
            lambda: all_binary_vectors(MAX_BINARY_DIM + 1),
            ValueError,
            ["all_binary_vectors", "'d'", "at most 20", "2**21"],
        ),
        (lambda: log_sum_over_binary("p", 3), TypeError, ["log_sum_over_binary", "'log_prob'"]),
        (
            lambda: log_sum_over_binary(lambda x: x, 3),
            ValueError,
            ["log_sum_over_binary", "'log_prob(x)'", "(8,)", "(8, 3)"],
        ),
        (
            lambda: log_sum_over_binary(_model, 25),
            ValueError,
            ["log_sum_over_binary", "'d'", "at most 20"],
        ),
        (
            lambda: expectation_over_binary(_model, lambda x: x, 3),
            ValueError,
            ["expectation_over_binary", "'g(x)'", "(8,)"],
        ),
        (
            lambda: expectation_over_binary(_model, 1.0, 3),
            TypeError,
            ["expectation_over_binary", "'g'"],
        ),
        (
            lambda: log_pushforward_over_binary(_model, lambda x: jnp.sum(x, -1), 3, 4),
            TypeError,
            ["log_pushforward_over_binary", "'statistic(x)'", "integer"],
        ),
        (
            lambda: log_pushforward_over_binary(_model, _count, 3, 3),
            ValueError,
            ["log_pushforward_over_binary", "'statistic(x)'", "[0, 3)", "num_values"],
        ),
        (
            lambda: log_pushforward_over_binary(_model, _count, 3, 0),
            ValueError,
            ["log_pushforward_over_binary", "'num_values'"],
        ),
        (
            lambda: log_pushforward_over_binary(_model, lambda x: x.astype(jnp.int32), 3, 4),
            ValueError,
            ["log_pushforward_over_binary", "'statistic(x)'", "(8,)"],
        ),
    ],
)
def test_wrong_arguments_raise_errors_naming_the_function_and_argument(call, error, words):
    assert_raises_naming(call, error, words)
