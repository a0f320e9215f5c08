"""Properties of dgm_lib.energy.deep: the replay-buffer Langevin loss writes its negatives back
to the buffer (only at the rows it drew, inside [0, 1]) and scores exactly those negatives; the
energy regulariser adds exactly alpha (mean E(data)^2 + mean E(negatives)^2); the negatives are
held fixed in the gradient; fit carries the buffer from step to step."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.energy import MLPEnergy, ReplayBuffer, ReplayEBM, replay_langevin_loss
from dgm_lib.train import fit

D, BUFFER, B = 8, 4096, 6


def make_model(seed: int = 0) -> ReplayEBM:
    return ReplayEBM(MLPEnergy(D, (16,), rngs=nnx.Rngs(seed)), buffer_size=BUFFER, rngs=nnx.Rngs(seed + 1))


def batch(seed: int = 0, n: int = B) -> jax.Array:
    return jax.random.uniform(jax.random.key(100 + seed), (n, D))


def test_mlp_energy_maps_vectors_to_one_energy_each():
    energy = MLPEnergy(D, (16, 16), rngs=nnx.Rngs(0))
    x = batch(n=5)
    e = energy.energy(x)
    assert e.shape == (5,)
    assert np.all(np.isfinite(np.asarray(e)))
    # One energy per example, from that example only.
    np.testing.assert_allclose(energy.energy(x[2:3]), e[2:3], rtol=1e-6)
    assert len(set(np.round(np.asarray(e), 6))) == 5  # not a constant


LOSS = functools.partial(replay_langevin_loss, num_steps=5, reinit_prob=0.5)


def test_the_loss_writes_its_negatives_back_and_scores_exactly_them():
    model = make_model()
    start = np.asarray(model.buffer[...])
    assert isinstance(model.buffer, ReplayBuffer) and start.shape == (BUFFER, D)
    assert start.min() >= 0.0 and start.max() <= 1.0
    x, key = batch(), jax.random.key(1)
    loss = LOSS(model, x, key, alpha=0.0)
    after = np.asarray(model.buffer[...])
    changed = np.flatnonzero(np.any(after != start, axis=1))
    # Only the drawn rows changed (B distinct rows for this key), and they stay in the box.
    assert len(changed) == B
    assert after.min() >= 0.0 and after.max() <= 1.0
    negatives = jnp.asarray(after[changed])
    energy = model.model.energy
    expected = jnp.mean(energy(x)) - jnp.mean(energy(negatives))  # row order does not matter
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-5, atol=1e-6)

    # Same key and buffer, alpha > 0: the same negatives, and the loss grows by exactly the
    # regulariser computed here.
    model.buffer[...] = jnp.asarray(start)
    alpha = 0.7
    loss_reg = LOSS(model, x, key, alpha=alpha)
    np.testing.assert_array_equal(np.asarray(model.buffer[...]), after)
    penalty = alpha * (jnp.mean(energy(x) ** 2) + jnp.mean(energy(negatives) ** 2))
    assert float(penalty) > 1e-3  # the check below can fail
    np.testing.assert_allclose(float(loss_reg - loss), float(penalty), rtol=1e-5, atol=1e-6)


def test_the_negatives_are_held_fixed_in_the_gradient():
    # A strong drift (eta / T = 100, 20 steps) makes the negatives depend on the parameters a
    # lot, so a gradient leaking through the chain would differ by far more than the tolerance.
    loss = functools.partial(LOSS, num_steps=20, temperature=1.25e-7, alpha=0.5)
    model = make_model(seed=2)
    start = np.asarray(model.buffer[...])
    x, key = batch(1), jax.random.key(3)
    grads = nnx.grad(lambda m: loss(m, x, key))(model)
    after = np.asarray(model.buffer[...])
    negatives = jnp.asarray(after[np.flatnonzero(np.any(after != start, axis=1))])
    assert len(negatives) == B

    def surrogate(m):
        e_data, e_neg = m.model.energy(x), m.model.energy(negatives)
        return jnp.mean(e_data) - jnp.mean(e_neg) + 0.5 * (jnp.mean(e_data**2) + jnp.mean(e_neg**2))

    expected = nnx.grad(surrogate)(model)
    for g, e in zip(jax.tree.leaves(grads), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5 * float(np.abs(e).max()))


def test_fit_carries_the_replay_buffer():
    model = make_model(seed=4)
    start = np.asarray(model.buffer[...])
    start_params = [np.asarray(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))]
    data = np.asarray(batch(2, n=64))
    fit(model, LOSS, data, key=jax.random.key(5), steps=4, batch_size=16,
        optimizer=optax.adam(1e-3), progress=False)
    after = np.asarray(model.buffer[...])
    changed = np.any(after != start, axis=1).sum()
    # Four steps of 16 draws each: the buffer kept every step's writes (up to repeated rows).
    assert 16 < changed <= 64, changed
    assert after.min() >= 0.0 and after.max() <= 1.0
    params = [np.asarray(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))]
    assert any(not np.array_equal(a, b) for a, b in zip(params, start_params, strict=True))


_M = ReplayEBM(MLPEnergy(3, (4,), rngs=nnx.Rngs(0)), buffer_size=8, rngs=nnx.Rngs(1))
_X, _K = jnp.full((2, 3), 0.5), jax.random.key(0)


@bad_calls(
    [
        ("reinit_prob_negative", lambda: replay_langevin_loss(_M, _X, _K, reinit_prob=-0.1), ValueError, "replay_langevin_loss: 'reinit_prob' must be in [0, 1]"),
        ("reinit_prob_above_one", lambda: replay_langevin_loss(_M, _X, _K, reinit_prob=1.5), ValueError, "reinit_prob = 1.5"),
        ("alpha_negative", lambda: replay_langevin_loss(_M, _X, _K, alpha=-1.0), ValueError, ["'alpha' >= 0", "alpha = -1.0"]),
        ("step_size_zero", lambda: replay_langevin_loss(_M, _X, _K, step_size=0.0), ValueError, "replay_langevin_loss: argument 'step_size' must be a finite number > 0"),
        ("step_size_negative", lambda: replay_langevin_loss(_M, _X, _K, step_size=-1e-3), ValueError, "argument 'step_size'"),
        ("temperature_zero", lambda: replay_langevin_loss(_M, _X, _K, temperature=0.0), ValueError, "replay_langevin_loss: argument 'temperature'"),
        ("num_steps_zero", lambda: replay_langevin_loss(_M, _X, _K, num_steps=0), ValueError, "replay_langevin_loss: argument 'num_steps' must be a positive int"),
        ("energy_wrong_width", lambda: _M.model.energy(jnp.zeros((2, 5))), ValueError, "MLPEnergy.energy: argument 'x' must have shape (n, 3); got shape (2, 5)"),
        ("hidden_sizes_int", lambda: MLPEnergy(3, 4, rngs=nnx.Rngs(0)), TypeError, "MLPEnergy: argument 'hidden_sizes' must be a sequence"),
        ("energy_no_rngs", lambda: MLPEnergy(3, (4,), rngs=None), TypeError, "MLPEnergy: argument 'rngs'"),
        ("buffer_size_zero", lambda: ReplayEBM(_M.model, buffer_size=0, rngs=nnx.Rngs(0)), ValueError, "ReplayEBM: argument 'buffer_size' must be a positive int"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
