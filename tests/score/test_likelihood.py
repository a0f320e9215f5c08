"""Properties of dgm_lib.score.likelihood: with the exact score and the exact p_1, the
probability-flow log-likelihood of Gaussian data is the closed form log N(x; alpha m,
alpha^2 s^2 + sigma^2) at t_min within 1e-3 nats (about 1e-4 measured; VP and VE), and that
of a Gaussian mixture is its noised log-density; with VP's own prior the error is bounded by
the prior's mismatch with p_1 (tiny); Hutchinson's probes give an unbiased estimate of
log p."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls
from support.score_oracles import gaussian_marginal, sample_mixture

from dgm_lib.divergence import probes
from dgm_lib.score import (
    VESDE,
    VPSDE,
    GaussianMixture,
    prior_log_prob,
    probability_flow_log_prob,
)

SIGMAS = 5.0
T_MIN = 1e-3
SDES = {"VP": VPSDE(), "VE": VESDE()}
MEAN, VARS = np.array([0.7, -1.2]), np.array([0.5**2, 1.3**2])
POINTS = jnp.asarray(MEAN + 1.5 * np.sqrt(VARS) * np.random.default_rng(0).normal(size=(16, 2)), jnp.float32)


@partial(jax.jit, static_argnums=0)
def gaussian_log_likelihoods(name, x):
    """(with the exact p_1, with the SDE's prior, the closed form at T_MIN)."""
    sde = SDES[name]
    score, log_prob = gaussian_marginal(MEAN, np.diag(VARS), sde)
    exact_prior = probability_flow_log_prob(
        sde, score, x, t_min=T_MIN, prior_log_prob_fn=lambda y: log_prob(y, 1.0))
    # The SDE's own prior, for VP only (the default-prior test's case): one solve less for VE.
    own_prior = probability_flow_log_prob(sde, score, x, t_min=T_MIN) if name == "VP" else None
    return exact_prior, own_prior, log_prob(x, T_MIN)


@pytest.mark.parametrize("name", list(SDES))
def test_probability_flow_log_prob_of_gaussian_data_is_the_closed_form(name):
    """log p_{t_min}(x) = log N(x; alpha m, alpha^2 s^2 + sigma^2) at t_min, to 1e-3 nats,
    when the ODE ends at the exact p_1: the change of variables itself is exact."""
    ours, _, closed = gaussian_log_likelihoods(name, POINTS)
    np.testing.assert_allclose(ours, closed, atol=1e-3, rtol=0)
    # The points are spread out: the log-densities differ by several nats (no constant fits).
    assert float(jnp.max(closed) - jnp.min(closed)) > 3.0


def test_with_the_vp_prior_the_error_is_at_most_the_priors_mismatch():
    """VP's prior N(0, I) replaces p_1 = N(alpha(1) m, alpha(1)^2 s^2 + sigma(1)^2), alpha(1) =
    e^{-B(1)/2} = 0.0066: the error is |log prior - log p_1| at the ODE's end point x_1, at most
    its maximum over a box holding every x_1 (|x_1| <= 5): 0.06 nats; the errors are below
    0.03 nats, yet not zero (the prior does enter, by that much)."""
    sde = SDES["VP"]
    _, own_prior, closed = gaussian_log_likelihoods("VP", POINTS)
    log_prob = gaussian_marginal(MEAN, np.diag(VARS), sde)[1]
    grid = np.linspace(-5, 5, 201)
    box = jnp.asarray(np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2), jnp.float32)
    bound = float(jnp.max(jnp.abs(prior_log_prob(sde, box) - log_prob(box, 1.0))))
    error = np.abs(np.asarray(own_prior - closed))
    assert error.max() <= bound + 1e-3, (error.max(), bound)
    assert bound < 0.1 and 1e-3 < error.max() < 0.03, (error.max(), bound)


R = np.array([[np.cos(0.6), -np.sin(0.6)], [np.sin(0.6), np.cos(0.6)]])
ROTATED_COV = R @ np.diag([1.5**2, 0.3**2]) @ R.T  # off-diagonal Jacobian: Rademacher varies


