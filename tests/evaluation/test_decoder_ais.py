"""Annealed importance sampling of a decoder's log p(x) (dgm_lib.evaluation.decoder_ais): the
estimate matches the exact log-marginal of a linear-Gaussian model (closed form,
dgm_lib.latent.exact) and of a small Bernoulli decoder (a float64 grid integral over its 2-D
latent, written here), where importance sampling from the prior (T = 1) is nats off; each
chain's exp(log w) is unbiased for p(x) while the log of their mean falls below log p(x)
(Jensen); the weighted final states are posterior draws; the pilot tunes the acceptance; bad
arguments raise clear errors. Tolerances are standard errors, and a few hundredths of a nat."""

from __future__ import annotations

import functools
import logging
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib import probability as prob
from dgm_lib.ais import sigmoid_schedule
from dgm_lib.evaluation.decoder_ais import DecoderAISResult, ais_log_likelihood
from dgm_lib.latent.exact import (
    linear_gaussian_log_joint,
    linear_gaussian_log_marginal,
    linear_gaussian_posterior,
)

SIGMAS = 4.0

# ------------------------------------------------------------------------------------------
# A linear-Gaussian decoder whose posterior (std 0.1 to 0.2) is much narrower than its
# 5-D prior: importance sampling from the prior misses it by nats.
# ------------------------------------------------------------------------------------------

D, L, NOISE = 16, 5, 0.5
_G = np.random.default_rng(0)
W = jnp.asarray(_G.normal(0.0, 1.0, (D, L)), jnp.float32)
B = jnp.asarray(_G.normal(0.0, 0.5, D), jnp.float32)
LOG_VAR = jnp.float32(2.0 * math.log(NOISE))
X = jnp.asarray(
    _G.normal(size=(3, L)) @ np.asarray(W).T + np.asarray(B) + NOISE * _G.normal(size=(3, D)),
    jnp.float32,
)


def gaussian_log_likelihood(x, z):
    """log N(x; W z + b, NOISE^2 I): the oracle's joint minus its prior."""
    return linear_gaussian_log_joint(x, z, W, B, LOG_VAR) - prob.log_diag_normal(
        z, jnp.zeros_like(z), jnp.zeros_like(z)
    )


@functools.cache
def gaussian_run(num_steps: int, seed: int = 0) -> DecoderAISResult:
    return ais_log_likelihood(
        jax.random.key(seed),
        X,
        gaussian_log_likelihood,
        latent_dim=L,
        betas=sigmoid_schedule(num_steps),
        num_chains=2048,
        num_leapfrog_steps=1,
        # betas = [0, 1] is importance sampling: its one transition comes after the weight.
        target_accept_rate=None if num_steps == 1 else 0.65,
    )


def test_ais_matches_the_exact_linear_gaussian_marginal_where_prior_sampling_fails():
    exact = np.asarray(linear_gaussian_log_marginal(X, W, B, LOG_VAR), np.float64)
    ais = gaussian_run(1000)
    err = np.asarray(ais.log_px.mean, np.float64) - exact
    se = np.asarray(ais.log_px.stderr, np.float64)
    assert ais.log_px.mean.shape == se.shape == (3,) and ais.log_px.n == 2048
    assert np.all(se < 0.025), se
    assert np.all(np.abs(err) < 0.05), err
    assert np.all(np.abs(err) < SIGMAS * se), (err, se)
    # Importance sampling with the prior as proposal (betas = [0, 1]), as many chains: its
    # weights are heavy-tailed (a rare draw near the posterior can overshoot by nats), so
    # ten independent runs are compared, typically nats below log p(x).
    prior_err = np.array(
        [np.asarray(gaussian_run(1, seed).log_px.mean, np.float64) - exact for seed in range(10)]
    )
    assert np.median(prior_err) < -2.0, prior_err
    assert np.mean(np.abs(prior_err) > 0.5) > 0.8, prior_err
    assert np.all(np.asarray(gaussian_run(1).ess) < 5.0) and np.all(np.asarray(ais.ess) > 1000.0)


