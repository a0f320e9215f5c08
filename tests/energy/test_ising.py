"""Properties of dgm_lib.energy.ising: the energy and log Z against a plain NumPy sum over
itertools' enumeration of the grid, normalisation, and the checkerboard Gibbs sweep's
stationary law against enumeration (chi-square), with the same test shown to reject a wrong
coupling and a synchronous (non-checkerboard) sampler."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special
from support.bad_calls import assert_raises_naming, bad_calls
from support.energy_oracles import pooled_chisquare

from dgm_lib.energy import Ising, magnetisation
from dgm_lib.samplers import run_chain

P_MIN = 1e-3  # a correct sampler passes a chi-square test at this level
P_REJECT = 1e-8  # a wrong law must be rejected far below it


def numpy_energy(s: np.ndarray, coupling: float, field: float) -> float:
    """E(s) = -J sum_{i~j} s_i s_j - h sum_i s_i, edge by edge (free boundaries)."""
    height, width = s.shape
    e = 0.0
    for i in range(height):
        for j in range(width):
            if i + 1 < height:
                e -= coupling * s[i, j] * s[i + 1, j]
            if j + 1 < width:
                e -= coupling * s[i, j] * s[i, j + 1]
            e -= field * s[i, j]
    return e


def enumerate_grid(height: int, width: int) -> np.ndarray:
    """All spin configurations in itertools order (first site most significant)."""
    return np.array(list(itertools.product([-1.0, 1.0], repeat=height * width))).reshape(
        -1, height, width
    )


def numpy_log_probs(height, width, coupling, field) -> np.ndarray:
    neg_e = np.array([-numpy_energy(s, coupling, field) for s in enumerate_grid(height, width)])
    return neg_e - special.logsumexp(neg_e)


def state_index(s: np.ndarray) -> np.ndarray:
    bits = (np.asarray(s).reshape(len(s), -1) > 0).astype(np.int64)
    return bits @ (2 ** np.arange(bits.shape[1] - 1, -1, -1))


GRIDS = [(2, 3, 0.4, 0.3), (3, 3, -0.5, 0.2), (3, 2, 0.7, -0.4)]


@pytest.mark.parametrize(("height", "width", "coupling", "field"), GRIDS)
def test_energy_and_log_partition_match_a_direct_numpy_sum(height, width, coupling, field):
    model = Ising(height, width, coupling, field)
    states = enumerate_grid(height, width)
    neg_e = np.array([-numpy_energy(s, coupling, field) for s in states])
    np.testing.assert_allclose(model.energy(jnp.asarray(states)), -neg_e, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(float(model.log_partition()), special.logsumexp(neg_e), rtol=1e-6)
    # log_prob over every state (enumerated here, not by the model) sums to one.
    log_p = np.asarray(model.log_prob(jnp.asarray(states)), np.float64)
    assert abs(special.logsumexp(log_p)) < 1e-5
    np.testing.assert_allclose(log_p, neg_e - special.logsumexp(neg_e), atol=1e-5)


def test_magnetisation_is_the_mean_spin():
    s = np.where(np.random.default_rng(0).random((7, 3, 4)) < 0.3, 1.0, -1.0)
    np.testing.assert_allclose(magnetisation(jnp.asarray(s)), s.mean(axis=(1, 2)), rtol=1e-6)
    assert float(magnetisation(jnp.ones((1, 3, 4)))[0]) == 1.0


def gibbs_samples(model: Ising, num_chains: int, num_sweeps: int, key, sweep=None) -> np.ndarray:
    sweep = model.gibbs_sweep if sweep is None else sweep
    s0 = -jnp.ones((num_chains, model.height, model.width))  # far from the typical states

    def transition(k, s):
        return sweep(k, s), jnp.ones(s.shape[:1])

    return np.asarray(run_chain(key, transition, s0, num_steps=num_sweeps).final)


def synchronous_sweep(model: Ising):
    """A wrong sampler: every site drawn from its conditional at once (not a Gibbs sampler)."""

    def sweep(key, s):
        padded = jnp.pad(s, ((0, 0), (1, 1), (1, 1)))
        nb = padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
        p = jax.nn.sigmoid(2.0 * (model.coupling * nb + model.field))
        return jnp.where(jax.random.bernoulli(key, p), 1.0, -1.0)

    return sweep


def test_checkerboard_gibbs_samples_the_enumerated_law_per_state():
    height, width, coupling, field = 2, 3, 0.5, 0.2
    model = Ising(height, width, coupling, field)
    n = 20_000
    samples = gibbs_samples(model, n, 30, jax.random.key(0))
    assert set(np.unique(samples)) == {-1.0, 1.0}
    counts = np.bincount(state_index(samples), minlength=2 ** model.d)
    exact = np.exp(numpy_log_probs(height, width, coupling, field))
    assert pooled_chisquare(counts, exact) > P_MIN
    # The test has power: the same samples reject the law of a weaker coupling ...
    weaker = np.exp(numpy_log_probs(height, width, 0.35, field))
    assert pooled_chisquare(counts, weaker) < P_REJECT
    # ... and the same test rejects a sampler that updates every site at once.
    wrong = gibbs_samples(model, n, 30, jax.random.key(0), synchronous_sweep(model))
    wrong_counts = np.bincount(state_index(wrong), minlength=2 ** model.d)
    assert pooled_chisquare(wrong_counts, exact) < P_REJECT


def test_checkerboard_gibbs_samples_the_law_of_the_number_of_up_spins():
    height, width, coupling, field = 3, 3, 0.35, -0.1
    model = Ising(height, width, coupling, field)
    samples = gibbs_samples(model, 20_000, 40, jax.random.key(1))
    ups = (samples > 0).reshape(len(samples), -1).sum(axis=1)
    counts = np.bincount(ups, minlength=model.d + 1)
    states = enumerate_grid(height, width)
    state_ups = (states > 0).reshape(len(states), -1).sum(axis=1)
    log_p = numpy_log_probs(height, width, coupling, field)
    exact = np.bincount(state_ups, weights=np.exp(log_p), minlength=model.d + 1)
    assert pooled_chisquare(counts, exact) > P_MIN
    wrong_log_p = numpy_log_probs(height, width, 0.2, field)
    wrong = np.bincount(state_ups, weights=np.exp(wrong_log_p), minlength=model.d + 1)
    assert pooled_chisquare(counts, wrong) < P_REJECT


_M = Ising(2, 3)


@bad_calls(
    [
        ("energy_transposed_grid", lambda: _M.energy(jnp.ones((4, 3, 2))), ValueError, "Ising.energy: argument 's' must have shape (n, 2, 3); got shape (4, 3, 2)"),
        ("energy_no_batch_axis", lambda: _M.energy(jnp.ones((2, 3))), ValueError, "Ising.energy: argument 's' must have shape (n, 2, 3); got shape (2, 3)"),
        ("log_prob_flat_spins", lambda: _M.log_prob(jnp.ones((4, 6))), ValueError, "Ising.energy: argument 's'"),
        ("gibbs_wrong_grid", lambda: _M.gibbs_sweep(jax.random.key(0), jnp.ones((4, 3, 3))), ValueError, "Ising.gibbs_sweep: argument 's' must have shape (n, 2, 3)"),
        ("gibbs_int_key", lambda: _M.gibbs_sweep(0, jnp.ones((4, 2, 3))), TypeError, "Ising.gibbs_sweep: argument 'key'"),
        ("magnetisation_flat", lambda: magnetisation(jnp.ones((4, 6))), ValueError, "magnetisation: argument 's' must have shape (n, height, width)"),
        ("zero_height", lambda: Ising(0, 3), ValueError, "Ising: argument 'height' must be a positive int"),
        ("float_width", lambda: Ising(2, 2.5), ValueError, "Ising: argument 'width' must be a positive int"),
        ("too_big_to_enumerate", lambda: Ising(5, 5).log_partition(), ValueError, ["Ising.all_states: a 5 x 5 grid has 2**25 states", "gibbs_sweep"]),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
