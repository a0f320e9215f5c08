"""Properties of dgm_lib.energy.rbm, with parameters moved to random values of size ~1: log Z
(both enumeration branches) and the free energy against direct float64 sums over every joint
state (v, h) written here, normalisation over all visible vectors, the hidden conditionals
against enumeration, and the Gibbs chain's stationary law against enumeration (chi-square, with
the same test shown to reject a different RBM)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import special
from support.bad_calls import assert_raises_naming, bad_calls
from support.energy_oracles import pooled_chisquare, random_rbm

from dgm_lib.energy import RBM, base_rate_logits
from dgm_lib.enumeration import log_sum_over_binary

P_MIN, P_REJECT = 1e-3, 1e-8


def params64(rbm: RBM):
    return tuple(np.asarray(p, np.float64) for p in (rbm.W[...], rbm.b[...], rbm.c[...]))


def binary(n: int) -> np.ndarray:
    """Every binary vector of length n in itertools order (first entry most significant)."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def numpy_joint_energy(v, h, w, b, c) -> np.ndarray:
    """E(v, h) = -b.v - c.h - v W h for every pair: shape (len(v), len(h))."""
    return -(v @ b)[:, None] - (h @ c)[None, :] - v @ w @ h.T


def exact_log_probs(rbm: RBM) -> np.ndarray:
    w, b, c = params64(rbm)
    v, h = binary(rbm.d), binary(rbm.num_hidden)
    log_f = special.logsumexp(-numpy_joint_energy(v, h, w, b, c), axis=1)
    return log_f - special.logsumexp(log_f)


def visible_index(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v).astype(np.int64)
    return v @ (2 ** np.arange(v.shape[1] - 1, -1, -1))


# ------------------------------------------------------------------------------------------
# Energies and the partition function against direct sums
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "num_hidden"), [(5, 3), (4, 4), (3, 6)], ids=["sum_over_h", "equal_layers", "sum_over_v"]
)
def test_log_partition_is_the_direct_sum_over_every_joint_state(d, num_hidden):
    rbm = random_rbm(d, num_hidden, seed=d)
    w, b, c = params64(rbm)
    exact = special.logsumexp(-numpy_joint_energy(binary(d), binary(num_hidden), w, b, c))
    np.testing.assert_allclose(float(rbm.log_partition()), exact, rtol=1e-6, atol=1e-5)
    # log_prob sums to one over {0,1}^d (dgm_lib.enumeration visits them all).
    assert abs(float(log_sum_over_binary(rbm.log_prob, d))) < 1e-5
    np.testing.assert_allclose(
        rbm.log_prob(jnp.asarray(binary(d), jnp.float32)), exact_log_probs(rbm), atol=1e-5
    )


def test_joint_and_free_energies_match_their_definitions():
    rbm = random_rbm(5, 4, seed=1)
    w, b, c = params64(rbm)
    v, h = binary(5), binary(4)
    # joint_energy on random pairs against the NumPy formula.
    g = np.random.default_rng(2)
    vi, hi = g.integers(0, len(v), 50), g.integers(0, len(h), 50)
    ours = rbm.joint_energy(jnp.asarray(v[vi], jnp.float32), jnp.asarray(h[hi], jnp.float32))
    np.testing.assert_allclose(ours, numpy_joint_energy(v, h, w, b, c)[vi, hi], rtol=1e-5, atol=1e-5)
    # F(v) = -log sum_h exp(-E(v, h)), the hidden units summed out by brute force.
    free = -special.logsumexp(-numpy_joint_energy(v, h, w, b, c), axis=1)
    v32 = jnp.asarray(v, jnp.float32)
    np.testing.assert_allclose(rbm.free_energy(v32), free, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rbm.energy(v32), free, rtol=1e-5, atol=1e-5)
    # ... and with the model's own joint energy, pair by pair.
    vv = jnp.repeat(v32, len(h), axis=0)
    hh = jnp.tile(jnp.asarray(h, jnp.float32), (len(v), 1))
    joint = np.asarray(rbm.joint_energy(vv, hh), np.float64).reshape(len(v), len(h))
    np.testing.assert_allclose(-special.logsumexp(-joint, axis=1), free, rtol=1e-5, atol=1e-5)


def test_hidden_probs_are_the_conditionals_of_the_joint():
    rbm = random_rbm(4, 3, seed=3)
    w, b, c = params64(rbm)
    v, h = binary(4), binary(3)
    joint = -numpy_joint_energy(v, h, w, b, c)
    cond = np.exp(joint - special.logsumexp(joint, axis=1, keepdims=True))  # p(h | v)
    np.testing.assert_allclose(rbm.hidden_probs(jnp.asarray(v, jnp.float32)), cond @ h, atol=1e-6)


def test_base_rate_logits_are_smoothed_log_odds_of_each_pixel():
    x = np.zeros((10, 3))
    x[:7, 0] = 1
    x[:, 1] = 1  # always on: finite thanks to the smoothing
    got = base_rate_logits(jnp.asarray(x), smoothing=0.5)
    ones = x.sum(axis=0)
    np.testing.assert_allclose(got, np.log((ones + 0.5) / (10 - ones + 0.5)), rtol=1e-6)