def test_the_weighted_final_states_are_draws_from_the_exact_posterior():
    ais = gaussian_run(1000)
    mean, cov = (np.asarray(a, np.float64) for a in linear_gaussian_posterior(X, W, B, LOG_VAR))
    weights = np.asarray(jax.nn.softmax(ais.log_weights, axis=1), np.float64)  # (n, K)
    final = np.asarray(ais.final, np.float64)  # (n, K, L)
    assert final.shape == (3, 2048, L)
    weighted_mean = np.einsum("nk,nkl->nl", weights, final)
    std = np.sqrt(np.diag(cov))
    ess = np.asarray(ais.ess, np.float64)[:, None]
    assert np.all(np.abs(weighted_mean - mean) < SIGMAS * std / np.sqrt(ess)), weighted_mean - mean
    centred = final - weighted_mean[:, None, :]
    weighted_var = np.einsum("nk,nkl->nl", weights, centred**2)
    # A variance's relative standard error is about sqrt(2 / ess): 5% at ess ~ 1000.
    np.testing.assert_allclose(weighted_var, np.broadcast_to(std**2, weighted_var.shape), rtol=0.2)


def test_the_pilot_tunes_the_acceptance_rate_and_its_ladder_can_be_reused():
    tuned = gaussian_run(1000)
    np.testing.assert_allclose(np.asarray(tuned.accept_rate), 0.65, atol=0.03)
    steps = np.asarray(tuned.step_sizes)
    assert steps.shape == (3, 1000)
    # The posterior is 4.5 to 9 times narrower than the prior; so are the last steps.
    assert np.all(steps[:, -100:].mean(axis=1) < steps[:, :10].mean(axis=1) / 3), steps
    reused = ais_log_likelihood(
        jax.random.key(7),
        X,
        gaussian_log_likelihood,
        latent_dim=L,
        betas=sigmoid_schedule(1000),
        num_chains=2048,
        num_leapfrog_steps=1,
        step_size=tuned.step_sizes,
        target_accept_rate=None,
    )
    np.testing.assert_array_equal(np.asarray(reused.step_sizes), steps)
    np.testing.assert_allclose(np.asarray(reused.accept_rate), 0.65, atol=0.03)
    exact = np.asarray(linear_gaussian_log_marginal(X, W, B, LOG_VAR))
    assert np.all(np.abs(np.asarray(reused.log_px.mean) - exact) < 0.05)


# ------------------------------------------------------------------------------------------
# A Bernoulli decoder with a 2-D latent and a tanh hidden layer: log p(x) by a float64 grid
# ------------------------------------------------------------------------------------------

PIXELS, HIDDEN = 12, 8
_H = np.random.default_rng(1)
A1, C1 = _H.normal(0.0, 1.5, (HIDDEN, 2)), _H.normal(0.0, 0.5, HIDDEN)
A2, C2 = _H.normal(0.0, 1.5, (PIXELS, HIDDEN)), _H.normal(0.0, 0.5, PIXELS)
BERNOULLI_PARAMS = tuple(jnp.asarray(a, jnp.float32) for a in (A1, C1, A2, C2))


def bernoulli_log_likelihood(x, z, params):
    a1, c1, a2, c2 = params
    logits = jnp.tanh(z @ a1.T + c1) @ a2.T + c2
    return jnp.sum(prob.log_bernoulli(x, logits), axis=-1)


def grid_log_marginal(x: np.ndarray, half_width: float = 7.0, num: int = 701) -> np.ndarray:
    """log sum over a grid of p(z) p(x | z) dz in float64 (the rectangle rule, spectrally
    accurate for a smooth integrand that vanishes at the edges)."""
    u = np.linspace(-half_width, half_width, num)
    z = np.stack(np.meshgrid(u, u, indexing="ij"), axis=-1).reshape(-1, 2)
    logits = np.tanh(z @ A1.T + C1) @ A2.T + C2  # (grid, PIXELS)
    log_px_z = x @ (-np.logaddexp(0.0, -logits)).T + (1.0 - x) @ (-np.logaddexp(0.0, logits)).T
    log_pz = -0.5 * np.sum(z**2, axis=1) - math.log(2.0 * math.pi)
    return special.logsumexp(log_px_z + log_pz, axis=1) + 2.0 * math.log(u[1] - u[0])


def test_ais_matches_a_grid_integral_of_a_bernoulli_decoder():
    x = np.asarray(np.random.default_rng(2).integers(0, 2, (3, PIXELS)), np.float64)
    x[0] = np.tanh(np.array([1.0, -1.0]) @ A1.T + C1) @ A2.T + C2 > 0  # a likely vector
    exact = grid_log_marginal(x)
    np.testing.assert_allclose(grid_log_marginal(x, num=351), exact, atol=1e-6)  # converged
    result = ais_log_likelihood(
        jax.random.key(3),
        jnp.asarray(x, jnp.float32),
        bernoulli_log_likelihood,
        latent_dim=2,
        betas=sigmoid_schedule(300),
        num_chains=1024,
        num_leapfrog_steps=5,
        params=BERNOULLI_PARAMS,
    )
    err = np.asarray(result.log_px.mean, np.float64) - exact
    se = np.asarray(result.log_px.stderr, np.float64)
    assert np.all(se < 0.02), se
    assert np.all(np.abs(err) < 0.05), err
    assert np.all(np.abs(err) < SIGMAS * se), (err, se)
    assert np.all(np.abs(np.asarray(result.accept_rate) - 0.65) < 0.05), result.accept_rate


