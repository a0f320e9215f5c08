"""Tests of dgm_lib.metrics: unit conversions round-trip, reproduce published figures, and the
dequantized bits/dim bounds a discrete model's bits/dim, with equality for a histogram density."""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from dgm_lib import metrics


@pytest.mark.parametrize("num_dims", [1, 784, 3072])
def test_nats_and_bits_per_dim_round_trip(num_dims):
    nats = np.random.default_rng(0).uniform(0, 5000, size=(4, 3)).astype(np.float32)
    bpd = metrics.nats_to_bits_per_dim(nats, num_dims)
    assert bpd.shape == (4, 3)
    np.testing.assert_allclose(metrics.bits_per_dim_to_nats(bpd, num_dims), nats, rtol=1e-6)


@pytest.mark.parametrize(("nats", "bits_per_dim"), [(79.20, 0.146), (88.33, 0.163)])
def test_published_mnist_conversions(nats, bits_per_dim):
    # papers.md, "Units": nats per 784-pixel image against bits/dim, to three decimals.
    assert round(float(metrics.nats_to_bits_per_dim(nats, 784)), 3) == bits_per_dim


def test_one_bit_per_dim_is_d_ln2_nats():
    assert float(metrics.bits_per_dim_to_nats(1.0, 10)) == pytest.approx(10 * math.log(2))


@pytest.mark.parametrize(("num_levels", "bits"), [(256, 8.0), (2, 1.0), (32, 5.0)])
def test_uniform_density_on_the_unit_cube_scores_log2_levels(num_levels, bits):
    log_prob = jnp.zeros(5)  # the uniform density on [0, 1]^D has log p = 0
    assert np.all(metrics.dequantized_bits_per_dim(log_prob, 3072, num_levels) == bits)


def test_histogram_density_reproduces_the_discrete_bits_per_dim():
    """A density constant on each cell, p(y) = K^D P(x), gives exactly -log2 P(x) / D."""
    num_levels, num_dims = 5, 3
    rng = np.random.default_rng(1)
    marginals = rng.dirichlet(np.ones(num_levels), size=num_dims)  # independent dimensions
    xs = np.array(list(itertools.product(range(num_levels), repeat=num_dims)))
    log_p_discrete = np.log(marginals[np.arange(num_dims), xs]).sum(axis=1)
    log_p_density = log_p_discrete + num_dims * np.log(num_levels)
    bpd = metrics.dequantized_bits_per_dim(log_p_density.astype(np.float32), num_dims, num_levels)
    np.testing.assert_allclose(bpd, -log_p_discrete / (num_dims * np.log(2)), rtol=1e-5)


def test_dequantized_bits_per_dim_bounds_the_discrete_model():
    """Jensen: E_u[dequantized bpd] >= -log2 P(x) for P(x) the density's mass on x's cell."""
    num_levels = 8
    beta = stats.beta(2.0, 5.0)
    x = np.arange(num_levels)
    mass = beta.cdf((x + 1) / num_levels) - beta.cdf(x / num_levels)
    u = (np.arange(1000) + 0.5) / 1000  # midpoint rule for the average over u ~ U[0, 1)
    log_p = beta.logpdf((x[:, None] + u) / num_levels).astype(np.float32)
    average_bpd = np.mean(metrics.dequantized_bits_per_dim(log_p, 1, num_levels), axis=1)
    discrete_bpd = -np.log2(mass)
    assert np.all(average_bpd >= discrete_bpd - 1e-5)
    assert np.any(average_bpd > discrete_bpd + 1e-3)


BAD_ARGUMENTS = [
    (lambda: metrics.nats_to_bits_per_dim(1.0, 0), ValueError, "nats_to_bits_per_dim.*num_dims"),
    (lambda: metrics.nats_to_bits_per_dim(1.0, 7.5), ValueError, "nats_to_bits_per_dim.*num_dims"),
    (lambda: metrics.nats_to_bits_per_dim("1", 2), TypeError, "nats_to_bits_per_dim.*'nats'"),
    (
        lambda: metrics.bits_per_dim_to_nats(jnp.ones(2, jnp.int32), 2),
        TypeError,
        "bits_per_dim_to_nats.*'bits_per_dim'",
    ),
    (lambda: metrics.bits_per_dim_to_nats(1.0, True), ValueError, "bits_per_dim_to_nats"),
    (
        lambda: metrics.dequantized_bits_per_dim(0.0, 784, 0),
        ValueError,
        "dequantized_bits_per_dim.*num_levels",
    ),
    (
        lambda: metrics.dequantized_bits_per_dim([[0.0], [1.0, 2.0]], 784),
        TypeError,
        "dequantized_bits_per_dim.*'log_prob'",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
