"""Properties of dgm_lib.ais (and the RBM's rbm_ais): each run's estimate Z0 w_i (the exp of its
log-weight, which includes log Z0) is unbiased for Z, the log of their mean is a stochastic
lower bound on log Z (Jensen), and a finer ladder of temperatures lowers
the variance of the log-weights; the sigmoid schedule is the rescaled logistic, from exactly 0
to exactly 1. The oracles are closed-form Gaussian normalisers and the exact
log Z of a small RBM by a direct sum written here; tolerances are standard errors."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import special
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib import ais as A
from dgm_lib.energy import RBM, base_rate_logits, rbm_ais
from dgm_lib.samplers import mala_transition

SIGMAS = 5.0

# A 1-D geometric path from f0 = exp(-x^2/2) (Z0 = sqrt(2 pi)) to
# f1 = exp(-(x - MU)^2 / (2 S^2)) (Z1 = sqrt(2 pi) S).
MU, S = 1.5, 0.6
LOG_Z0 = 0.5 * math.log(2 * math.pi)
LOG_Z1 = 0.5 * math.log(2 * math.pi) + math.log(S)


def log_f(x, beta):
    x = x[:, 0]
    return (1.0 - beta) * (-0.5 * x**2) + beta * (-0.5 * (x - MU) ** 2 / S**2)


def exact_transition(key, x, beta):
    """An exact draw from p_beta = N(m, 1 / lam), lam = 1 - beta + beta / S^2: it leaves p_beta
    invariant (it ignores x)."""
    lam = 1.0 - beta + beta / S**2
    mean = beta * MU / S**2 / lam
    return mean + jax.random.normal(key, x.shape) / jnp.sqrt(lam)


def mala_ladder_transition(key, x, beta):
    """One MALA step at temperature beta: leaves p_beta invariant without mixing fully."""
    return mala_transition(lambda y: log_f(y, beta), 0.3)(key, x)[0]


def base_draws(key, n):
    return jax.random.normal(key, (n, 1))


def run_gaussian(key, n, betas, transition=exact_transition):
    start, run = jax.random.split(key)
    return A.ais(run, base_draws(start, n), log_f, transition, jnp.asarray(betas), log_z0=LOG_Z0)


def grouped_log_z(log_weights: np.ndarray, group: int) -> np.ndarray:
    """log Z-hat of independent AIS runs of `group` chains each (the chains are independent;
    each chain's log-weight is its own log Z estimate, log Z0 + log w_i)."""
    log_weights = np.asarray(log_weights, np.float64).reshape(-1, group)
    return special.logsumexp(log_weights, axis=1) - math.log(group)


def assert_unbiased_for_z(log_weights, log_z: float) -> None:
    """The per-run estimates Z0 w_i = exp(log_weights) have mean Z within SIGMAS standard
    errors, and the standard error is small enough (2% of Z) that a wrong weight is caught."""
    ratio = np.exp(np.asarray(log_weights, np.float64) - log_z)  # Z-hat_i / Z, mean 1
    se = ratio.std(ddof=1) / math.sqrt(ratio.size)
    assert se < 0.02, se
    assert abs(ratio.mean() - 1.0) < SIGMAS * se, (ratio.mean(), se)


# ------------------------------------------------------------------------------------------
# Gaussian path: Z in closed form
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transition", "num_temperatures"),
    [(exact_transition, 2), (exact_transition, 6), (mala_ladder_transition, 10)],
    ids=["plain_importance_sampling", "exact_ladder", "mala_ladder"],
)
def test_ais_weights_are_unbiased_for_the_gaussian_normaliser(transition, num_temperatures):
    n = 20_000
    betas = np.linspace(0.0, 1.0, num_temperatures)
    result = run_gaussian(jax.random.key(0), n, betas, transition)
    assert result.log_weights.shape == (n,)
    assert_unbiased_for_z(result.log_weights, LOG_Z1)
    # The reported estimate is log Z0 + log mean w, with a delta-method error bar that covers.
    expected = special.logsumexp(np.asarray(result.log_weights, np.float64)) - math.log(n)
    np.testing.assert_allclose(float(result.log_z.mean), expected, rtol=0, atol=1e-4)
    assert abs(float(result.log_z.mean) - LOG_Z1) < SIGMAS * float(result.log_z.stderr)
    assert result.log_z.n == n
    assert 0.0 < float(result.ess) <= n
    # The final states are draws from the target N(MU, S^2) (exact last transition).
    if transition is exact_transition:
        final = np.asarray(result.final[:, 0], np.float64)
        assert abs(final.mean() - MU) < SIGMAS * S / math.sqrt(n)


