"""Properties of dgm_lib.samplers: the chain runner keeps its promises (key schedule, recorded
steps, acceptance), ULA has the stationary variance of its derivation and MALA removes that
bias, checked against closed forms and scipy quadrature, with tolerances from the standard
error of the statistic and each test showing that the wrong answer would be rejected."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib import samplers as S

SIGMAS = 5.0  # tolerance of every statistical test, in standard errors


def variance_stderr(var: float, n: int) -> float:
    """Standard error of the sample variance of n Gaussian draws of variance ``var``."""
    return var * np.sqrt(2.0 / (n - 1))


def gaussian_score(sigma2):
    return lambda x: -x / sigma2


def gaussian_log_density(sigma2):
    return lambda x: -0.5 * jnp.sum(jnp.square(x) / sigma2, axis=tuple(range(1, x.ndim)))


# ------------------------------------------------------------------------------------------
# run_chain: key schedule, recording, acceptance, determinism
# ------------------------------------------------------------------------------------------


def _uniform_walk(key, x):
    """x + U(0, 1) noise; 'accepts' where a second uniform is below 0.3."""
    move, acc = jax.random.split(key)
    return x + jax.random.uniform(move, x.shape), (jax.random.uniform(acc, x.shape[:1]) < 0.3)


def test_run_chain_follows_the_documented_key_schedule_and_records_evenly_spaced_steps():
    key, x0 = jax.random.key(1), jnp.zeros((5, 2))
    num_steps, num_recorded = 6, 3
    result = S.run_chain(key, _uniform_walk, x0, num_steps=num_steps, num_recorded=num_recorded)
    # A plain Python loop with step s drawing from fold_in(key, s).
    x, states, accepted = x0, [], np.zeros(5)
    for s in range(num_steps):
        x, a = _uniform_walk(jax.random.fold_in(key, s), x)
        accepted += np.asarray(a)
        states.append(np.asarray(x))
    every = num_steps // num_recorded
    expected_trace = np.stack(states[every - 1 :: every])
    assert result.trace.shape == (num_recorded, 5, 2)
    np.testing.assert_allclose(result.trace, expected_trace, rtol=1e-6)
    np.testing.assert_array_equal(result.trace[-1], result.final)
    np.testing.assert_allclose(result.final, states[-1], rtol=1e-6)
    np.testing.assert_allclose(result.accept_rate, accepted / num_steps, rtol=1e-6)
    # The acceptance varies between chains, so a constant accept_rate would fail above.
    assert len(set(np.round(accepted, 6))) > 1


def test_run_chain_without_recording_returns_an_empty_trace():
    result = S.run_chain(jax.random.key(0), _uniform_walk, jnp.zeros((3, 2, 2)), num_steps=7)
    assert result.trace.shape == (0, 3, 2, 2)
    assert result.final.shape == (3, 2, 2)
    assert result.accept_rate.shape == (3,)


def test_samplers_are_deterministic_given_the_key():
    x0 = jnp.ones((4, 3))
    # One compiled function per sampler, called with three keys.
    ula = jax.jit(lambda k: S.ula(k, gaussian_score(1.0), x0, step_size=0.1, num_steps=10).final)
    mala = jax.jit(
        lambda k: S.mala(k, gaussian_log_density(1.0), x0, step_size=0.3, num_steps=10).final
    )
    for run in (ula, mala):
        a, b, c = run(jax.random.key(7)), run(jax.random.key(7)), run(jax.random.key(8))
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)


def test_score_of_is_the_gradient_of_the_log_density_per_example():
    x = jax.random.normal(jax.random.key(0), (6, 3))
    score = S.score_of(lambda v: -0.25 * jnp.sum(v**4, axis=-1) + v[:, 0] * v[:, 1])
    expected = -np.asarray(x) ** 3
    expected[:, 0] += np.asarray(x[:, 1])
    expected[:, 1] += np.asarray(x[:, 0])
    np.testing.assert_allclose(score(x), expected, rtol=1e-5, atol=1e-6)


def test_langevin_proposal_is_the_euler_maruyama_step():
    key, x = jax.random.key(3), jnp.arange(6.0).reshape(3, 2)
    score = -x
    y = S.langevin_proposal(key, x, score, 0.04)
    xi = jax.random.normal(key, x.shape)
    np.testing.assert_allclose(y, x - 0.04 * x + np.sqrt(0.08) * xi, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------
# ULA's stationary variance; MALA removes the bias
# ------------------------------------------------------------------------------------------

SIGMA2 = 1.5
N_CHAINS = 40_000


@pytest.mark.parametrize("step_size", [0.3, 0.9])
def test_ula_stationary_variance_on_a_gaussian_is_sigma2_over_1_minus_eta_over_2sigma2(step_size):
    x0 = jnp.full((N_CHAINS, 1), 3.0)  # far from the stationary law
    # The chain is AR(1) with coefficient 1 - eta / sigma2 (<= 0.8): 100 steps forget x0.
    result = S.ula(
        jax.random.key(0), gaussian_score(SIGMA2), x0, step_size=step_size, num_steps=100
    )
    x = np.asarray(result.final[:, 0], np.float64)
    expected = SIGMA2 / (1.0 - step_size / (2.0 * SIGMA2))
    tol = SIGMAS * variance_stderr(expected, N_CHAINS)
    assert abs(x.var(ddof=1) - expected) < tol
    assert abs(x.mean()) < SIGMAS * np.sqrt(expected / N_CHAINS)
    # The check can fail: the target variance itself is rejected (ULA is biased).
    assert abs(expected - SIGMA2) > 2 * tol
    np.testing.assert_array_equal(result.accept_rate, 1.0)


def test_ula_bounds_keep_every_state_in_the_box():
    x0 = jnp.full((200, 3), 0.5)
    result = S.ula(
        jax.random.key(1), gaussian_score(1.0), x0, step_size=0.5, num_steps=20, num_recorded=4,
        bounds=(0.0, 1.0),
    )
    assert float(result.trace.min()) >= 0.0 and float(result.trace.max()) <= 1.0
    # The box is hit (the unclipped chain would leave it), so the clip is doing something.
    assert np.mean((np.asarray(result.trace) == 0.0) | (np.asarray(result.trace) == 1.0)) > 0.05


def test_mala_stationary_variance_is_sigma2_where_ula_is_biased():
    step_size = 0.9  # ULA's variance here is 1.5 / 0.7 = 2.14
    x0 = jnp.full((N_CHAINS, 1), 3.0)
    result = S.mala(
        jax.random.key(2), gaussian_log_density(SIGMA2), x0, step_size=step_size, num_steps=200
    )
    x = np.asarray(result.final[:, 0], np.float64)
    tol = SIGMAS * variance_stderr(SIGMA2, N_CHAINS)
    assert abs(x.var(ddof=1) - SIGMA2) < tol
    assert abs(x.mean()) < SIGMAS * np.sqrt(SIGMA2 / N_CHAINS)
    ula_variance = SIGMA2 / (1.0 - step_size / (2.0 * SIGMA2))
    assert abs(ula_variance - SIGMA2) > 10 * tol  # the uncorrected chain would be rejected
    rate = np.asarray(result.accept_rate)
    assert rate.shape == (N_CHAINS,)
    assert 0.2 < rate.mean() < 0.99  # the correction does reject some moves, not all
    assert np.all((rate > 0.0) & (rate < 1.0))


def test_mala_samples_independent_gaussians_on_multi_axis_states():
    var = jnp.array([[0.5, 1.0, 2.0], [3.0, 0.7, 1.4]])
    n = 10_000
    x0 = jnp.zeros((n, 2, 3))
    result = S.mala(
        jax.random.key(4), gaussian_log_density(var), x0, step_size=0.4, num_steps=150
    )
    x = np.asarray(result.final, np.float64)
    se = SIGMAS * variance_stderr(np.asarray(var), n)
    np.testing.assert_array_less(np.abs(x.var(axis=0, ddof=1) - np.asarray(var)), se)


def test_mala_matches_quadrature_on_a_double_well():
    log_p = lambda x: -0.25 * x[:, 0] ** 4 + x[:, 0] ** 2  # noqa: E731  modes at +-sqrt(2)
    n = 20_000
    x0 = jnp.full((n, 1), 2.5)  # every chain starts in the right-hand well
    result = S.mala(jax.random.key(5), log_p, x0, step_size=0.1, num_steps=600)
    x = np.asarray(result.final[:, 0], np.float64)
    f = lambda t: np.exp(-0.25 * t**4 + t**2)  # noqa: E731
    z = integrate.quad(f, -np.inf, np.inf)[0]
    m2 = integrate.quad(lambda t: t**2 * f(t), -np.inf, np.inf)[0] / z
    m4 = integrate.quad(lambda t: t**4 * f(t), -np.inf, np.inf)[0] / z
    se_m2 = np.sqrt((m4 - m2**2) / n)
    assert abs(np.mean(x**2) - m2) < SIGMAS * se_m2
    # Both wells are visited in equal measure (the chains crossed the barrier).
    assert abs(np.mean(x > 0) - 0.5) < SIGMAS * np.sqrt(0.25 / n)


# ------------------------------------------------------------------------------------------
# Bad arguments
# ------------------------------------------------------------------------------------------

_X0 = jnp.zeros((3, 2))
_SCORE, _LOGP = gaussian_score(1.0), gaussian_log_density(1.0)
_KEY = jax.random.key(0)


@bad_calls(
    [
        ("ula_zero_step", lambda: S.ula(_KEY, _SCORE, _X0, step_size=0.0, num_steps=3), ValueError, "ula: argument 'step_size' must be a finite number > 0"),
        ("ula_negative_step", lambda: S.ula(_KEY, _SCORE, _X0, step_size=-0.1, num_steps=3), ValueError, "'step_size'"),
        ("mala_zero_step", lambda: S.mala(_KEY, _LOGP, _X0, step_size=0.0, num_steps=3), ValueError, "mala: argument 'step_size'"),
        ("mala_negative_step", lambda: S.mala(_KEY, _LOGP, _X0, step_size=-1.0, num_steps=3), ValueError, "'step_size'"),
        ("ula_transition_zero_step", lambda: S.ula_transition(_SCORE, 0.0), ValueError, "ula_transition: argument 'step_size'"),
        ("mala_transition_negative_step", lambda: S.mala_transition(_LOGP, -2.0), ValueError, "mala_transition: argument 'step_size'"),
        ("ula_0d_x0", lambda: S.ula(_KEY, _SCORE, jnp.float32(1.0), step_size=0.1, num_steps=3), ValueError, "ula: argument 'x0' must have shape (num_chains, ...)"),
        ("mala_0d_x0", lambda: S.mala(_KEY, _LOGP, jnp.float32(1.0), step_size=0.1, num_steps=3), ValueError, "mala: argument 'x0'"),
        ("ula_no_chains", lambda: S.ula(_KEY, _SCORE, jnp.zeros((0, 2)), step_size=0.1, num_steps=3), ValueError, "at least one chain"),
        ("run_chain_0d_x0", lambda: S.run_chain(_KEY, _uniform_walk, jnp.float32(0.0), num_steps=3), ValueError, "run_chain: argument 'x0'"),
        ("ula_int_x0", lambda: S.ula(_KEY, _SCORE, jnp.zeros((3, 2), jnp.int32), step_size=0.1, num_steps=3), TypeError, "ula: argument 'x0'"),
        ("ula_score_not_callable", lambda: S.ula(_KEY, "score", _X0, step_size=0.1, num_steps=3), TypeError, "ula: argument 'score_fn' must be a callable"),
        ("mala_log_density_not_callable", lambda: S.mala(_KEY, 3.0, _X0, step_size=0.1, num_steps=3), TypeError, "mala: argument 'log_density_fn' must be a callable"),
        ("ula_transition_not_callable", lambda: S.ula_transition(None, 0.1), TypeError, "'score_fn'"),
        ("run_chain_transition_not_callable", lambda: S.run_chain(_KEY, None, _X0, num_steps=3), TypeError, "run_chain: argument 'transition'"),
        ("score_of_not_callable", lambda: S.score_of(1.0), TypeError, "score_of: argument 'log_density_fn'"),
        ("num_recorded_does_not_divide", lambda: S.run_chain(_KEY, _uniform_walk, _X0, num_steps=10, num_recorded=3), ValueError, "'num_recorded' (3) must divide 'num_steps' (10)"),
        ("ula_num_recorded_does_not_divide", lambda: S.ula(_KEY, _SCORE, _X0, step_size=0.1, num_steps=10, num_recorded=4), ValueError, "must divide"),
        ("negative_num_recorded", lambda: S.run_chain(_KEY, _uniform_walk, _X0, num_steps=10, num_recorded=-1), ValueError, "'num_recorded' must be an int >= 0"),
        ("zero_steps", lambda: S.ula(_KEY, _SCORE, _X0, step_size=0.1, num_steps=0), ValueError, "ula: argument 'num_steps' must be a positive int"),
        ("int_key", lambda: S.mala(0, _LOGP, _X0, step_size=0.1, num_steps=3), TypeError, "mala: argument 'key'"),
        ("bounds_reversed", lambda: S.ula(_KEY, _SCORE, _X0, step_size=0.1, num_steps=3, bounds=(1.0, 0.0)), ValueError, "'bounds' must be (low, high) with low < high"),
        ("check_states_0d", lambda: S.check_states("where", jnp.float32(0.0)), ValueError, "where: argument 'x0'"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