# ------------------------------------------------------------------------------------------
# Unbiased for p(x), a lower bound for log p(x): a 1-D latent and a coarse ladder
# ------------------------------------------------------------------------------------------

W1, B1, LOG_VAR1 = jnp.array([[2.0], [-1.5]]), jnp.array([0.3, -0.2]), jnp.float32(math.log(0.25))
X1 = jnp.array([[1.7, -1.4]])


def gaussian_log_likelihood_1d(x, z):
    mean = z @ W1.T + B1
    return prob.log_diag_normal(x, mean, jnp.broadcast_to(LOG_VAR1, mean.shape))


def test_each_chain_is_unbiased_for_p_x_and_the_log_of_their_mean_is_a_lower_bound():
    exact = float(linear_gaussian_log_marginal(X1, W1, B1, LOG_VAR1)[0])
    num_chains = 40_000
    # A coarse ladder and a large fixed HMC step (3 leapfrog steps, accepted about half the
    # time): without its Metropolis correction the kernel would leave the chains off the
    # tempered posteriors, and the mean ratio below would be some 35 standard errors off.
    result = ais_log_likelihood(
        jax.random.key(11),
        X1,
        gaussian_log_likelihood_1d,
        latent_dim=1,
        betas=jnp.array([0.0, 0.3, 0.6, 1.0]),
        num_chains=num_chains,
        num_leapfrog_steps=3,
        step_size=0.45,
        target_accept_rate=None,
    )
    log_w = np.asarray(result.log_weights[0], np.float64)
    assert 0.4 < float(result.accept_rate[0]) < 0.7, result.accept_rate
    ratio = np.exp(log_w - exact)  # p-hat / p of each chain, mean 1
    se = ratio.std(ddof=1) / math.sqrt(num_chains)
    assert se < 0.01, se
    assert abs(ratio.mean() - 1.0) < SIGMAS * se, (ratio.mean(), se)
    # Pairs of chains: E[log mean of 2 weights] < log p(x), by more than its error bar.
    pairs = special.logsumexp(log_w.reshape(-1, 2), axis=1) - math.log(2.0)
    gap = exact - pairs.mean()
    assert gap > 5.0 * pairs.std(ddof=1) / math.sqrt(pairs.size), gap


# ------------------------------------------------------------------------------------------
# Bad arguments
# ------------------------------------------------------------------------------------------

_KEY = jax.random.key(0)
_BETAS = jnp.array([0.0, 0.5, 1.0])


def _call(**changes):
    kwargs = dict(latent_dim=L, betas=_BETAS, num_chains=4)
    args = {"key": _KEY, "x": X, "log_likelihood": gaussian_log_likelihood}
    for name in ("key", "x", "log_likelihood"):
        if name in changes:
            args[name] = changes.pop(name)
    kwargs.update(changes)
    return lambda: ais_log_likelihood(args["key"], args["x"], args["log_likelihood"], **kwargs)


def _prior_3d(z):
    return prob.log_diag_normal(z, jnp.zeros(3), jnp.zeros(3))


def _sample_3d(key, m):
    return jax.random.normal(key, (m, 3))


