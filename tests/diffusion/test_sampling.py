"""Properties of dgm_lib.diffusion.sampling with Gaussian data, whose optimal noise prediction
is linear (so the law of each sampler's output is Gaussian, computed here in NumPy by
propagating mean and variance through the affine reverse steps): on a 6-step schedule,
ancestral sampling, DDIM (on a subsequence of times, eta = 0, 0.5, 1) and DDIM's encoder are
their documented updates with the documented draws, sample by sample; DDIM with eta = 1 on every
time is ancestral sampling with sigma_t^2 = tilde beta_t (same key, same x_T, same samples, with
and without clipping); ancestral samples with the exact noise of N(0.5, 0.3^2) have the mean
and standard deviation of that law and, with sigma_t^2 = beta_t, of the data (a scaled noise
or the noise of another schedule fails the same check); DDIM with eta = 0 ignores its key, and
ddim_encode then ddim_sample on the same times round-trips with an error that shrinks with the
number of steps; timesteps is strictly decreasing from T to 1; the samplers compile once per
noise function, schedule value and shape (new states, labels, keys and eta do not retrace);
bad arguments raise clear errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.diffusion import (
    GaussianData,
    Schedule,
    ancestral_sample,
    cosine_schedule,
    ddim_encode,
    ddim_sample,
    linear_schedule,
    timesteps,
)

SIGMAS = 4.5
DDPM = linear_schedule(1000)
DATA = GaussianData(0.5, 0.3)
_OPTIMAL = DATA.eps_fn(DDPM)


def scaled_optimal(x, t, c):
    """c times the exact noise of DATA on DDPM (c through args: one compilation for all c)."""
    return c * _OPTIMAL(x, t)


def ancestral_law(s, mu: float, std: float, variance: str, scale: float = 1.0,
                  eps_schedule=None) -> tuple[float, float]:
    """Mean and standard deviation of ancestral sampling from N(0, 1) with eps_hat = c
    E[eps | x_t] of data N(mu, std^2) under ``eps_schedule`` (default: ``s``): every reverse
    step x_{t-1} = A_t x_t + B_t + sigma_t z is affine, float64."""
    ab, ab_e = s.alpha_bars, (s if eps_schedule is None else eps_schedule).alpha_bars
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    beta = 1.0 - ab / ab_prev
    m, v = 0.0, 1.0
    for t in range(s.num_steps, 0, -1):
        a, b = math.sqrt(ab[t - 1]), math.sqrt(1.0 - ab[t - 1])
        ae, be = math.sqrt(ab_e[t - 1]), math.sqrt(1.0 - ab_e[t - 1])
        k = scale * be / (ae * ae * std * std + be * be)  # eps_hat = k x - k ae mu
        # x0_hat = (x - b eps_hat) / a;  mean = c0 x0_hat + c1 x
        c0 = math.sqrt(ab_prev[t - 1]) * beta[t - 1] / (1.0 - ab[t - 1])
        c1 = math.sqrt(1.0 - beta[t - 1]) * (1.0 - ab_prev[t - 1]) / (1.0 - ab[t - 1])
        A = c0 * (1.0 - b * k) / a + c1
        B = c0 * b * k * ae * mu / a
        var = 0.0 if t == 1 else (
            (1.0 - ab_prev[t - 1]) / (1.0 - ab[t - 1]) * beta[t - 1] if variance == "posterior"
            else beta[t - 1])
        m, v = A * m + B, A * A * v + var
    return m, math.sqrt(v)


def moment_z(x, mean: float, std: float) -> float:
    """The largest |z| of the per-column sample mean and standard deviation of x (n, d)."""
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    z_mean = (x.mean(0) - mean) / (std / math.sqrt(n))
    z_std = (x.std(0, ddof=1) - std) / (std / math.sqrt(2.0 * (n - 1)))
    return float(np.abs(np.concatenate([z_mean, z_std])).max())


N_DRAWS = 20_000
X_T = jax.random.normal(jax.random.key(3), (N_DRAWS, 2))
KEY = jax.random.key(4)
ONE = (jnp.float32(1.0),)


SHORT = Schedule.from_betas(np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.6]))
SHORT_DATA = GaussianData(0.5, 0.8)


def hand_step(s, x: np.ndarray, t: int, target: int, eta: float, z: np.ndarray) -> np.ndarray:
    """One move from time t to an earlier time ``target`` with the exact noise of SHORT_DATA,
    float64: x0_hat = (x - b_t eps) / a_t, then DDIM's x_s = a_s x0_hat + sqrt(1 - ab_s -
    sigma^2) eps + sigma z with sigma = eta sqrt((1 - ab_s)/(1 - ab_t)) sqrt(1 - ab_t/ab_s)."""
    ab = np.concatenate([[1.0], s.alpha_bars])
    a, b = math.sqrt(ab[t]), math.sqrt(1.0 - ab[t])
    eps = b * (x - a * SHORT_DATA.mean) / (a * a * SHORT_DATA.std**2 + b * b)
    x0_hat = (x - b * eps) / a
    sigma = eta * math.sqrt((1.0 - ab[target]) / (1.0 - ab[t]) * (1.0 - ab[t] / ab[target]))
    return (math.sqrt(ab[target]) * x0_hat
            + math.sqrt(max(1.0 - ab[target] - sigma**2, 0.0)) * eps + sigma * z)


def documented_draw(key, t: int, shape) -> np.ndarray:
    """The draw leaving time t: jax.random.normal(jax.random.fold_in(key, t), shape)."""
    return np.asarray(jax.random.normal(jax.random.fold_in(key, t), shape), np.float64)


@pytest.mark.parametrize("variance", ["posterior", "beta"])
def test_ancestral_sample_is_the_documented_reverse_chain_step_by_step(variance):
    """On a 6-step schedule with large, uneven betas: x_{t-1} = mu_t(x_t, x0_hat) + sigma_t z_t
    with mu_t = (x_t - beta_t / sqrt(1 - ab_t) eps_hat) / sqrt(alpha_t), sigma_t^2 = tilde beta_t
    or beta_t, z_t the documented draw, and the mean at t = 1; float64 by hand."""
    s = SHORT
    key = jax.random.key(20)
    x_T = np.random.default_rng(21).normal(size=(64, 3))
    got = ancestral_sample(key, SHORT_DATA.eps_fn(s), s, jnp.asarray(x_T, jnp.float32),
                           variance=variance)
    ab = np.concatenate([[1.0], s.alpha_bars])
    x = x_T
    for t in range(s.num_steps, 0, -1):
        beta = 1.0 - ab[t] / ab[t - 1]
        a, b = math.sqrt(ab[t]), math.sqrt(1.0 - ab[t])
        eps = b * (x - a * SHORT_DATA.mean) / (a * a * SHORT_DATA.std**2 + b * b)
        mean = (x - beta / b * eps) / math.sqrt(1.0 - beta)
        var = beta if variance == "beta" else (1.0 - ab[t - 1]) / (1.0 - ab[t]) * beta
        x = mean + (math.sqrt(var) * documented_draw(key, t, x.shape) if t > 1 else 0.0)
    np.testing.assert_allclose(got, x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_sample_is_the_documented_update_on_a_subsequence(eta):
    """num_steps = 3 of T = 6 visits 6, 4, 1 (timesteps) and then 0, each move DDIM's formula
    with the documented draw z = normal(fold_in(key, t)); float64 by hand."""
    s = SHORT
    key = jax.random.key(22)
    x_T = np.random.default_rng(23).normal(size=(64, 3))
    got = ddim_sample(key, SHORT_DATA.eps_fn(s), s, jnp.asarray(x_T, jnp.float32), num_steps=3,
                      eta=eta)
    times = list(timesteps(s, 3))
    assert times == [6, 4, 1]
    x = x_T
    for t, target in zip(times, [*times[1:], 0], strict=True):
        x = hand_step(s, x, t, target, eta, documented_draw(key, t, x.shape))
    np.testing.assert_allclose(got, x, rtol=1e-5, atol=1e-5)
    # The encoder is the same move forwards, with the noise predicted at the later time.
    x0 = np.random.default_rng(24).normal(size=(64, 3)) * 0.8 + 0.5
    enc = ddim_encode(SHORT_DATA.eps_fn(s), s, jnp.asarray(x0, jnp.float32), num_steps=3)
    ab = np.concatenate([[1.0], s.alpha_bars])
    x = x0
    for src, t in zip([0, 1, 4], [1, 4, 6], strict=True):
        a, b = math.sqrt(ab[t]), math.sqrt(1.0 - ab[t])
        eps = b * (x - a * SHORT_DATA.mean) / (a * a * SHORT_DATA.std**2 + b * b)
        x0_hat = (x - math.sqrt(1.0 - ab[src]) * eps) / math.sqrt(ab[src])
        x = a * x0_hat + b * eps
    np.testing.assert_allclose(enc, x, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def ancestral_draws():
    """Ancestral samples on DDPM's schedule, n = 20 000 in d = 2, from one x_T and key."""
    draws = {}
    for variance in ("posterior", "beta"):
        for c in (1.0, 0.9):
            draws[variance, c] = np.asarray(ancestral_sample(
                KEY, scaled_optimal, DDPM, X_T, variance=variance, args=(jnp.float32(c),)))
    draws["wrong_schedule"] = np.asarray(ancestral_sample(
        KEY, DATA.eps_fn(cosine_schedule(1000)), DDPM, X_T, variance="beta"))
    return draws


