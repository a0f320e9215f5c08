"""Properties of dgm_lib.diffusion.process: q_sample draws x_t with mean sqrt(alpha_bar_t) x0
and variance 1 - alpha_bar_t (Monte Carlo, within standard errors), and that closed form is
the law of the step-by-step chain x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z simulated
here in NumPy (its moments, and the covariance of neighbouring states); the posterior
q(x_{t-1} | x_t, x0) is the conditional of the joint Gaussian of (x_{t-1}, x_t) given x0, by
the Schur complement in float64, at every kind of t (t = 1 has variance 0); the three
parameterisations (eps, x0, v) convert into one another exactly; bad arguments raise clear
errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.diffusion import (
    cosine_schedule,
    eps_from_prediction,
    linear_schedule,
    marginal,
    posterior,
    predict_x0,
    q_sample,
    v_target,
)

SIGMAS = 4.5
X0_ROW = np.array([1.5, -0.7, 0.0, 3.0])


def z_scores_of_moments(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """|z| of the sample mean and the sample variance of each column of x (n, d) against the
    true mean and variance of a Gaussian (Var of the sample variance: 2 var^2 / (n - 1))."""
    n = x.shape[0]
    z_mean = (x.mean(0) - mean) / np.sqrt(var / n)
    z_var = (x.var(0, ddof=1) - var) / (var * np.sqrt(2.0 / (n - 1)))
    return np.abs(np.concatenate([z_mean, z_var]))


@pytest.mark.parametrize("t", [1, 10, 200, 999, 1000])
def test_q_sample_has_the_closed_form_marginal(t):
    s = linear_schedule()
    n = 20_000
    x0 = jnp.asarray(np.tile(X0_ROW, (n, 1)), jnp.float32)
    x_t, eps = q_sample(jax.random.key(t), s, x0, t)
    ab = s.alpha_bars[t - 1]
    x_t64 = np.asarray(x_t, np.float64)
    assert x_t.shape == x0.shape and x_t.dtype == jnp.float32
    z = z_scores_of_moments(x_t64, np.sqrt(ab) * X0_ROW, np.full(4, 1.0 - ab))
    assert z.max() < SIGMAS, z
    # The returned noise is the noise in x_t, and is standard normal.
    np.testing.assert_allclose(x_t64, np.sqrt(ab) * X0_ROW + np.sqrt(1.0 - ab) * np.asarray(eps),
                               rtol=0, atol=2e-6 * 4)
    assert z_scores_of_moments(np.asarray(eps, np.float64), 0.0, 1.0).max() < SIGMAS
    # Power: the marginal one step later has moments the test tells apart (except at T,
    # where neighbouring steps differ by less than the Monte Carlo error of 20 000 draws).
    if t < 200:
        ab_next = s.alpha_bars[t]
        wrong = z_scores_of_moments(x_t64, np.sqrt(ab_next) * X0_ROW, np.full(4, 1.0 - ab_next))
        assert wrong.max() > 2 * SIGMAS


def test_q_sample_with_one_time_per_example():
    """Per-example times: (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t) is standard normal."""
    s = cosine_schedule(100)
    n = 20_000
    g = np.random.default_rng(0)
    t = g.integers(1, 101, size=n)
    x0 = g.normal(size=(n, 3)) * 2.0
    x_t, _ = q_sample(jax.random.key(1), s, jnp.asarray(x0, jnp.float32), jnp.asarray(t))
    ab = s.alpha_bars[t - 1][:, None]
    z = (np.asarray(x_t, np.float64) - np.sqrt(ab) * x0) / np.sqrt(1.0 - ab)
    assert z_scores_of_moments(z, 0.0, 1.0).max() < SIGMAS
    # Power: standardising with the times of other rows breaks it.
    ab_wrong = np.roll(ab, 1, axis=0)
    z_wrong = (np.asarray(x_t, np.float64) - np.sqrt(ab_wrong) * x0) / np.sqrt(1.0 - ab_wrong)
    assert z_scores_of_moments(z_wrong, 0.0, 1.0).max() > 2 * SIGMAS


def simulate_chain(betas: np.ndarray, x0: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The forward chain x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z, float64, from x0
    (d,) for n chains: states (T + 1, n, d), index t."""
    g = np.random.default_rng(seed)
    states = [np.broadcast_to(x0, (n, x0.size)).astype(np.float64)]
    for beta in betas:
        states.append(np.sqrt(1.0 - beta) * states[-1]
                      + np.sqrt(beta) * g.standard_normal(states[-1].shape))
    return np.stack(states)


@pytest.mark.parametrize(
    "make", [lambda: linear_schedule(50, 1e-3, 0.2), lambda: cosine_schedule(50)],
    ids=["linear", "cosine"])