# fmt: off
@bad_calls(
    [
        ("latent_dim_against_log_prior", _call(log_prior=_prior_3d, sample_prior=_sample_3d), ValueError, ["ais_log_likelihood: argument 'sample_prior' must return a float array of shape (12, 5); got shape (12, 3)"]),
        ("latent_dim_against_log_prior_only", _call(log_prior=_prior_3d, sample_prior=lambda k, m: jax.random.normal(k, (m, L))), ValueError, ["ais_log_likelihood: argument 'log_prior' failed when called with latents of shape (12, 5) (latent_dim = 5)", "is latent_dim the dimension the prior is written for?"]),
        ("log_prior_without_sampler", _call(log_prior=_prior_3d), ValueError, "ais_log_likelihood: argument 'log_prior' was given without 'sample_prior'"),
        ("log_prior_not_summed", _call(log_prior=lambda z: -0.5 * z**2, sample_prior=lambda k, m: jax.random.normal(k, (m, L))), ValueError, "argument 'log_prior' must return a float array of shape (12,); got shape (12, 5)"),
        ("latent_dim_against_decoder", _call(latent_dim=3), ValueError, ["ais_log_likelihood: argument 'log_likelihood' failed when called with x of shape (12, 16)", "and z of shape (12, 3)", "do x's shape per example and latent_dim match the decoder?"]),
        ("x_against_decoder", _call(x=X[:, :10]), ValueError, ["argument 'log_likelihood' failed when called with x of shape (12, 10)"]),
        ("log_likelihood_not_summed", _call(log_likelihood=lambda x, z: -((x - z @ W.T) ** 2)), ValueError, "argument 'log_likelihood' must return a float array of shape (12,); got shape (12, 16)"),
        ("betas_not_from_0", _call(betas=jnp.array([0.1, 1.0])), ValueError, "ais_log_likelihood: argument 'betas' must start at 0"),
        ("betas_not_to_1", _call(betas=jnp.array([0.0, 0.9])), ValueError, "betas[-1] = 0.9"),
        ("betas_decreasing", _call(betas=jnp.array([0.0, 0.6, 0.4, 1.0])), ValueError, "ais_log_likelihood: argument 'betas' must never decrease"),
        ("step_size_zero", _call(step_size=0.0), ValueError, "ais_log_likelihood: argument 'step_size' must be a finite number > 0; got 0.0"),
        ("step_size_negative_fixed", _call(step_size=-0.1, target_accept_rate=None), ValueError, "argument 'step_size' must be a finite number > 0"),
        ("step_size_ladder_negative", _call(step_size=jnp.array([0.1, -0.1]), target_accept_rate=None), ValueError, "argument 'step_size' must hold finite step sizes > 0"),
        ("step_size_ladder_against_x", _call(step_size=jnp.ones((5, 2)), target_accept_rate=None), ValueError, "ais_log_likelihood: argument 'step_size' must be a number, or one step size per transition, shape (T,) = (2,), or per data point and transition, shape (n, T) = (3, 2) for the 3 rows of x and the 3 betas; got shape (5, 2)"),
        ("step_size_ladder_while_tuning", _call(step_size=jnp.ones(2)), TypeError, "pass target_accept_rate=None"),
        ("target_out_of_range", _call(target_accept_rate=1.5), ValueError, "argument 'target_accept_rate' must be a float in (0, 1)"),
        ("one_chain", _call(num_chains=1), ValueError, "ais_log_likelihood: argument 'num_chains' must be at least 2"),
        ("no_leapfrog_steps", _call(num_leapfrog_steps=0), ValueError, "argument 'num_leapfrog_steps' must be a positive int"),
        ("x_scalar", _call(x=jnp.float32(1.0)), ValueError, "ais_log_likelihood: argument 'x' must have shape (n, ...)"),
        ("int_key", _call(key=0), TypeError, "ais_log_likelihood: argument 'key' must be a single random key"),
        ("decoder_not_callable", _call(log_likelihood=None), TypeError, "argument 'log_likelihood' must be a callable"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
# fmt: on


def test_new_data_ladders_and_parameters_of_the_same_sizes_reuse_the_compilation(caplog):
    x = jnp.asarray(np.random.default_rng(3).integers(0, 2, (2, PIXELS)), jnp.float32)
    calls = [
        (x, jnp.linspace(0.0, 1.0, 6), 0.3, 0.6, BERNOULLI_PARAMS),
        (
            1.0 - x,
            jnp.linspace(0.0, 1.0, 6) ** 2,
            0.4,
            0.7,
            tuple(p + 0.1 for p in BERNOULLI_PARAMS),
        ),
    ]  # the second call's arrays are made here, so that making them compiles nothing below

    def run(i):
        data, betas, step_size, target, params = calls[i]
        return ais_log_likelihood(
            jax.random.key(i), data, bernoulli_log_likelihood, latent_dim=2, betas=betas,
            num_chains=8, num_leapfrog_steps=2, step_size=step_size, target_accept_rate=target,
            params=params,
        )  # fmt: skip

    first = run(0)
    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        second = run(1)
    compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert compiled == []  # JAX's own log: nothing new was compiled
    assert not np.allclose(first.log_px.mean, second.log_px.mean)
