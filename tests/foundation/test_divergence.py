"""Properties of dgm_lib.divergence: the exact divergence is the trace of jax.jacfwd's
Jacobian for a non-linear field that couples the coordinates; Hutchinson's estimator is
unbiased with either law of probes, and its variance is the stated 2(||A||_F^2 - sum A_ii^2)
(Rademacher) or 2 ||A||_F^2 (Gaussian) with A the symmetric part of the Jacobian, divided by
the number of probes; tolerances are standard errors of the statistic."""

from __future__ import annotations

from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.divergence import exact_divergence, hutchinson_divergence, probes

SIGMAS = 5.0  # tolerance of every statistical test, in standard errors


def host_normal(seed, shape, scale=1.0):
    """float32 draws from NumPy (no device program compiled per shape)."""
    return jnp.asarray(scale * np.random.default_rng(seed).normal(size=shape), jnp.float32)


@cache
def coupled_field(d: int, seed: int = 0):
    """f(x) = tanh(x W^T + b) + x * sin(x . u): every output depends on every input."""
    g = np.random.default_rng(seed)
    w = jnp.asarray(g.normal(size=(d, d)), jnp.float32)
    b = jnp.asarray(g.normal(size=d), jnp.float32)
    u = jnp.asarray(g.normal(size=d), jnp.float32)
    return lambda x: jnp.tanh(x @ w.T + b) + x * jnp.sin(x @ u)[:, None]


@partial(jax.jit, static_argnums=0)
def jacobians(fn, x) -> jax.Array:
    """Per-example Jacobians by jax.jacfwd of the field on one example, ``(n, d, d)``."""
    return jax.vmap(jax.jacfwd(lambda v: fn(v[None])[0]))(x)


# One compiled program per field and shape (the fields are module-level or cached above).
exact = jax.jit(exact_divergence, static_argnums=0)
hutchinson = jax.jit(hutchinson_divergence, static_argnums=0)


@pytest.mark.parametrize("d", [1, 3, 7])
def test_exact_divergence_is_the_trace_of_the_jacobian(d):
    """exact_divergence(f, x)_i = tr(df/dx at x_i), the oracle being jax.jacfwd."""
    fn = coupled_field(d)
    x = host_normal(d, (9, d), 1.5)
    jac = np.asarray(jacobians(fn, x), np.float64)
    ours = exact(fn, x)
    assert ours.shape == (9,)
    np.testing.assert_allclose(ours, np.trace(jac, axis1=1, axis2=2), rtol=1e-5, atol=1e-5)
    if d > 1:  # the off-diagonal entries are large: summing the whole Jacobian would fail
        assert np.abs(jac.sum((1, 2)) - np.trace(jac, axis1=1, axis2=2)).min() > 1e-2


A = np.array([[1.0, 2.0, -0.5, 0.0], [-1.0, 0.5, 1.5, 2.0], [0.3, -2.0, -1.0, 0.7], [1.0, 0.0, 0.4, 2.0]])
A_SYM = 0.5 * (A + A.T)
STATED_VARIANCE = {  # the module docstring's formulas, with A the symmetric part
    "rademacher": 2 * (np.sum(A_SYM**2) - np.sum(np.diag(A_SYM) ** 2)),
    "gaussian": 2 * np.sum(A_SYM**2),
}


