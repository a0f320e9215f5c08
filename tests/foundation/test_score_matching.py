"""Properties of dgm_lib.score_matching: Hyvarinen's objective is the Fisher divergence minus a
constant that does not depend on the model, E[0.5 ||grad log p||^2] (d / (2 sigma^2) for
Gaussian data), and its Jacobian trace and the energy score agree with derivatives worked out
by hand for a non-linear, non-separable energy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.score_matching import energy_score, fisher_divergence, hyvarinen_objective

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