def test_ais_log_z_is_a_stochastic_lower_bound():
    group, num_groups = 2, 10_000  # few chains and temperatures: a visible Jensen gap
    result = run_gaussian(jax.random.key(1), group * num_groups, [0.0, 0.5, 1.0])
    log_z_hat = grouped_log_z(result.log_weights, group)
    gap = LOG_Z1 - log_z_hat.mean()
    se = log_z_hat.std(ddof=1) / math.sqrt(num_groups)
    assert gap > SIGMAS * se, (gap, se)


def test_more_temperatures_lower_the_variance_of_the_log_weights():
    n = 10_000
    coarse = run_gaussian(jax.random.key(2), n, np.linspace(0, 1, 3))
    fine = run_gaussian(jax.random.key(3), n, np.linspace(0, 1, 30))
    var_coarse = float(np.var(np.asarray(coarse.log_weights, np.float64)))
    var_fine = float(np.var(np.asarray(fine.log_weights, np.float64)))
    # About 1 / T; a factor of 4 is far outside the sampling error of either variance.
    assert var_fine < var_coarse / 4, (var_fine, var_coarse)
    assert float(fine.ess) > float(coarse.ess)


# ------------------------------------------------------------------------------------------
# rbm_ais on an RBM small enough to enumerate
# ------------------------------------------------------------------------------------------


@functools.cache
def small_rbm(d: int = 6, num_hidden: int = 4, seed: int = 0) -> RBM:
    """A fixed RBM with parameters of size ~1 (built once per seed; the tests do not change it)."""
    rbm = RBM(d, num_hidden, rngs=nnx.Rngs(seed))
    g = np.random.default_rng(seed)
    rbm.W[...] = jnp.asarray(g.normal(0.0, 1.0, (d, num_hidden)), jnp.float32)
    rbm.b[...] = jnp.asarray(g.normal(0.0, 1.0, d), jnp.float32)
    rbm.c[...] = jnp.asarray(g.normal(0.0, 1.0, num_hidden), jnp.float32)
    return rbm


def exact_rbm_log_z(rbm: RBM) -> float:
    """log sum_{v, h} exp(b.v + c.h + v W h), by a direct float64 sum written here."""
    w, b, c = (np.asarray(p, np.float64) for p in (rbm.W[...], rbm.b[...], rbm.c[...]))
    v = np.array(np.meshgrid(*[[0, 1]] * rbm.d, indexing="ij")).reshape(rbm.d, -1).T
    h = np.array(np.meshgrid(*[[0, 1]] * rbm.num_hidden, indexing="ij")).reshape(
        rbm.num_hidden, -1
    ).T
    neg_energy = (v @ b)[:, None] + (h @ c)[None, :] + v @ w @ h.T
    return float(special.logsumexp(neg_energy))


def test_rbm_ais_with_a_base_rate_base_is_unbiased_for_the_exact_partition_function():
    rbm = small_rbm()
    log_z = exact_rbm_log_z(rbm)
    data = jax.random.bernoulli(jax.random.key(9), 0.3, (100, rbm.d)).astype(jnp.float32)
    base_logits = base_rate_logits(data)
    n = 20_000
    result = rbm_ais(
        jax.random.key(5), rbm, jnp.linspace(0.0, 1.0, 20), num_chains=n, base_logits=base_logits
    )
    assert_unbiased_for_z(result.log_weights, log_z)
    assert abs(float(result.log_z.mean) - log_z) < SIGMAS * float(result.log_z.stderr)


def test_rbm_ais_is_unbiased_a_stochastic_lower_bound_and_finer_ladders_help():
    rbm = small_rbm(seed=1)
    log_z = exact_rbm_log_z(rbm)
    group, num_groups = 2, 10_000
    n = group * num_groups
    coarse = rbm_ais(jax.random.key(6), rbm, jnp.array([0.0, 0.5, 1.0]), num_chains=n)
    log_z_hat = grouped_log_z(coarse.log_weights, group)
    gap = log_z - log_z_hat.mean()
    assert gap > SIGMAS * log_z_hat.std(ddof=1) / math.sqrt(num_groups), gap
    fine = rbm_ais(jax.random.key(7), rbm, jnp.linspace(0.0, 1.0, 60), num_chains=n)
    assert_unbiased_for_z(fine.log_weights, log_z)
    var_coarse = float(np.var(np.asarray(coarse.log_weights, np.float64)))
    var_fine = float(np.var(np.asarray(fine.log_weights, np.float64)))
    assert var_fine < var_coarse / 4, (var_fine, var_coarse)


# ------------------------------------------------------------------------------------------
# Schedules and bad arguments
# ------------------------------------------------------------------------------------------