def test_closed_form_marginal_is_the_law_of_the_step_by_step_chain(make):
    """The chain simulated from the betas has, at t = 1, 5, 20, 50, the moments of
    N(sqrt(ab_t) x0, (1 - ab_t) I), the same law as q_sample's draws (a two-sample z test),
    and Cov(x_{t-1}, x_t) = sqrt(alpha_t) (1 - ab_{t-1}), the joint the posterior uses."""
    s = make()
    n = 20_000
    chain = simulate_chain(s.betas, X0_ROW, n, seed=3)
    x0 = jnp.asarray(np.tile(X0_ROW, (n, 1)), jnp.float32)
    for t in (1, 5, 20, 50):
        ab = s.alpha_bars[t - 1]
        mean, var = np.sqrt(ab) * X0_ROW, np.full(4, 1.0 - ab)
        assert z_scores_of_moments(chain[t], mean, var).max() < SIGMAS, t
        direct = np.asarray(q_sample(jax.random.key(t), s, x0, t)[0], np.float64)
        se = np.sqrt(2.0 * var / n)
        assert np.abs((chain[t].mean(0) - direct.mean(0)) / se).max() < SIGMAS
        if t > 1:
            ab_prev = s.alpha_bars[t - 2]
            cov = np.mean((chain[t - 1] - chain[t - 1].mean(0)) * (chain[t] - chain[t].mean(0)), 0)
            expected = np.sqrt(1.0 - s.betas[t - 1]) * (1.0 - ab_prev)
            # Var of the product of two Gaussians with covariance c: v1 v2 + c^2.
            se_cov = np.sqrt(((1.0 - ab_prev) * (1.0 - ab) + expected**2) / n)
            assert np.abs((cov - expected) / se_cov).max() < SIGMAS, t


def schur_posterior(s, x0: np.ndarray, x_t: np.ndarray, t: int) -> tuple[np.ndarray, float]:
    """The conditional of x_{t-1} given (x_t, x0) from the joint Gaussian of (x_{t-1}, x_t)
    given x0: means sqrt(ab_{t-1}) x0, sqrt(ab_t) x0; Var x_{t-1} = 1 - ab_{t-1}, Var x_t =
    1 - ab_t, Cov = sqrt(alpha_t) (1 - ab_{t-1}); float64."""
    ab_t = s.alpha_bars[t - 1]
    ab_prev = 1.0 if t == 1 else s.alpha_bars[t - 2]
    alpha_t = ab_t / ab_prev
    v11, v22, v12 = 1.0 - ab_prev, 1.0 - ab_t, np.sqrt(alpha_t) * (1.0 - ab_prev)
    mean = np.sqrt(ab_prev) * x0 + v12 / v22 * (x_t - np.sqrt(ab_t) * x0)
    return mean, v11 - v12**2 / v22