@pytest.mark.parametrize("clip", [None, 1.0])
def test_ddim_with_eta_1_on_every_time_is_ancestral_sampling(ancestral_draws, clip):
    """Same key (the step from t draws fold_in(key, t) in both), same x_T: the same samples.
    About 5% of the data N(0.5, 0.3^2) lies above 1, so the clip at 1 is active."""
    if clip is None:
        anc = ancestral_draws["posterior", 1.0]
    else:
        anc = np.asarray(ancestral_sample(KEY, scaled_optimal, DDPM, X_T, clip=clip, args=ONE))
    ddim = np.asarray(ddim_sample(KEY, scaled_optimal, DDPM, X_T, num_steps=DDPM.num_steps,
                                  eta=1.0, clip=clip, args=ONE))
    assert float(np.abs(anc - ddim).max()) < 1e-3
    # Power: another key gives other samples.
    other_key = np.asarray(ddim_sample(jax.random.key(2), scaled_optimal, DDPM, X_T,
                                       num_steps=DDPM.num_steps, eta=1.0, clip=clip, args=ONE))
    assert float(np.abs(other_key - ddim).max()) > 0.05
    if clip is not None:
        assert float(np.abs(ancestral_draws["posterior", 1.0] - anc).max()) > 0.05
        assert float(np.abs(anc).max()) <= 1.0 + 1e-5  # the last step returns the clipped x0_hat