def test_check_betas_accepts_a_valid_schedule_with_repeated_values():
    betas = A.check_betas("here", [0.0, 0.5, 0.5, 1.0])
    np.testing.assert_array_equal(betas, [0.0, 0.5, 0.5, 1.0])


@pytest.mark.parametrize("num_steps", [1, 7, 400])
def test_sigmoid_schedule_is_the_rescaled_logistic_from_0_to_1(num_steps):
    betas = np.asarray(A.sigmoid_schedule(num_steps, radius=4.0), np.float64)
    assert betas.shape == (num_steps + 1,) and betas[0] == 0.0 and betas[-1] == 1.0
    assert np.all(np.diff(betas) > 0)
    np.testing.assert_array_equal(A.check_betas("here", betas), betas)
    s = special.expit(4.0 * (2.0 * np.arange(num_steps + 1) / num_steps - 1.0))
    np.testing.assert_allclose(betas, (s - s[0]) / (s[-1] - s[0]), atol=1e-6)
    np.testing.assert_allclose(betas[::-1], 1.0 - betas, atol=1e-6)  # symmetric


def test_sigmoid_schedule_steps_are_finest_at_the_ends_and_linear_for_a_small_radius():
    steps = np.diff(np.asarray(A.sigmoid_schedule(400), np.float64))
    edge = special.expit(4.0) * (1.0 - special.expit(4.0))  # sigma'(4) against sigma'(0) = 1/4
    np.testing.assert_allclose(steps[200] / steps[0], 0.25 / edge, rtol=0.02)
    np.testing.assert_allclose(A.sigmoid_schedule(10, radius=1e-3), np.linspace(0, 1, 11),
                               atol=1e-5)


_X0 = jnp.zeros((4, 1))
_KEY = jax.random.key(0)


@bad_calls(
    [
        ("not_starting_at_0", lambda: A.check_betas("here", [0.1, 0.5, 1.0]), ValueError, "here: argument 'betas' must start at 0 (the base density) and end at 1 (the target); got betas[0] = 0.1"),
        ("not_ending_at_1", lambda: A.check_betas("here", [0.0, 0.5, 0.75]), ValueError, "betas[-1] = 0.75"),
        ("decreasing", lambda: A.check_betas("here", [0.0, 0.75, 0.25, 1.0]), ValueError, "here: argument 'betas' must never decrease; betas[2] = 0.25 < betas[1] = 0.75"),
        ("one_entry", lambda: A.check_betas("here", [1.0]), ValueError, "here: argument 'betas' needs at least 2 entries (0 and 1); got 1"),
        ("two_dimensional", lambda: A.check_betas("here", [[0.0, 1.0]]), ValueError, "here: argument 'betas' must have shape"),
        ("ais_bad_betas", lambda: A.ais(_KEY, _X0, log_f, exact_transition, jnp.array([0.0, 0.5])), ValueError, "ais: argument 'betas' must start at 0"),
        ("ais_one_chain", lambda: A.ais(_KEY, _X0[:1], log_f, exact_transition, jnp.array([0.0, 1.0])), ValueError, "ais: argument 'x0' needs at least 2 chains"),
        ("ais_0d_x0", lambda: A.ais(_KEY, jnp.float32(0.0), log_f, exact_transition, jnp.array([0.0, 1.0])), ValueError, "ais: argument 'x0' must have shape (num_chains, ...)"),
        ("ais_log_density_not_callable", lambda: A.ais(_KEY, _X0, None, exact_transition, jnp.array([0.0, 1.0])), TypeError, "ais: argument 'log_density_fn'"),
        ("ais_transition_not_callable", lambda: A.ais(_KEY, _X0, log_f, 1.0, jnp.array([0.0, 1.0])), TypeError, "ais: argument 'transition'"),
        ("sigmoid_no_steps", lambda: A.sigmoid_schedule(0), ValueError, "sigmoid_schedule: argument 'num_steps' must be a positive int; got 0"),
        ("sigmoid_bad_radius", lambda: A.sigmoid_schedule(10, radius=0.0), ValueError, "sigmoid_schedule: argument 'radius' must be a finite number > 0; got 0.0"),
        ("rbm_ais_bad_betas", lambda: rbm_ais(_KEY, small_rbm(), jnp.array([0.0, 0.9]), num_chains=4), ValueError, "argument 'betas' must start at 0"),
        ("rbm_ais_bad_base", lambda: rbm_ais(_KEY, small_rbm(), jnp.array([0.0, 1.0]), num_chains=4, base_logits=jnp.zeros(5)), ValueError, "rbm_ais: argument 'base_logits' must have shape"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
