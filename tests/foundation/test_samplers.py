"""Properties of dgm_lib.samplers: the chain runner keeps its promises (key schedule, recorded
steps, acceptance), ULA has the stationary variance of its derivation and MALA removes that
bias, checked against closed forms and scipy quadrature, with tolerances from the standard
error of the statistic and each test showing that the wrong answer would be rejected."""

from __future__ import annotations

import logging

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


@pytest.mark.parametrize(
    "chains, num_steps, num_recorded, chunk", [(3, 12, 3, 4), (2_000, 60, 2, 3)]
)
def test_a_gaussian_transition_draws_in_chunks_the_numbers_of_the_key_schedule(
    chains, num_steps, num_recorded, chunk, monkeypatch
):
    # ULA is a GaussianTransition: run_chain draws the noise of many steps at once. With
    # 50,000 bytes a chunk, the first case draws each block of 4 steps at once; the second
    # (16,000 bytes a step) splits each block of 30 steps into chunks of 3. Both must give
    # the numbers of one draw per step from fold_in(key, s).
    monkeypatch.setattr(S, "NOISE_CHUNK_BYTES", 50_000)
    key, x0 = jax.random.key(4), jax.random.normal(jax.random.key(5), (chains, 2))
    transition = S.ula_transition(gaussian_score(1.5), 0.05)
    assert isinstance(transition, S.GaussianTransition)
    assert S._chunk(num_steps // num_recorded, x0.size * 4) == chunk
    result = S.run_chain(key, transition, x0, num_steps=num_steps, num_recorded=num_recorded)
    x, states = x0, []
    for s in range(num_steps):
        x, _ = transition(jax.random.fold_in(key, s), x)
        states.append(np.asarray(x))
    every = num_steps // num_recorded
    np.testing.assert_allclose(result.trace, np.stack(states[every - 1 :: every]), rtol=1e-5,
                               atol=1e-6)  # fmt: skip


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


# ------------------------------------------------------------------------------------------
# Annealed Langevin dynamics: mode weights that plain ULA cannot find
# ------------------------------------------------------------------------------------------

# p = 0.8 N(-4, 0.5^2) + 0.2 N(4, 0.5^2): modes separated by a barrier of ~32 nats.
MIX_WEIGHTS, MIX_MEANS, MIX_STD = np.array([0.8, 0.2]), np.array([-4.0, 4.0]), 0.5
LADDER = jnp.geomspace(20.0, 0.1, 20)
AL_STEP, AL_STEPS, AL_CHAINS = 2e-3, 100, 4_000


def noised_mixture_score(x, sigma):
    """Exact score of p convolved with N(0, sigma^2): the mixture with variances s^2 + sigma^2."""
    var = MIX_STD**2 + jnp.square(sigma)
    log_comp = jnp.log(jnp.asarray(MIX_WEIGHTS, jnp.float32)) - 0.5 * (x - MIX_MEANS) ** 2 / var
    r = jax.nn.softmax(log_comp, axis=-1)  # x (n, 1) against the two means: (n, 2)
    return jnp.sum(r * (MIX_MEANS - x) / var, axis=-1, keepdims=True)


@jax.jit
def _annealed(key, x0):
    return S.annealed_langevin(
        key, noised_mixture_score, x0, sigmas=LADDER, step_size=AL_STEP,
        steps_per_level=AL_STEPS, denoise=True,
    )


@jax.jit
def _plain_ula(key, x0):  # the same number of steps, at the last level's step, on the clean p
    return S.ula(key, lambda x: noised_mixture_score(x, 0.0), x0, step_size=AL_STEP,
                 num_steps=AL_STEPS * len(LADDER))


@pytest.fixture(scope="module")
def annealed_run():
    x0 = jax.random.uniform(jax.random.key(20), (AL_CHAINS, 1), minval=-8.0, maxval=8.0)
    return x0, _annealed(jax.random.key(21), x0)


def test_annealed_langevin_recovers_the_mode_weights_that_ula_misses(annealed_run):
    """From uniform noise on [-8, 8] (half the chains on each side), annealing from sigma = 20
    down to 0.1 gives the 0.8 / 0.2 weights within 4 binomial standard errors; ULA on the
    clean score from the same start stays near the start's 50/50."""
    x0, result = annealed_run
    left = float(np.mean(np.asarray(result.trace[-1][:, 0]) < 0))
    se = np.sqrt(0.8 * 0.2 / AL_CHAINS)
    assert abs(left - 0.8) < 4 * se, left
    ula_left = float(np.mean(np.asarray(_plain_ula(jax.random.key(21), x0).final[:, 0]) < 0))
    assert abs(ula_left - float(np.mean(np.asarray(x0) < 0))) < 4 * np.sqrt(0.25 / AL_CHAINS)
    assert abs(ula_left - 0.8) > 40 * se, ula_left
    # Both modes are where they should be.
    final = np.asarray(result.trace[-1][:, 0], np.float64)
    for side, mean in ((final < 0, -4.0), (final > 0, 4.0)):
        assert abs(final[side].mean() - mean) < SIGMAS * np.sqrt(0.3 / side.sum())


def test_annealed_langevin_records_one_state_per_level_and_denoises_by_tweedie(annealed_run):
    """trace holds the state after each of the L levels; with denoise=True, final is the last
    state plus sigma_L^2 s(x, sigma_L) (Tweedie's E[x_clean | x]), which shrinks each mode's
    spread by s^2 / (s^2 + sigma_L^2): from about s^2 + sigma_L^2 = 0.26 to
    s^4 / (s^2 + sigma_L^2) = 0.240."""
    _, result = annealed_run
    assert result.trace.shape == (len(LADDER), AL_CHAINS, 1)
    np.testing.assert_array_equal(result.accept_rate, 1.0)
    last = result.trace[-1]
    sigma_l = float(LADDER[-1])
    np.testing.assert_allclose(
        result.final, last + sigma_l**2 * noised_mixture_score(last, sigma_l), rtol=1e-6, atol=1e-6
    )
    # The levels do anneal: the spread of the chains falls with the noise level.
    spread = np.asarray(jnp.std(result.trace[:, :, 0], axis=1))
    assert spread[0] > 10 and spread[-1] < 4.5
    noisy, clean = np.asarray(last[:, 0], np.float64), np.asarray(result.final[:, 0], np.float64)
    v = MIX_STD**2
    ula_var = (v + sigma_l**2) / (1 - AL_STEP / (2 * (v + sigma_l**2)))  # ULA's inflation
    for side in (noisy < 0, noisy > 0):
        var_noisy, var_clean = noisy[side].var(ddof=1), clean[side].var(ddof=1)
        se = variance_stderr(ula_var, int(side.sum()))
        assert abs(var_noisy - ula_var) < SIGMAS * se
        np.testing.assert_allclose(var_clean / var_noisy, (v / (v + sigma_l**2)) ** 2, rtol=1e-3)
        assert var_clean < var_noisy


def test_annealed_langevin_compiles_once_and_traces_the_score_once(caplog):
    """Under jit, two calls with the same shapes compile once, and the score is traced once
    for all levels and steps (the loops are scans, not Python)."""
    traces = []

    def score(x, sigma):
        traces.append(1)
        return -x / (1.0 + sigma**2)

    def run(key, x0):
        return S.annealed_langevin(key, score, x0, sigmas=jnp.geomspace(3.0, 0.1, 5),
                                   step_size=1e-2, steps_per_level=7).final

    run = jax.jit(run)
    x0 = jnp.zeros((8, 2))
    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        a = run(jax.random.key(0), x0)
        b = run(jax.random.key(1), x0)
    compiled = [r for r in caplog.records if "Compiling jit(run)" in r.getMessage()]
    assert len(compiled) == 1  # JAX's own count
    assert len(traces) == 1
    assert not np.allclose(a, b)  # the key is an argument, not a constant


_LADDER = jnp.array([2.0, 1.0, 0.5])


@bad_calls(
    [
        ("increasing", lambda: S.check_noise_levels("here", jnp.array([0.5, 1.0, 2.0])), ValueError, "here: argument 'sigmas' must be strictly decreasing (largest noise first"),
        ("repeated_level", lambda: S.check_noise_levels("here", jnp.array([2.0, 1.0, 1.0])), ValueError, "strictly decreasing"),
        ("zero_level", lambda: S.check_noise_levels("here", jnp.array([2.0, 1.0, 0.0])), ValueError, "here: argument 'sigmas' must hold at least one finite, positive noise level"),
        ("negative_level", lambda: S.check_noise_levels("here", jnp.array([2.0, -1.0])), ValueError, "finite, positive"),
        ("nan_level", lambda: S.check_noise_levels("here", jnp.array([2.0, jnp.nan, 0.5])), ValueError, "finite, positive"),
        ("inf_level", lambda: S.check_noise_levels("here", jnp.array([jnp.inf, 1.0])), ValueError, "finite, positive"),
        ("empty_ladder", lambda: S.check_noise_levels("here", jnp.zeros((0,))), ValueError, "at least one"),
        ("2d_ladder", lambda: S.check_noise_levels("here", jnp.array([[2.0, 1.0]])), ValueError, "here: argument 'sigmas' must have shape (num_levels,)"),
        ("int_ladder", lambda: S.check_noise_levels("here", jnp.array([3, 2, 1])), TypeError, "here: argument 'sigmas' must be a floating-point array"),
        ("annealed_increasing", lambda: S.annealed_langevin(_KEY, lambda x, s: -x, _X0, sigmas=_LADDER[::-1], step_size=0.1, steps_per_level=3), ValueError, "annealed_langevin: argument 'sigmas' must be strictly decreasing"),
        ("annealed_zero_step", lambda: S.annealed_langevin(_KEY, lambda x, s: -x, _X0, sigmas=_LADDER, step_size=0.0, steps_per_level=3), ValueError, "annealed_langevin: argument 'step_size' must be a finite number > 0"),
        ("annealed_negative_step", lambda: S.annealed_langevin(_KEY, lambda x, s: -x, _X0, sigmas=_LADDER, step_size=-1e-3, steps_per_level=3), ValueError, "'step_size'"),
        ("annealed_zero_steps", lambda: S.annealed_langevin(_KEY, lambda x, s: -x, _X0, sigmas=_LADDER, step_size=0.1, steps_per_level=0), ValueError, "annealed_langevin: argument 'steps_per_level' must be a positive int"),
        ("annealed_score_not_callable", lambda: S.annealed_langevin(_KEY, None, _X0, sigmas=_LADDER, step_size=0.1, steps_per_level=3), TypeError, "annealed_langevin: argument 'score_fn' must be a callable"),
        ("annealed_0d_x0", lambda: S.annealed_langevin(_KEY, lambda x, s: -x, jnp.float32(0.0), sigmas=_LADDER, step_size=0.1, steps_per_level=3), ValueError, "annealed_langevin: argument 'x0'"),
        ("annealed_int_key", lambda: S.annealed_langevin(0, lambda x, s: -x, _X0, sigmas=_LADDER, step_size=0.1, steps_per_level=3), TypeError, "annealed_langevin: argument 'key'"),
    ]
)
def test_annealed_langevin_rejects_bad_arguments(call, error, message):
    assert_raises_naming(call, error, message)