@pytest.mark.parametrize("variance", ["posterior", "beta"])
@pytest.mark.parametrize("c", [1.0, 0.9])
def test_ancestral_samples_have_the_law_of_the_reverse_chain(ancestral_draws, variance, c):
    mean, std = ancestral_law(DDPM, DATA.mean, DATA.std, variance, c)
    assert moment_z(ancestral_draws[variance, c], mean, std) < SIGMAS


def test_ancestral_samples_with_the_exact_noise_have_the_datas_moments(ancestral_draws):
    """sigma_t^2 = beta_t: the data's mean and std within 4.5 SE (the chain's own bias, from
    the law, is 0.3 SE); a noise 0.9 times too small, or the exact noise of the cosine schedule
    used on the linear one, fails the same check by far."""
    assert moment_z(ancestral_draws["beta", 1.0], DATA.mean, DATA.std) < SIGMAS
    law_mean, law_std = ancestral_law(DDPM, DATA.mean, DATA.std, "beta")
    assert abs(law_mean - DATA.mean) < 1e-4 and abs(law_std - DATA.std) < 2e-3
    assert moment_z(ancestral_draws["beta", 0.9], DATA.mean, DATA.std) > 3 * SIGMAS
    assert moment_z(ancestral_draws["wrong_schedule"], DATA.mean, DATA.std) > 3 * SIGMAS
    # ... though those samples still follow the law of their (wrong) chain.
    wrong_law = ancestral_law(DDPM, DATA.mean, DATA.std, "beta", eps_schedule=cosine_schedule(1000))
    assert moment_z(ancestral_draws["wrong_schedule"], *wrong_law) < SIGMAS
    # With sigma_t^2 = tilde beta_t the samples are a little too concentrated (the law).
    _, post_std = ancestral_law(DDPM, DATA.mean, DATA.std, "posterior")
    assert DATA.std - 0.006 < post_std < DATA.std - 0.002