def linear_field(x):
    return x @ jnp.asarray(A, jnp.float32).T  # Jacobian A, divergence tr A


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
@pytest.mark.parametrize("num_probes", [1, 8])
def test_hutchinson_is_unbiased_with_the_stated_variance(kind, num_probes):
    """On x -> x A^T (A not symmetric), the estimates over many independent probe sets have
    mean tr A and variance (stated formula with the symmetric part of A) / num_probes."""
    n = 40_000  # the field is linear, so each example is an independent draw of the estimator
    x = host_normal(0, (n, 4))
    v = probes(jax.random.key(1), num_probes, x.shape, kind)
    est = np.asarray(hutchinson(linear_field, x, v), np.float64)
    expected_var = STATED_VARIANCE[kind] / num_probes
    assert abs(est.mean() - np.trace(A)) < SIGMAS * np.sqrt(expected_var / n)
    centred = est - est.mean()
    var_se = np.sqrt((np.mean(centred**4) - np.var(est) ** 2) / n)  # no normality assumed
    assert abs(est.var(ddof=1) - expected_var) < SIGMAS * var_se
    # The same formula with A itself (not its symmetric part) is rejected: the symmetrisation
    # is what the variance depends on.
    wrong = {"rademacher": 2 * (np.sum(A**2) - np.sum(np.diag(A) ** 2)), "gaussian": 2 * np.sum(A**2)}
    assert abs(wrong[kind] / num_probes - expected_var) > 3 * SIGMAS * var_se


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_mean_converges_to_the_exact_divergence_of_a_nonlinear_field(kind):
    """Many probes at one point of a non-linear field: their mean is the exact divergence."""
    d, m = 5, 20_000
    fn = coupled_field(d, seed=3)
    x = jnp.tile(host_normal(2, (1, d)), (m, 1))  # m copies, 1 probe each
    est = np.asarray(hutchinson(fn, x, probes(jax.random.key(3), 1, x.shape, kind)))
    truth = float(exact(fn, x[:1])[0])
    se = est.std(ddof=1) / np.sqrt(m)
    assert est.std() > 0.1  # the estimates do vary: this is not the exact trace in disguise
    assert abs(est.mean() - truth) < SIGMAS * se


def test_probes_have_identity_second_moment_and_their_law():
    """E[v v^T] = I for both kinds; Rademacher entries are exactly +-1, Gaussian ones are not."""
    n = 50_000
    for kind in ("rademacher", "gaussian"):
        v = np.asarray(probes(jax.random.key(4), 2, (n, 3), kind), np.float64)
        assert v.shape == (2, n, 3)
        second = np.einsum("pni,pnj->ij", v, v) / (2 * n)
        np.testing.assert_allclose(second, np.eye(3), atol=SIGMAS * np.sqrt(2 / (2 * n)))
        assert np.all(np.abs(v) == 1.0) == (kind == "rademacher")


def test_hutchinson_with_given_probes_is_deterministic_and_averages_over_probes():
    """The estimate is a function of the probes: the mean of the per-probe estimates."""
    fn = coupled_field(3, seed=1)
    x = host_normal(5, (6, 3))
    v = probes(jax.random.key(6), 4, x.shape, "gaussian")
    both = hutchinson(fn, x, v)
    np.testing.assert_array_equal(both, hutchinson(fn, x, v))
    singles = np.mean([hutchinson(fn, x, v[k : k + 1]) for k in range(4)], axis=0)
    np.testing.assert_allclose(both, singles, rtol=1e-5, atol=1e-6)


_X = jnp.zeros((3, 2))
_F = linear_field
_V = jnp.ones((2, 3, 2))
_KEY = jax.random.key(0)


@bad_calls(
    [
        ("exact_not_callable", lambda: exact_divergence("f", _X), TypeError, "exact_divergence: argument 'fn' must be a callable"),
        ("exact_1d_points", lambda: exact_divergence(_F, jnp.zeros(3)), ValueError, "exact_divergence: argument 'x' must have shape (n, d)"),
        ("exact_int_points", lambda: exact_divergence(_F, jnp.zeros((3, 2), jnp.int32)), TypeError, "exact_divergence: argument 'x'"),
        ("hutchinson_not_callable", lambda: hutchinson_divergence(None, _X, _V), TypeError, "hutchinson_divergence: argument 'fn'"),
        ("hutchinson_probes_wrong_batch", lambda: hutchinson_divergence(_F, _X, jnp.ones((2, 4, 2))), ValueError, "hutchinson_divergence: argument 'v' must have shape (num_probes, 3, 2)"),
        ("hutchinson_probes_without_probe_axis", lambda: hutchinson_divergence(_F, _X, jnp.ones((3, 2))), ValueError, "argument 'v'"),
        ("hutchinson_3d_points", lambda: hutchinson_divergence(_F, jnp.zeros((1, 3, 2)), _V), ValueError, "hutchinson_divergence: argument 'x' must have shape (n, d)"),
        ("probes_unknown_kind", lambda: probes(_KEY, 2, (3, 2), "uniform"), ValueError, "probes: argument 'kind' must be 'rademacher' or 'gaussian'; got 'uniform'"),
        ("probes_zero_count", lambda: probes(_KEY, 0, (3, 2)), ValueError, "probes: argument 'num_probes' must be a positive int"),
        ("probes_int_key", lambda: probes(0, 2, (3, 2)), TypeError, "probes: argument 'key'"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
