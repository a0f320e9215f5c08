"""Properties of dgm_lib.score.mixture, the oracle of every other score test: the closed-form
score is jax.grad of the log-density; the noised mixture is the law of alpha x + sigma eps (a
scipy quadrature of the convolution in 1-D, moments of draws in 2-D); the marginal score at
per-example times is jax.grad of the noised log-density at each example's own time; the
eight Gaussians are toy2d's."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats
from support.bad_calls import assert_raises_naming, bad_calls
from support.score_oracles import mixture_moments, normal, sample_mixture

from dgm_lib import toy2d
from dgm_lib.score import VESDE, VPSDE, GaussianMixture, eight_gaussians

SIGMAS = 5.0


def random_mixture(d: int, k: int = 3, seed: int = 0) -> GaussianMixture:
    """Unequal weights, means of spread 2, per-coordinate variances from 0.05 to 2."""
    g = np.random.default_rng(seed)
    return GaussianMixture(
        jnp.asarray(g.normal(size=k), jnp.float32),
        jnp.asarray(2.0 * g.normal(size=(k, d)), jnp.float32),
        jnp.asarray(g.uniform(np.log(0.05), np.log(2.0), size=(k, d)), jnp.float32),
    )


@pytest.mark.parametrize("d", [1, 2, 5])
def test_score_is_the_gradient_of_the_log_density(d):
    mixture = random_mixture(d, seed=d)
    assert len(set(np.round(np.asarray(mixture.weights), 3))) == 3  # weights differ
    x = normal(d, (64, d), 2.0)
    ours, expected = jax.jit(lambda x: (mixture.score(x), jax.grad(lambda v: jnp.sum(mixture.log_prob(v)))(x)))(x)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)


def test_log_prob_is_scipys_mixture_density():
    mixture = random_mixture(2, seed=7)
    x = np.asarray(normal(7, (10, 2), 2.0), np.float64)
    w, mu = np.asarray(mixture.weights, np.float64), np.asarray(mixture.means, np.float64)
    std = np.exp(0.5 * np.asarray(mixture.log_vars, np.float64))
    density = sum(w[k] * stats.norm(mu[k], std[k]).pdf(x).prod(1) for k in range(3))
    np.testing.assert_allclose(mixture.log_prob(jnp.asarray(x, jnp.float32)), np.log(density), rtol=1e-5)


@pytest.mark.parametrize(("alpha", "sigma"), [(1.0, 0.5), (0.6, 0.8), (0.1, 1.5)])
def test_noised_1d_density_is_the_convolution_by_quadrature(alpha, sigma):
    """p_noised(y) = int p(x) N(y; alpha x, sigma^2) dx, the integral by scipy.integrate.quad
    against scipy's densities: no Gaussian algebra of ours in the oracle."""
    mixture = random_mixture(1, seed=3)
    w, mu = np.asarray(mixture.weights, np.float64), np.asarray(mixture.means[:, 0], np.float64)
    std = np.exp(0.5 * np.asarray(mixture.log_vars[:, 0], np.float64))

    def p(x):
        return sum(w[k] * stats.norm.pdf(x, mu[k], std[k]) for k in range(3))

    ys = np.linspace(-5.0, 5.0, 9)
    conv = integrate.quad_vec(lambda x: p(x) * stats.norm.pdf(ys, alpha * x, sigma), -30, 30,
                              points=list(mu), epsabs=1e-12, epsrel=1e-9)[0]
    ours = mixture.noised(alpha, sigma).log_prob(jnp.asarray(ys[:, None], jnp.float32))
    np.testing.assert_allclose(ours, np.log(conv), rtol=1e-5, atol=1e-5)


