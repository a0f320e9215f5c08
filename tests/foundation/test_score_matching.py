"""Properties of dgm_lib.score_matching: Hyvarinen's objective is the Fisher divergence minus a
constant that does not depend on the model, E[0.5 ||grad log p||^2] (d / (2 sigma^2) for
Gaussian data), and its Jacobian trace and the energy score agree with derivatives worked out
by hand for a non-linear, non-separable energy."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.score_matching import (
    denoising_objective,
    energy_score,
    fisher_divergence,
    hyvarinen_objective,
    sliced_objective,
)

SIGMAS = 5.0
D, MU, SIGMA = 2, np.array([0.5, -1.0]), 0.8


def gaussian_score(theta, v):
    theta = jnp.asarray(theta, jnp.float32)
    return lambda x: -(x - theta) / v


def data(n: int, seed: int = 0) -> jax.Array:
    g = np.random.default_rng(seed)
    return jnp.asarray(MU + SIGMA * g.normal(size=(n, D)), jnp.float32)


DATA_SCORE = gaussian_score(MU, SIGMA**2)
MODELS = [  # (theta, v): the true model and models wrong in mean, scale or both
    (MU, SIGMA**2),
    ([0.0, 0.0], 1.0),
    ([2.0, -3.0], 0.3),
    ([-1.0, 1.0], 4.0),
]


def test_fisher_divergence_minus_hyvarinen_is_the_same_constant_for_every_model():
    n = 40_000
    x = data(n)
    constant = D / (2 * SIGMA**2)  # E[0.5 ||(x - mu) / sigma^2||^2]
    diffs, js = [], []
    for theta, v in MODELS:
        model = gaussian_score(theta, v)
        j = np.asarray(fisher_divergence(model, DATA_SCORE, x), np.float64)
        h = np.asarray(hyvarinen_objective(model, x), np.float64)
        diff = j - h
        se = diff.std(ddof=1) / np.sqrt(n)
        assert abs(diff.mean() - constant) < SIGMAS * se + 1e-5, (theta, v, diff.mean(), se)
        diffs.append(diff)
        js.append(j.mean())
    # The Fisher divergence itself varies a lot between the models (so the constant is not an
    # accident of models that agree), and is zero only at the truth.
    assert js[0] < 1e-10 and min(js[1:]) > 0.5
    # Paired: the differences between models are zero within their own (paired) noise.
    for other in diffs[1:]:
        paired = other - diffs[0]
        assert abs(paired.mean()) < SIGMAS * paired.std(ddof=1) / np.sqrt(n) + 1e-5


def test_fisher_divergence_of_gaussians_has_its_closed_form():
    # J = 0.5 E||(x - theta)/v - (x - mu)/s2||^2 with x ~ N(mu, s2 I):
    # the residual is (1/s2 - 1/v)(x - mu) + (mu - theta)/v.
    n = 40_000
    x = data(n, seed=1)
    s2 = SIGMA**2
    for theta, v in MODELS[1:]:
        j = np.asarray(fisher_divergence(gaussian_score(theta, v), DATA_SCORE, x), np.float64)
        exact = 0.5 * (D * s2 * (1 / s2 - 1 / v) ** 2 + np.sum((MU - np.asarray(theta)) ** 2) / v**2)
        assert abs(j.mean() - exact) < SIGMAS * j.std(ddof=1) / np.sqrt(n)


# A non-linear, non-separable energy E(x) = 0.25 ||x||^4 + x1^2 x2 with, by hand,
#   grad E = ||x||^2 x + (2 x1 x2, x1^2),   Laplacian E = (d + 2) ||x||^2 + 2 x2.
def quartic_energy(x):
    return 0.25 * jnp.sum(x**2, axis=-1) ** 2 + x[:, 0] ** 2 * x[:, 1]


def quartic_grad(x: np.ndarray) -> np.ndarray:
    r2 = np.sum(x**2, axis=-1, keepdims=True)
    return r2 * x + np.stack([2 * x[:, 0] * x[:, 1], x[:, 0] ** 2], axis=-1)


def quartic_laplacian(x: np.ndarray) -> np.ndarray:
    return (x.shape[1] + 2) * np.sum(x**2, axis=-1) + 2 * x[:, 1]


def test_energy_score_is_minus_the_gradient_of_the_energy():
    x = jax.random.normal(jax.random.key(0), (16, 2))
    xs = np.asarray(x, np.float64)
    np.testing.assert_allclose(energy_score(quartic_energy)(x), -quartic_grad(xs), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        energy_score(quartic_energy)(x), -jax.grad(lambda v: jnp.sum(quartic_energy(v)))(x), rtol=1e-6
    )


def test_hyvarinen_objective_matches_the_hand_derived_trace_for_a_nonlinear_score():
    x = jax.random.normal(jax.random.key(1), (16, 2)) * 1.5
    xs = np.asarray(x, np.float64)
    expected = 0.5 * np.sum(quartic_grad(xs) ** 2, axis=-1) - quartic_laplacian(xs)
    ours = jax.jit(lambda v: hyvarinen_objective(energy_score(quartic_energy), v))(x)
    assert ours.shape == (16,)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4)
    # The trace term alone (a sign error or a missing 1/2 would fail one of the two checks).
    trace = np.asarray(ours, np.float64) - 0.5 * np.sum(quartic_grad(xs) ** 2, axis=-1)
    np.testing.assert_allclose(trace, -quartic_laplacian(xs), rtol=1e-4, atol=1e-3)


_X = jnp.zeros((3, 2))
_S = gaussian_score([0.0, 0.0], 1.0)


@bad_calls(
    [
        ("energy_score_not_callable", lambda: energy_score(1.0), TypeError, "energy_score: argument 'energy_fn' must be a callable"),
        ("fisher_score_not_callable", lambda: fisher_divergence(None, _S, _X), TypeError, "fisher_divergence: argument 'score_fn'"),
        ("fisher_data_score_not_callable", lambda: fisher_divergence(_S, "s", _X), TypeError, "fisher_divergence: argument 'data_score_fn'"),
        ("fisher_1d_points", lambda: fisher_divergence(_S, _S, jnp.zeros(3)), ValueError, "fisher_divergence: argument 'x' must have shape (n, d)"),
        ("hyvarinen_not_callable", lambda: hyvarinen_objective(3, _X), TypeError, "hyvarinen_objective: argument 'score_fn'"),
        ("hyvarinen_3d_points", lambda: hyvarinen_objective(_S, jnp.zeros((2, 2, 2))), ValueError, "hyvarinen_objective: argument 'x' must have shape (n, d)"),
        ("hyvarinen_int_points", lambda: hyvarinen_objective(_S, jnp.zeros((2, 2), jnp.int32)), TypeError, "hyvarinen_objective: argument 'x'"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)


@pytest.mark.parametrize("theta", [[0.0, 0.0], [1.0, 2.0]])
def test_hyvarinen_objective_is_minimised_at_the_data_mean(theta):
    # For a unit-variance Gaussian model, E[h] = 0.5 E||x - theta||^2 - d: larger away from MU.
    n = 20_000
    x = data(n, seed=3)
    at_truth = np.asarray(hyvarinen_objective(gaussian_score(MU, 1.0), x), np.float64)
    away = np.asarray(hyvarinen_objective(gaussian_score(theta, 1.0), x), np.float64)
    excess = away.mean() - at_truth.mean()
    np.testing.assert_allclose(excess, 0.5 * np.sum((np.asarray(theta) - MU) ** 2), rtol=0.05)


# ------------------------------------------------------------------------------------------
# Sliced score matching: an unbiased estimate of Hyvarinen's objective
# ------------------------------------------------------------------------------------------

QUARTIC_SCORE = energy_score(quartic_energy)


@partial(jax.jit, static_argnames=("kind", "variance_reduced"))
def _sliced_one_direction_each(key, x, kind, variance_reduced):
    return sliced_objective(key, QUARTIC_SCORE, x, kind=kind, variance_reduced=variance_reduced)


@pytest.mark.parametrize("kind", ["gaussian", "rademacher"])
@pytest.mark.parametrize("variance_reduced", [False, True])
def test_sliced_objective_is_an_unbiased_estimate_of_hyvarinen(kind, variance_reduced):
    """The mean over many random directions of the sliced terms equals hyvarinen_objective
    at every point, for a non-linear, non-separable score (plain and SSM-VR)."""
    n, reps = 4, 20_000
    x = jax.random.normal(jax.random.key(7), (n, 2)) * 1.2
    exact = np.asarray(jax.jit(lambda v: hyvarinen_objective(QUARTIC_SCORE, v))(x), np.float64)
    tiled = jnp.tile(x, (reps, 1))  # one independent direction per copy of each point
    terms = _sliced_one_direction_each(jax.random.key(8), tiled, kind, variance_reduced)
    terms = np.asarray(terms, np.float64).reshape(reps, n)
    se = terms.std(0, ddof=1) / np.sqrt(reps)
    np.testing.assert_array_less(np.abs(terms.mean(0) - exact), SIGMAS * se)
    assert terms.std(0).min() > 0.1  # a random estimate, not the exact trace in disguise


GAUSSIAN_V = 0.5  # the model s(x) = -(x - MU) / v of the variance test


@partial(jax.jit, static_argnames=("kind", "variance_reduced"))
def _sliced_gaussian_model(key, x, kind, variance_reduced):
    return sliced_objective(key, gaussian_score(MU, GAUSSIAN_V), x, kind=kind,
                            variance_reduced=variance_reduced)


def sliced_variance(s: np.ndarray, v: float, kind: str, variance_reduced: bool) -> float:
    """Variance of one direction's term for s(x) = -(x - mu)/v (Jacobian -I/v) at a point
    with score s: a = v_dir^T J v_dir = -||v_dir||^2 / v, b = 0.5 (v_dir . s)^2.
    Gaussian directions: Var a = 2d/v^2, Var b = 0.5 ||s||^4, Cov(a, b) = -||s||^2 / v.
    Rademacher: a = -d/v is constant and Var b = 0.5 (||s||^4 - sum s_i^4)."""
    s2, d = float(np.sum(s**2)), len(s)
    if kind == "gaussian":
        return 2 * d / v**2 + (0.0 if variance_reduced else 0.5 * s2**2 - 2 * s2 / v)
    return 0.0 if variance_reduced else 0.5 * (s2**2 - float(np.sum(s**4)))


@pytest.mark.parametrize("kind", ["gaussian", "rademacher"])
def test_sliced_objective_variance_and_when_variance_reduction_lowers_it(kind):
    """On a Gaussian model the variance of the sliced term has a closed form (see
    sliced_variance); both forms match it. Variance reduction drops b's variance but also its
    covariance with a: with Gaussian directions it lowers the variance only where
    ||s||^2 > 4/v (far from the mode: a point with a large score) and raises it near the mode;
    with Rademacher directions a is constant and SSM-VR is exact."""
    reps = 40_000
    # near: ||s||^2 = 2/v, where the plain variance is smallest, (2d - 2)/v^2 = half SSM-VR's
    near, far = MU + np.array([0.6, -0.8]), MU + np.array([1.5, 1.0])
    x = jnp.asarray(np.tile(np.stack([near, far]), (reps, 1)), jnp.float32)
    s = -(np.stack([near, far]) - MU) / GAUSSIAN_V
    assert np.sum(s[0] ** 2) < 4 / GAUSSIAN_V < np.sum(s[1] ** 2)
    var = {}
    for reduced in (False, True):
        terms = _sliced_gaussian_model(jax.random.key(19), x, kind, reduced)
        terms = np.asarray(terms, np.float64).reshape(reps, 2)
        var[reduced] = terms.var(0, ddof=1)
        centred = terms - terms.mean(0)
        var_se = np.sqrt(np.maximum(np.mean(centred**4, 0) - terms.var(0) ** 2, 0) / reps)
        expected = np.array([sliced_variance(p, GAUSSIAN_V, kind, reduced) for p in s])
        np.testing.assert_array_less(np.abs(var[reduced] - expected), SIGMAS * var_se + 1e-6)
    assert var[True][1] < 0.5 * var[False][1]  # far from the mode: a large reduction
    if kind == "gaussian":
        assert var[True][0] > 1.5 * var[False][0]  # near the mode: SSM-VR is worse
    else:
        np.testing.assert_allclose(var[True], 0.0, atol=1e-8)


def test_sliced_objective_averages_its_projections():
    """num_projections = m divides the variance of the estimate by m (the m directions are
    independent): checked against the single-direction variance within its standard error."""
    n, reps, m = 2, 8_000, 4
    x = jnp.tile(jnp.array([[0.8, -0.4], [-1.1, 0.6]]), (reps, 1))
    one = np.asarray(sliced_objective(jax.random.key(9), QUARTIC_SCORE, x), np.float64)
    many = np.asarray(
        sliced_objective(jax.random.key(10), QUARTIC_SCORE, x, num_projections=m), np.float64
    )
    one, many = one.reshape(reps, n), many.reshape(reps, n)
    ratio = one.var(0, ddof=1) / many.var(0, ddof=1)
    # Each variance has a relative standard error of about sqrt(kurtosis-ish / reps) < 5 %.
    np.testing.assert_allclose(ratio, m, rtol=0.25)
    assert np.all(np.abs(ratio - 1) > 1.0)  # averaging does happen


# ------------------------------------------------------------------------------------------
# Denoising score matching: the Fisher divergence to the noised data, up to a constant
# ------------------------------------------------------------------------------------------

S2, NOISE = 1.0, 0.6  # data N(0, S2 I) in D dimensions, DSM at noise level NOISE


def gaussian_model(theta):
    """s_theta(x) = -(x - mu) / v with theta = (mu_1, ..., mu_D, v)."""
    return lambda x: -(x - theta[:D]) / theta[D]


def fisher_to_gaussian(theta, c):
    """Closed form of 0.5 E_q ||s_theta(x) + x / c||^2 for q = N(0, c I): the residual is
    x (1/c - 1/v) + mu / v."""
    mu, v = theta[:D], theta[D]
    return 0.5 * (D * c * (1 / c - 1 / v) ** 2 + jnp.sum(mu**2) / v**2)


@jax.jit
def _dsm_gradients(theta, x, key):
    """Per-example gradients in theta of the DSM terms, (n, D + 1)."""
    return jax.jacfwd(lambda th: denoising_objective(key, gaussian_model(th), x, NOISE))(theta)


@pytest.mark.parametrize("theta", [[0.3, -0.5, 0.7], [-1.0, 0.2, 2.0], [0.0, 0.0, 1.0]])
def test_denoising_objective_has_the_gradient_of_the_fisher_divergence_to_the_noised_data(theta):
    """grad_theta E[DSM] = grad_theta J(theta; q_sigma), q_sigma = N(0, (s^2 + sigma^2) I): the
    two objectives differ by a constant in theta. The gradient of the Fisher divergence to
    the clean data (what DSM does not estimate) is rejected."""
    n = 200_000
    theta = jnp.asarray(theta, jnp.float32)
    x = jnp.sqrt(S2) * jax.random.normal(jax.random.key(11), (n, D))
    grads = np.asarray(_dsm_gradients(theta, x, jax.random.key(12)), np.float64)
    mean, se = grads.mean(0), grads.std(0, ddof=1) / np.sqrt(n)
    noised = np.asarray(jax.grad(fisher_to_gaussian)(theta, S2 + NOISE**2), np.float64)
    clean = np.asarray(jax.grad(fisher_to_gaussian)(theta, S2), np.float64)
    np.testing.assert_array_less(np.abs(mean - noised), SIGMAS * se)
    assert np.max(np.abs(mean - clean) / se) > 4 * SIGMAS


def test_denoising_objective_is_minimised_at_the_noised_variance():
    """For s(x) = -x / v, the mean DSM objective is a quadratic in 1/v whose minimiser is
    v* = mean ||x~||^2 / mean(x~ . eps / sigma) -> s^2 + sigma^2 (the noised data's
    variance), not s^2; checked with a delta-method standard error."""
    n = 200_000
    x = jnp.sqrt(S2) * jax.random.normal(jax.random.key(13), (n, D))
    key = jax.random.key(14)
    vs = np.linspace(0.9, 1.7, 41)
    means = [float(jnp.mean(denoising_objective(key, lambda y, v=v: -y / v, x, NOISE))) for v in vs]
    v_grid = vs[int(np.argmin(means))]
    # The same draws, by hand, for the exact minimiser and its standard error.
    eps = np.asarray(jax.random.normal(key, x.shape), np.float64)
    noisy = np.asarray(x, np.float64) + NOISE * eps
    a, b = np.sum(noisy**2, 1), np.sum(noisy * eps, 1) / NOISE
    v_star = a.mean() / b.mean()
    grad = np.array([1 / b.mean(), -a.mean() / b.mean() ** 2])
    se = np.sqrt(grad @ np.cov(a, b) @ grad / n)
    assert abs(v_star - (S2 + NOISE**2)) < SIGMAS * se
    assert abs(v_star - S2) > 10 * SIGMAS * se
    assert abs(v_grid - v_star) <= 0.02  # the library's objective has the same minimiser


def test_denoising_objective_noises_each_example_at_its_own_sigma():
    """With sigma per example (n,), the oracle score that knows the clean point,
    -(x~ - x) / sigma_i^2, makes every term zero: the noise and the 1/sigma of the target use
    the same sigma_i. The noise of row i has standard deviation sigma_i (images too)."""
    n = 6
    sigma = jnp.array([0.1, 0.3, 0.5, 1.0, 2.0, 4.0])
    x = jax.random.normal(jax.random.key(15), (n, 400))
    seen = []

    def oracle(noisy):
        seen.append(noisy)
        return -(noisy - x) / sigma[:, None] ** 2

    terms = denoising_objective(jax.random.key(16), oracle, x, sigma)
    assert terms.shape == (n,)
    np.testing.assert_allclose(terms, 0.0, atol=1e-3)
    spread = np.asarray(jnp.std(seen[0] - x, axis=1))
    np.testing.assert_allclose(spread, sigma, rtol=SIGMAS / np.sqrt(2 * 400))
    # One shared sigma for all rows would leave large terms with this oracle.
    shared = denoising_objective(jax.random.key(16), oracle, x, 1.0)
    assert float(jnp.min(shared[jnp.array([0, 1, 4, 5])])) > 1.0
    # Images (n, h, w): the norm runs over every axis but the first.
    img = jax.random.normal(jax.random.key(17), (n, 5, 4))
    img_terms = denoising_objective(
        jax.random.key(18), lambda y: -(y - img) / sigma[:, None, None] ** 2, img, sigma
    )
    np.testing.assert_allclose(img_terms, 0.0, atol=1e-3)
    zero_terms = denoising_objective(jax.random.key(18), jnp.zeros_like, img, sigma)
    eps2 = np.asarray(jnp.sum(jax.random.normal(jax.random.key(18), img.shape) ** 2, (1, 2)))
    np.testing.assert_allclose(zero_terms, 0.5 * eps2 / np.asarray(sigma) ** 2, rtol=1e-5)


@bad_calls(
    [
        ("dsm_sigma_wrong_length", lambda: denoising_objective(jax.random.key(0), _S, _X, jnp.ones(4)), ValueError, "denoising_objective: argument 'sigma' must be a scalar or have shape (n,) = (3,); got shape (4,)"),
        ("dsm_sigma_2d", lambda: denoising_objective(jax.random.key(0), _S, _X, jnp.ones((3, 1))), ValueError, "got shape (3, 1)"),
        ("dsm_1d_points", lambda: denoising_objective(jax.random.key(0), _S, jnp.zeros(3), 0.5), ValueError, "denoising_objective: argument 'x' must have shape (n, ...) with the batch axis first"),
        ("dsm_not_callable", lambda: denoising_objective(jax.random.key(0), 1.0, _X, 0.5), TypeError, "denoising_objective: argument 'score_fn'"),
        ("dsm_int_key", lambda: denoising_objective(0, _S, _X, 0.5), TypeError, "denoising_objective: argument 'key'"),
        ("sliced_zero_projections", lambda: sliced_objective(jax.random.key(0), _S, _X, num_projections=0), ValueError, "sliced_objective: argument 'num_projections' must be a positive int"),
        ("sliced_unknown_kind", lambda: sliced_objective(jax.random.key(0), _S, _X, kind="sphere"), ValueError, "argument 'kind' must be 'rademacher' or 'gaussian'"),
        ("sliced_1d_points", lambda: sliced_objective(jax.random.key(0), _S, jnp.zeros(3)), ValueError, "sliced_objective: argument 'x' must have shape (n, d)"),
        ("sliced_not_callable", lambda: sliced_objective(jax.random.key(0), None, _X), TypeError, "sliced_objective: argument 'score_fn'"),
    ]
)
def test_new_objectives_reject_bad_arguments(call, error, message):
    assert_raises_naming(call, error, message)