@pytest.mark.parametrize("make", [linear_schedule, cosine_schedule], ids=["linear", "cosine"])
def test_posterior_is_the_conditional_of_the_joint_gaussian(make):
    s = make()
    g = np.random.default_rng(4)
    x0, x_t = g.normal(size=(8, 3)), 2.0 * g.normal(size=(8, 3))
    x0_32, x_t32 = jnp.asarray(x0, jnp.float32), jnp.asarray(x_t, jnp.float32)
    for t in (1, 2, 3, 10, 100, 500, 999, 1000):
        mean, var = posterior(s, x0_32, x_t32, t)
        want_mean, want_var = schur_posterior(s, x0, x_t, t)
        if t == 1:  # the step back to the data, given the data: a point
            assert float(var) == 0.0
            assert want_var == 0.0
        # float32 rounding only: 1 - ab is not formed in float32 (where, near t = 1, it would
        # lose ~1e-4 of its value: 1 - float32(0.9999) = 1.00017e-4).
        np.testing.assert_allclose(var, want_var, rtol=2e-5, atol=1e-12)
        np.testing.assert_allclose(mean, want_mean, rtol=2e-5, atol=1e-6)
    # Per-example times: each row gets its own time's coefficients.
    t = jnp.array([1, 2, 10, 100, 500, 999, 1000, 37])
    mean, var = posterior(s, x0_32, x_t32, t)
    assert mean.shape == (8, 3) and var.shape == (8,)
    for i, ti in enumerate(np.asarray(t)):
        want_mean, want_var = schur_posterior(s, x0[i], x_t[i], int(ti))
        np.testing.assert_allclose(mean[i], want_mean, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(var[i], want_var, rtol=2e-5, atol=1e-12)


def test_posterior_mean_is_the_data_at_t_1_and_forgets_it_at_large_t():
    s = linear_schedule()
    g = np.random.default_rng(5)
    x0, x_t = (jnp.asarray(g.normal(size=(6, 2)), jnp.float32) for _ in range(2))
    np.testing.assert_allclose(posterior(s, x0, x_t, 1)[0], x0, rtol=1e-6, atol=1e-7)
    # The reverse step at T barely depends on the data (sqrt(ab_{T-1}) beta_T / (1 - ab_T)).
    mean_a = posterior(s, x0, x_t, 1000)[0]
    mean_b = posterior(s, x0 + 1.0, x_t, 1000)[0]
    np.testing.assert_allclose(mean_b - mean_a, np.sqrt(s.alpha_bars[-2]) * s.betas[-1]
                               / (1.0 - s.alpha_bars[-1]), rtol=1e-3)


@pytest.mark.parametrize("make", [linear_schedule, cosine_schedule], ids=["linear", "cosine"])
def test_parameterisations_round_trip(make):
    """For x_t = sqrt(ab) x0 + sqrt(1 - ab) eps: the x0 and v outputs give back eps, eps gives
    back x0, and v is sqrt(ab) eps - sqrt(1 - ab) x0; per-example times over the whole range."""
    s = make()
    n = 512
    g = np.random.default_rng(6)
    x0, eps = g.normal(size=(n, 3)), g.normal(size=(n, 3))
    T = s.num_steps
    t = np.concatenate([[1, 2, T - 1, T], g.integers(1, T + 1, n - 4)])
    ab = s.alpha_bars[t - 1][:, None]
    a, b = np.sqrt(ab), np.sqrt(1.0 - ab)
    x_t = a * x0 + b * eps

    def f32(v):
        return jnp.asarray(v, jnp.float32)

    tt = jnp.asarray(t)
    scale, offset = marginal(s, tt)
    np.testing.assert_allclose(scale, a[:, 0], rtol=1e-6)
    np.testing.assert_allclose(offset, b[:, 0], rtol=1e-6)
    v = v_target(s, f32(x0), tt, f32(eps))
    np.testing.assert_allclose(v, a * eps - b * x0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(eps_from_prediction(s, "eps", f32(x_t), tt, f32(eps)), eps,
                               rtol=1e-6)
    # The x0 branch divides by sqrt(1 - ab) (0.01 at t = 1 of the linear schedule); the
    # float32 input x_t carries 6e-8 |x_t| of rounding, so allow 1e-4 absolute.
    np.testing.assert_allclose(eps_from_prediction(s, "x0", f32(x_t), tt, f32(x0)), eps,
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(eps_from_prediction(s, "v", f32(x_t), tt, v), eps,
                               rtol=1e-4, atol=1e-4)
    # predict_x0 divides by sqrt(ab) (6e-3 at T of the linear schedule, ~5e-5 for the cosine):
    # compare where that amplification is mild.
    mild = ab[:, 0] > 0.01
    x0_hat = np.asarray(predict_x0(s, f32(x_t), tt, f32(eps)))
    np.testing.assert_allclose(x0_hat[mild], x0[mild], rtol=1e-4, atol=1e-4)
    # A scalar time.
    one = eps_from_prediction(s, "x0", f32(x_t[:4]), 7, f32(x0[:4]))
    ab7 = s.alpha_bars[6]
    np.testing.assert_allclose(one, (x_t[:4] - np.sqrt(ab7) * x0[:4]) / np.sqrt(1 - ab7),
                               rtol=1e-4, atol=1e-4)


_S = linear_schedule(10)
_X = jnp.zeros((4, 2))


@bad_calls(
    [
        ("t_zero", lambda: q_sample(jax.random.key(0), _S, _X, 0), ValueError, "q_sample: times 't' must be integers in {1, ..., 10}"),
        ("t_above_T", lambda: q_sample(jax.random.key(0), _S, _X, 11), ValueError, ["q_sample: times 't' must be integers in {1, ..., 10}", "got values from 11 to 11"]),
        ("t_array_with_zero", lambda: q_sample(jax.random.key(0), _S, _X, jnp.array([1, 2, 0, 3])), ValueError, "got values from 0 to 3"),
        ("t_float", lambda: q_sample(jax.random.key(0), _S, _X, 1.5), TypeError, "q_sample: argument 't' must be an integer array"),
        ("t_float_array", lambda: q_sample(jax.random.key(0), _S, _X, jnp.ones(4)), TypeError, "q_sample: argument 't' must be an integer array"),
        ("int_key", lambda: q_sample(0, _S, _X, 1), TypeError, "q_sample: argument 'key'"),
        ("x0_1d", lambda: q_sample(jax.random.key(0), _S, jnp.zeros(4), 1), ValueError, "q_sample: argument 'x0' must have shape (n, ...)"),
        ("x0_int", lambda: q_sample(jax.random.key(0), _S, jnp.zeros((4, 2), jnp.int32), 1), TypeError, "q_sample: argument 'x0'"),
        ("bad_prediction", lambda: eps_from_prediction(_S, "score", _X, 1, _X), ValueError, "eps_from_prediction: argument 'prediction' must be 'eps', 'x0' or 'v'; got 'score'"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)


@pytest.mark.parametrize("t", [0, 11])
def test_posterior_refuses_times_outside_1_to_T(t):
    with pytest.raises(ValueError, match="times 't' must be integers"):
        posterior(_S, _X, _X, t)