N_TRIP = 1000  # the shape of the round-trip test: the compilations are shared


def test_ddim_with_eta_0_is_deterministic():
    x_T = jax.random.normal(jax.random.key(5), (N_TRIP, 2))
    a = ddim_sample(jax.random.key(0), _OPTIMAL, DDPM, x_T, num_steps=250)
    b = ddim_sample(jax.random.key(1), _OPTIMAL, DDPM, x_T, num_steps=250)
    np.testing.assert_array_equal(a, b)
    # With eta > 0 the key matters.
    c = ddim_sample(jax.random.key(0), _OPTIMAL, DDPM, x_T, num_steps=250, eta=0.5)
    d = ddim_sample(jax.random.key(1), _OPTIMAL, DDPM, x_T, num_steps=250, eta=0.5)
    assert float(jnp.abs(c - d).max()) > 0.01
    # The deterministic sampler samples the data N(0.5, 0.3^2) (5 SE on 2000 numbers).
    a = np.asarray(a, np.float64)
    assert abs(a.mean() - 0.5) < 5 * 0.3 / np.sqrt(a.size)
    assert abs(a.std() - 0.3) < 5 * 0.3 / np.sqrt(2 * a.size)


def test_ddim_encode_then_decode_round_trips_better_with_more_steps():
    x0 = DATA.sample(jax.random.key(6), (N_TRIP, 2))
    rms = {}
    for k in (10, 250):
        x_T = ddim_encode(_OPTIMAL, DDPM, x0, num_steps=k)
        back = ddim_sample(jax.random.key(0), _OPTIMAL, DDPM, x_T, num_steps=k)
        rms[k] = float(jnp.sqrt(jnp.mean(jnp.square(back - x0))))
        # The encoding is noise-like (unit scale, far from the data), not the identity.
        assert 0.7 < float(jnp.std(x_T)) < 1.3
        assert float(jnp.sqrt(jnp.mean(jnp.square(x_T - x0)))) > 0.5
    assert rms[250] < 0.02, rms
    assert rms[250] < rms[10] / 5, rms


@pytest.mark.parametrize(("T", "k"), [(1000, 1000), (1000, 50), (1000, 7), (1000, 2), (10, 3),
                                      (50, 49), (2, 2), (7, 6)])
def test_timesteps_are_strictly_decreasing_from_T_to_1(T, k):
    times = timesteps(linear_schedule(T), k)
    assert times.dtype == np.int32 and times.shape == (k,)
    assert times[0] == T and times[-1] == 1
    gaps = -np.diff(times)
    assert np.all(gaps >= 1)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced, up to rounding
    if k == T:
        np.testing.assert_array_equal(times, np.arange(T, 0, -1))


def test_timesteps_with_one_step_is_T():
    np.testing.assert_array_equal(timesteps(linear_schedule(20), 1), [20])


def _counting_eps(counter: list):
    """A conditional noise function (labels shift the noise) that counts its traces."""

    def eps(x, t, labels):
        counter.append(1)
        return _OPTIMAL(x, t) + 0.1 * labels[:, None].astype(x.dtype)

    return eps


@pytest.mark.parametrize("sampler", ["ddim", "ancestral", "encode"])
def test_samplers_compile_once_for_new_states_labels_keys_and_equal_schedules(sampler):
    traces: list = []
    eps = _counting_eps(traces)
    g = np.random.default_rng(7)

    def run(n, seed, schedule, eta=0.0):
        x = jnp.asarray(g.normal(size=(n, 2)), jnp.float32)
        labels = jnp.asarray(g.integers(0, 3, size=n), jnp.int32)
        if sampler == "ddim":
            return ddim_sample(jax.random.key(seed), eps, schedule, x, num_steps=20, eta=eta,
                               args=(labels,))
        if sampler == "ancestral":
            return ancestral_sample(jax.random.key(seed), eps, schedule, x, args=(labels,))
        return ddim_encode(eps, schedule, x, num_steps=20, args=(labels,))

    schedule, equal = linear_schedule(50), linear_schedule(50)  # both alive: distinct objects
    assert schedule is not equal
    first = run(64, 0, schedule)
    once = len(traces)
    assert once >= 1
    # New states, labels, key, eta and an equal (not identical) schedule: no new trace.
    second = run(64, 1, equal, eta=0.3)
    assert len(traces) == once
    assert float(jnp.abs(first - second).max()) > 1e-3  # the new inputs were used
    # A new shape, or another schedule value, does trace again (the counter sees it).
    if sampler == "ddim":
        run(32, 2, schedule)
        assert len(traces) > once
        before = len(traces)
        run(64, 3, linear_schedule(60))
        assert len(traces) > before