def test_a_fresh_rbm_has_zero_biases_and_small_weights():
    rbm = RBM(7, 5, init_std=0.01, rngs=nnx.Rngs(0))
    assert rbm.W[...].shape == (7, 5)
    np.testing.assert_array_equal(rbm.b[...], 0.0)
    np.testing.assert_array_equal(rbm.c[...], 0.0)
    assert 0.0 < float(jnp.std(rbm.W[...])) < 0.02


# ------------------------------------------------------------------------------------------
# Gibbs sampling against enumeration
# ------------------------------------------------------------------------------------------


def test_gibbs_chain_samples_the_enumerated_visible_law():
    rbm = random_rbm(4, 3, seed=4)
    n = 20_000
    result = rbm.gibbs_chain(jax.random.key(0), jnp.zeros((n, 4)), num_steps=30, num_recorded=3)
    assert result.trace.shape == (3, n, 4)
    np.testing.assert_array_equal(result.trace[-1], result.final)
    samples = np.asarray(result.final)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    counts = np.bincount(visible_index(samples), minlength=16)
    assert pooled_chisquare(counts, np.exp(exact_log_probs(rbm))) > P_MIN
    # The same samples reject a different RBM (weights halved).
    other = random_rbm(4, 3, seed=4)
    other.W[...] = 0.5 * other.W[...]
    assert pooled_chisquare(counts, np.exp(exact_log_probs(other))) < P_REJECT


def test_sample_draws_the_enumerated_visible_law():
    rbm = random_rbm(3, 5, seed=5)
    samples = np.asarray(rbm.sample(jax.random.key(1), 20_000, num_steps=30))
    assert samples.shape == (20_000, 3)
    counts = np.bincount(visible_index(samples), minlength=8)
    assert pooled_chisquare(counts, np.exp(exact_log_probs(rbm))) > P_MIN


# ------------------------------------------------------------------------------------------
# Bad arguments
# ------------------------------------------------------------------------------------------

_R = RBM(4, 3, rngs=nnx.Rngs(0))
_BIG = RBM(21, 22, init_std=0.0, rngs=nnx.Rngs(0))


@bad_calls(
    [
        ("free_energy_wrong_width", lambda: _R.free_energy(jnp.zeros((2, 5))), ValueError, "RBM.free_energy: argument 'v' must have shape (n, 4); got shape (2, 5)"),
        ("free_energy_no_batch_axis", lambda: _R.free_energy(jnp.zeros(4)), ValueError, "RBM.free_energy: argument 'v' must have shape (n, 4)"),
        ("log_prob_wrong_width", lambda: _R.log_prob(jnp.zeros((2, 3))), ValueError, "argument 'v' must have shape (n, 4)"),
        ("energy_wrong_width", lambda: _R.energy(jnp.zeros((2, 3))), ValueError, "RBM.energy: argument 'v'"),
        ("joint_energy_wrong_hidden", lambda: _R.joint_energy(jnp.zeros((2, 4)), jnp.zeros((2, 4))), ValueError, "RBM.joint_energy: argument 'h' must have shape (2, 3)"),
        ("joint_energy_batch_mismatch", lambda: _R.joint_energy(jnp.zeros((2, 4)), jnp.zeros((3, 3))), ValueError, "RBM.joint_energy: argument 'h'"),
        ("hidden_probs_wrong_width", lambda: _R.hidden_probs(jnp.zeros((2, 2))), ValueError, "RBM.hidden_probs: argument 'v'"),
        ("gibbs_step_wrong_width", lambda: _R.gibbs_step(jax.random.key(0), jnp.zeros((2, 2))), ValueError, "RBM.gibbs_step: argument 'v'"),
        ("gibbs_chain_wrong_width", lambda: _R.gibbs_chain(jax.random.key(0), jnp.zeros((2, 5)), num_steps=2), ValueError, "RBM.gibbs_chain: argument 'v'"),
        ("gibbs_step_int_key", lambda: _R.gibbs_step(3, jnp.zeros((2, 4))), TypeError, "RBM.gibbs_step: argument 'key'"),
        ("sample_zero", lambda: _R.sample(jax.random.key(0), 0), ValueError, "RBM.sample: argument 'n' must be a positive int"),
        ("zero_hidden", lambda: RBM(4, 0, rngs=nnx.Rngs(0)), ValueError, "RBM: argument 'num_hidden' must be a positive int"),
        ("no_rngs", lambda: RBM(4, 3, rngs=0), TypeError, "RBM: argument 'rngs' must be an nnx.Rngs"),
        ("big_log_partition", _BIG.log_partition, ValueError, ["RBM.log_partition: both layers are too large to enumerate (d = 21, num_hidden = 22", "dgm_lib.energy.rbm_ais"]),
        ("big_log_prob", lambda: _BIG.log_prob(jnp.zeros((1, 21))), ValueError, "rbm_ais"),
        ("base_rate_1d", lambda: base_rate_logits(jnp.zeros(4)), ValueError, "base_rate_logits: argument 'x' must have shape (n, d)"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