@jax.jit
def hutchinson_log_likelihoods(x, v):
    sde = SDES["VP"]
    score, log_prob = gaussian_marginal(MEAN, ROTATED_COV, sde)
    estimate = probability_flow_log_prob(
        sde, score, x, probes=v, t_min=T_MIN, prior_log_prob_fn=lambda y: log_prob(y, 1.0))
    return estimate, log_prob(x, T_MIN)


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_probes_give_an_unbiased_log_likelihood(kind):
    """400 copies of one point, each with its own fixed probe: the estimates vary, and their
    mean is the exact log-density within 5 standard errors (plus the solver's 1e-3)."""
    reps = 400
    x = jnp.tile(jnp.array([[1.5, 0.4]]), (reps, 1))
    estimate, closed = hutchinson_log_likelihoods(x, probes(jax.random.key(1), 1, x.shape, kind))
    estimate = np.asarray(estimate, np.float64)
    se = estimate.std(ddof=1) / np.sqrt(reps)
    assert estimate.std() > 0.05  # a random estimate, not the exact trace
    assert abs(estimate.mean() - float(closed[0])) < SIGMAS * se + 1e-3


def test_probability_flow_log_prob_of_a_mixture_is_its_noised_log_density():
    mixture = GaussianMixture(
        jnp.log(jnp.array([0.6, 0.4])), jnp.array([[-1.0, 1.0], [1.5, -0.5]]),
        2 * jnp.log(jnp.array([[0.4, 0.8], [0.6, 0.3]])),
    )
    sde = SDES["VE"]
    x = jnp.asarray(sample_mixture(mixture, 12, 2) * 1.3, jnp.float32)

    @jax.jit
    def both(x):
        ours = probability_flow_log_prob(
            sde, mixture.marginal_score(sde), x, t_min=T_MIN,
            prior_log_prob_fn=mixture.noised(*sde.marginal(1.0)).log_prob)
        return ours, mixture.noised(*sde.marginal(T_MIN)).log_prob(x)

    ours, expected = both(x)
    np.testing.assert_allclose(ours, expected, atol=1e-3, rtol=0)


_SDE = VPSDE()


def _score(x, t):
    return -x


@bad_calls(
    [
        ("probes_wrong_shape", lambda: probability_flow_log_prob(_SDE, _score, jnp.zeros((3, 2)), probes=jnp.ones((2, 3, 3))), ValueError, "probability_flow_log_prob: argument 'probes' must have shape (num_probes, 3, 2)"),
        ("probes_without_probe_axis", lambda: probability_flow_log_prob(_SDE, _score, jnp.zeros((3, 2)), probes=jnp.ones((3, 2))), ValueError, "argument 'probes'"),
        ("1d_points", lambda: probability_flow_log_prob(_SDE, _score, jnp.zeros(3)), ValueError, "probability_flow_log_prob: argument 'x' must have shape (n, ...) with the batch axis first"),
        ("int_points", lambda: probability_flow_log_prob(_SDE, _score, jnp.zeros((3, 2), jnp.int32)), TypeError, "probability_flow_log_prob: argument 'x'"),
        ("zero_t_min", lambda: probability_flow_log_prob(_SDE, _score, jnp.zeros((3, 2)), t_min=0.0), ValueError, "probability_flow_log_prob: argument 't_min' must be a finite number > 0"),
        ("t_min_one", lambda: probability_flow_log_prob(_SDE, _score, jnp.zeros((3, 2)), t_min=1.0), ValueError, "probability_flow_log_prob: argument 't_min' must be in (0, 1)"),
        ("zero_atol", lambda: probability_flow_log_prob(_SDE, _score, jnp.zeros((3, 2)), atol=0.0), ValueError, "probability_flow_log_prob: argument 'atol'"),
        ("score_not_callable", lambda: probability_flow_log_prob(_SDE, None, jnp.zeros((3, 2))), TypeError, "probability_flow_log_prob: argument 'score_fn' must be a callable"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