_S = linear_schedule(10)
_X = jnp.zeros((4, 2))
_EPS = GaussianData().eps_fn(_S)


@bad_calls(
    [
        ("ddim_eta_negative", lambda: ddim_sample(jax.random.key(0), _EPS, _S, _X, num_steps=5, eta=-0.1), ValueError, "ddim_sample: argument 'eta' must be >= 0"),
        ("ddim_eta_nan", lambda: ddim_sample(jax.random.key(0), _EPS, _S, _X, num_steps=5, eta=float("nan")), ValueError, "ddim_sample: argument 'eta' must be >= 0"),
        ("ddim_eps_not_callable", lambda: ddim_sample(jax.random.key(0), 3.0, _S, _X, num_steps=5), TypeError, "ddim_sample: argument 'eps_fn' must be a callable (x_t, t, *args)"),
        ("ancestral_eps_not_callable", lambda: ancestral_sample(jax.random.key(0), "eps", _S, _X), TypeError, "ancestral_sample: argument 'eps_fn' must be a callable"),
        ("encode_eps_not_callable", lambda: ddim_encode(None, _S, _X, num_steps=5), TypeError, "ddim_encode: argument 'eps_fn' must be a callable"),
        ("ddim_x_T_1d", lambda: ddim_sample(jax.random.key(0), _EPS, _S, jnp.zeros(4), num_steps=5), ValueError, "ddim_sample: argument 'x_T' must have shape (n, ...)"),
        ("ancestral_x_T_1d", lambda: ancestral_sample(jax.random.key(0), _EPS, _S, jnp.zeros(4)), ValueError, "ancestral_sample: argument 'x_T' must have shape (n, ...)"),
        ("encode_x0_1d", lambda: ddim_encode(_EPS, _S, jnp.zeros(4), num_steps=5), ValueError, "ddim_encode: argument 'x0' must have shape (n, ...)"),
        ("ancestral_x_T_int", lambda: ancestral_sample(jax.random.key(0), _EPS, _S, jnp.zeros((4, 2), jnp.int32)), TypeError, "ancestral_sample: argument 'x_T'"),
        ("ancestral_variance_foo", lambda: ancestral_sample(jax.random.key(0), _EPS, _S, _X, variance="foo"), ValueError, "ancestral_sample: argument 'variance' must be 'posterior' or 'beta'; got 'foo'"),
        ("ancestral_clip_zero", lambda: ancestral_sample(jax.random.key(0), _EPS, _S, _X, clip=0.0), ValueError, "ancestral_sample: argument 'clip' must be a finite number > 0"),
        ("ddim_clip_negative", lambda: ddim_sample(jax.random.key(0), _EPS, _S, _X, num_steps=5, clip=-1.0), ValueError, "ddim_sample: argument 'clip' must be a finite number > 0"),
        ("ddim_clip_string", lambda: ddim_sample(jax.random.key(0), _EPS, _S, _X, num_steps=5, clip="1"), TypeError, "ddim_sample: argument 'clip' must be a positive number"),
        ("ddim_num_steps_zero", lambda: ddim_sample(jax.random.key(0), _EPS, _S, _X, num_steps=0), ValueError, "argument 'num_steps' must be a positive int; got 0"),
        ("ddim_num_steps_above_T", lambda: ddim_sample(jax.random.key(0), _EPS, _S, _X, num_steps=11), ValueError, "argument 'num_steps' must be at most T = 10; got 11"),
        ("encode_num_steps_zero", lambda: ddim_encode(_EPS, _S, _X, num_steps=0), ValueError, "argument 'num_steps' must be a positive int"),
        ("ddim_int_key", lambda: ddim_sample(0, _EPS, _S, _X, num_steps=5), TypeError, "ddim_sample: argument 'key'"),
        ("ancestral_key_batch", lambda: ancestral_sample(jax.random.split(jax.random.key(0), 2), _EPS, _S, _X), TypeError, "ancestral_sample: argument 'key' must be a single random key"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