def test_noised_2d_mixture_is_the_law_of_alpha_x_plus_sigma_eps():
    """Draws of alpha x + sigma eps, x from the mixture, have the noised mixture's mean and
    covariance (mixture_moments, from the weights, means and variances): within 5 SE."""
    mixture, alpha, sigma, n = random_mixture(2, seed=4), 0.7, 0.9, 100_000
    x = sample_mixture(mixture, n, 5)
    y = alpha * x + sigma * np.random.default_rng(6).normal(size=x.shape)
    mean, cov = mixture_moments(mixture.noised(alpha, sigma))
    clean_mean, clean_cov = mixture_moments(mixture)
    np.testing.assert_allclose(mean, alpha * clean_mean, rtol=1e-5)
    np.testing.assert_allclose(cov, alpha**2 * clean_cov + sigma**2 * np.eye(2), rtol=1e-5)
    se_mean = np.sqrt(np.diag(cov) / n)
    np.testing.assert_array_less(np.abs(y.mean(0) - mean), SIGMAS * se_mean)
    prods = (y - mean)[:, :, None] * (y - mean)[:, None, :]
    np.testing.assert_array_less(np.abs(prods.mean(0) - cov), SIGMAS * prods.std(0) / np.sqrt(n))


@pytest.mark.parametrize("sde", [VPSDE(), VESDE()], ids=["VP", "VE"])
def test_marginal_score_at_per_example_times_is_the_gradient_of_each_noised_density(sde):
    """Row i of marginal_score(sde)(x, t) is grad log p_{t_i}(x_i), with p_{t_i} =
    noised(*sde.marginal(t_i)): per-example times, not one shared time."""
    mixture = random_mixture(2, seed=8)
    n = 12
    t = jnp.linspace(0.01, 1.0, n)
    x = normal(9, (n, 2), 2.0) * jnp.sqrt(1 + t[:, None] * 9)
    ours = mixture.marginal_score(sde)(x, t)

    def own_time_gradient(xi, ti):  # one example, its own noised mixture
        noised = mixture.noised(*sde.marginal(ti))
        return jax.grad(lambda v: noised.log_prob(v[None])[0])(xi)

    expected = jax.jit(jax.vmap(own_time_gradient))(x, t)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)
    # Evaluating every row at one time would differ (the check can fail).
    shared = mixture.marginal_score(sde)(x, jnp.full(n, 0.5))
    assert np.abs(np.asarray(shared - ours)).max() > 0.1


def test_eight_gaussians_is_toy2ds_density():
    x = normal(10, (50, 2), 4.0)
    mixture = eight_gaussians()
    np.testing.assert_allclose(mixture.log_prob(x), toy2d.log_prob("eight_gaussians", x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mixture.weights, np.full(8, 1 / 8), rtol=1e-6)
    radius = np.linalg.norm(np.asarray(mixture.means), axis=1)
    np.testing.assert_allclose(radius, toy2d.EIGHT_GAUSSIANS_RADIUS, rtol=1e-5)
    # A different radius is a different density.
    assert np.abs(np.asarray(eight_gaussians(radius=1.0).log_prob(x) - mixture.log_prob(x))).max() > 1.0
    assert math.isclose(float(jnp.exp(0.5 * mixture.log_vars[0, 0])), toy2d.EIGHT_GAUSSIANS_STD, rel_tol=1e-5)


_Z3 = jnp.zeros(3)


@bad_calls(
    [
        ("logits_2d", lambda: GaussianMixture(jnp.zeros((3, 1)), jnp.zeros((3, 2)), jnp.zeros((3, 2))), ValueError, "GaussianMixture: argument 'logits' must have shape (K,)"),
        ("means_wrong_k", lambda: GaussianMixture(_Z3, jnp.zeros((2, 2)), jnp.zeros((2, 2))), ValueError, "GaussianMixture: argument 'means' must have shape (3, d)"),
        ("log_vars_wrong_shape", lambda: GaussianMixture(_Z3, jnp.zeros((3, 2)), jnp.zeros((3, 1))), ValueError, "GaussianMixture: argument 'log_vars' must have shape (3, 2)"),
        ("int_means", lambda: GaussianMixture(_Z3, jnp.zeros((3, 2), jnp.int32), jnp.zeros((3, 2))), TypeError, "GaussianMixture: argument 'means'"),
        ("score_wrong_d", lambda: eight_gaussians().score(jnp.zeros((4, 3))), ValueError, "GaussianMixture.score: argument 'x' must have shape (n, 2)"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
