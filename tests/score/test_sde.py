"""Properties of dgm_lib.score.sde: the closed-form marginals (alpha(t), sigma(t)) of the VE and
VP SDEs agree with a simulation of the forward SDE by Euler-Maruyama, and with the moment
equations of a linear SDE dx = f(t) x dt + g(t) dW (d alpha/dt = f alpha, d sigma^2/dt =
2 f sigma^2 + g^2) by jax.grad; perturb draws have the marginal's moments, example by
example; the prior's log-density is scipy's; the constructors refuse impossible rates."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from support.bad_calls import assert_raises_naming, bad_calls
from support.score_oracles import normal

from dgm_lib.score import VESDE, VPSDE, broadcast_time, perturb, prior_log_prob, prior_sample

SIGMAS = 5.0
SDES = {"VE": VESDE(), "VP": VPSDE(), "VE_small": VESDE(0.05, 3.0), "VP_slow": VPSDE(0.5, 6.0)}
TIMES = (0.3, 0.7, 1.0)


@partial(jax.jit, static_argnums=(0, 3))
def simulate(sde, key, x0, num_steps):
    """Euler-Maruyama paths of the forward SDE from x0 (n, 1); states at TIMES."""
    dt = 1.0 / num_steps

    def step(x, k):
        t = k * dt
        z = jax.random.normal(jax.random.fold_in(key, k), x.shape)
        return x + sde.drift(x, jnp.full(x.shape[:1], t)) * dt + sde.diffusion(t) * math.sqrt(dt) * z, x

    final, path = jax.lax.scan(step, x0, jnp.arange(num_steps))
    keep = [round(t * num_steps) for t in TIMES[:-1]]
    return jnp.concatenate([path[jnp.array(keep)], final[None]])


@pytest.mark.parametrize("name", ["VE", "VP"])
def test_marginals_match_a_simulation_of_the_forward_sde(name):
    """From a fixed x0, the simulated x_t has mean alpha(t) x0 and variance sigma(t)^2 at
    t = 0.3, 0.7, 1, within 5 standard errors (Euler-Maruyama's bias, O(dt), is well below)."""
    sde, n, x0 = SDES[name], 20_000, 1.5
    states = np.asarray(simulate(sde, jax.random.key(0), jnp.full((n, 1), x0), 1000), np.float64)
    for t, x in zip(TIMES, states[..., 0], strict=True):
        alpha, sigma = (float(a) for a in sde.marginal(t))
        assert abs(x.mean() - alpha * x0) < SIGMAS * sigma / np.sqrt(n), (t, x.mean(), alpha * x0)
        assert abs(x.var(ddof=1) - sigma**2) < SIGMAS * sigma**2 * np.sqrt(2 / (n - 1)), (t, x.var(), sigma**2)
    if name == "VP":  # a variance that grew like B(t) (no shrinking drift) would be rejected
        assert float(sde.integrated_beta(1.0)) > 2 * states[-1, :, 0].var()


@pytest.mark.parametrize("name", list(SDES))
def test_marginal_solves_the_moment_equations_of_the_linear_sde(name):
    """With f(t) the drift per unit x: d alpha/dt = f alpha and d sigma^2/dt = 2 f sigma^2 +
    g^2 (jax.grad), alpha(0) = 1 and sigma(0) = 0: the marginal belongs to this drift and
    diffusion. For VE that is g^2 = d sigma^2/dt; for VP, g^2 = beta."""
    sde = SDES[name]
    ts = jnp.linspace(0.02, 1.0, 25)
    f = jax.vmap(lambda t: sde.drift(jnp.ones((1, 1)), t[None])[0, 0])(ts)
    d_alpha = jax.vmap(jax.grad(lambda t: sde.marginal(t)[0]))(ts)
    d_var = jax.vmap(jax.grad(lambda t: sde.marginal(t)[1] ** 2))(ts)
    alpha, sigma = sde.marginal(ts)
    g2 = jnp.square(sde.diffusion(ts))
    np.testing.assert_allclose(d_alpha, f * alpha, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d_var, 2 * f * sigma**2 + g2, rtol=2e-3)
    np.testing.assert_allclose(sde.marginal(0.0), (1.0, 0.0), atol=1e-7)
    if isinstance(sde, VPSDE):
        np.testing.assert_allclose(g2, sde.beta(ts), rtol=1e-6)
        np.testing.assert_allclose(alpha**2 + sigma**2, 1.0, atol=1e-6)
    else:
        np.testing.assert_array_equal(f, 0.0)
        np.testing.assert_allclose(g2, d_var, rtol=2e-3)
        np.testing.assert_allclose(alpha, 1.0)
    # The prior's spread is the marginal's at t = 1: exactly for VE; for VP up to
    # 1 - sqrt(1 - e^{-B(1)}) <= e^{-B(1)} (4e-5 for the defaults, 0.02 for VP_slow).
    gap = abs(float(sigma[-1]) - sde.prior_std())
    if isinstance(sde, VPSDE):
        assert gap <= math.exp(-float(sde.integrated_beta(1.0)))
    else:
        assert gap < 1e-5 * sde.prior_std()


@pytest.mark.parametrize("name", ["VE", "VE_small"])
def test_ve_time_of_std_inverts_the_marginal_std(name):
    sde = SDES[name]
    ts = jnp.linspace(0.001, 1.0, 50)
    np.testing.assert_allclose(sde.time_of_std(sde.marginal(ts)[1]), ts, rtol=1e-4, atol=1e-6)
    stds = jnp.geomspace(1e-3, sde.prior_std(), 30)
    np.testing.assert_allclose(sde.marginal(sde.time_of_std(stds))[1], stds, rtol=1e-4)


def test_vp_alpha_squared_plus_sigma_squared_is_one():
    for sde in (SDES["VP"], SDES["VP_slow"]):
        alpha, sigma = sde.marginal(jnp.linspace(0.0, 1.0, 101))
        np.testing.assert_allclose(alpha**2 + sigma**2, 1.0, atol=1e-6)
        assert float(sigma[1]) > 0 and float(alpha[-1]) < 0.2  # not a trivial split


@pytest.mark.parametrize("name", ["VE", "VP"])
def test_perturb_draws_have_the_marginal_moments_example_by_example(name):
    """x_t = alpha(t_i) x0_i + sigma(t_i) eps: the returned eps reconstructs x_t; with one time
    per example on image-shaped states, example i's noise has standard deviation sigma(t_i)."""
    sde = SDES[name]
    n = 8
    t = jnp.linspace(0.05, 1.0, n)
    x0 = normal(1, (n, 30, 30)) + 2.0
    xt, eps = perturb(jax.random.key(2), sde, x0, t)
    alpha, sigma = sde.marginal(t)
    np.testing.assert_allclose(xt, alpha[:, None, None] * x0 + sigma[:, None, None] * eps, rtol=1e-5, atol=1e-5)
    residual = np.asarray((xt - alpha[:, None, None] * x0).reshape(n, -1), np.float64)
    np.testing.assert_allclose(residual.std(1), np.asarray(sigma), rtol=SIGMAS * np.sqrt(0.5 / 900))
    np.testing.assert_allclose(residual.mean(1), 0.0, atol=SIGMAS * float(sigma.max()) / 30)
    # A scalar time: every example at the same level.
    xs, _ = perturb(jax.random.key(3), sde, jnp.full((20_000, 1), 1.5), 0.4)
    a, s = (float(v) for v in sde.marginal(0.4))
    xs = np.asarray(xs[:, 0], np.float64)
    assert abs(xs.mean() - 1.5 * a) < SIGMAS * s / np.sqrt(20_000)
    assert abs(xs.var(ddof=1) - s**2) < SIGMAS * s**2 * np.sqrt(2 / 20_000)


@pytest.mark.parametrize("name", ["VE", "VP", "VE_small"])
def test_prior_log_prob_is_scipys_normal_and_prior_sample_has_its_spread(name):
    sde = SDES[name]
    x = normal(4, (5, 2, 3), 3.0)
    expected = stats.norm(0.0, sde.prior_std()).logpdf(np.asarray(x, np.float64)).sum((1, 2))
    np.testing.assert_allclose(prior_log_prob(sde, x), expected, rtol=1e-5)
    draws = np.asarray(prior_sample(jax.random.key(5), sde, (10_000, 2)), np.float64)
    assert draws.shape == (10_000, 2)
    assert abs(draws.std() / sde.prior_std() - 1) < SIGMAS * np.sqrt(0.5 / 20_000)


def test_broadcast_time_reshapes_per_example_times_against_the_states():
    x = jnp.zeros((4, 2, 3))
    assert broadcast_time(jnp.arange(4.0), x).shape == (4, 1, 1)
    assert broadcast_time(0.5, x).shape == ()
    np.testing.assert_array_equal((broadcast_time(jnp.arange(4.0), x) + x)[:, 1, 2], np.arange(4.0))


_KEY = jax.random.key(0)


@bad_calls(
    [
        ("ve_zero_sigma_min", lambda: VESDE(0.0, 1.0), ValueError, "VESDE: need sigma_min > 0 and sigma_max > sigma_min, both finite; got sigma_min = 0.0, sigma_max = 1.0"),
        ("ve_negative_sigma_min", lambda: VESDE(-0.1, 1.0), ValueError, "VESDE: need sigma_min > 0"),
        ("ve_equal", lambda: VESDE(1.0, 1.0), ValueError, "sigma_max > sigma_min"),
        ("ve_reversed", lambda: VESDE(2.0, 1.0), ValueError, "sigma_max > sigma_min"),
        ("ve_nan", lambda: VESDE(float("nan"), 1.0), ValueError, "both finite"),
        ("ve_inf", lambda: VESDE(0.01, float("inf")), ValueError, "both finite"),
        ("vp_equal", lambda: VPSDE(1.0, 1.0), ValueError, "VPSDE: need beta_min >= 0 and beta_max > beta_min, both finite; got beta_min = 1.0, beta_max = 1.0"),
        ("vp_reversed", lambda: VPSDE(20.0, 0.1), ValueError, "beta_max > beta_min"),
        ("vp_negative", lambda: VPSDE(-0.1, 20.0), ValueError, "beta_min >= 0"),
        ("vp_nan", lambda: VPSDE(0.1, float("nan")), ValueError, "both finite"),
        ("perturb_int_key", lambda: perturb(0, VPSDE(), jnp.zeros((2, 2)), 0.5), TypeError, "perturb: argument 'key'"),
        ("perturb_int_states", lambda: perturb(_KEY, VPSDE(), jnp.zeros((2, 2), jnp.int32), 0.5), TypeError, "perturb: argument 'x0'"),
        ("prior_sample_int_key", lambda: prior_sample(1, VESDE(), (3, 2)), TypeError, "prior_sample: argument 'key'"),
        ("prior_log_prob_int_states", lambda: prior_log_prob(VESDE(), jnp.zeros((2, 2), jnp.int32)), TypeError, "prior_log_prob: argument 'x'"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)


def test_vp_accepts_a_zero_beta_min():
    """beta_min = 0 is a valid schedule (beta(0) = 0: no noise at the very start)."""
    alpha, sigma = VPSDE(0.0, 10.0).marginal(0.5)
    np.testing.assert_allclose(float(alpha) ** 2 + float(sigma) ** 2, 1.0, atol=1e-6)
