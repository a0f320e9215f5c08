"""NADE: normalisation, the autoregressive property, the shared-weight maths, sampling, training.

Oracles: brute-force enumeration of all 2**D binary vectors (the total mass must be one),
``jax.jacfwd`` (the autoregressive property read off the Jacobian), the conditionals written
out one dimension at a time in float64 NumPy (one separate network per conditional, with the
shared weights sliced), ``scipy.stats.chisquare`` (sample frequencies against exp(log_prob)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls
from support.binary_oracles import chi_square_p_value

from dgm_lib import train
from dgm_lib.autoregressive import NADE, nade_logits, nade_preactivations
from dgm_lib.background.parameter_counts import neural_conditionals
from dgm_lib.enumeration import all_binary_vectors, log_sum_over_binary
from dgm_lib.train import nll_loss


def randomised(model: nnx.Module, seed: int, scale: float = 1.0) -> nnx.Module:
    """Every parameter (biases included) replaced by N(0, scale^2) draws: none zero."""
    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    rng = np.random.default_rng(seed)  # host draws: no device compile per shape
    new = [jnp.asarray(scale * rng.standard_normal(leaf.shape), jnp.float32) for leaf in leaves]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


def nade(d: int, hidden: int = 4, seed: int = 0, scale: float = 1.0) -> NADE:
    return randomised(NADE(jax.random.key(seed), d, hidden), seed + 100, scale)


@pytest.mark.parametrize("d", [1, 2, 5, 10])
def test_nade_probabilities_sum_to_one(d) -> None:
    model = nade(d, hidden=6, seed=d, scale=1.5)
    assert abs(float(log_sum_over_binary(model.log_prob, d))) < 1e-5


def test_nade_conditionals_are_autoregressive() -> None:
    d = 7
    model = nade(d, seed=1)
    x = jax.random.uniform(jax.random.key(2), (d,), minval=0.1, maxval=0.9)
    jac = np.asarray(jax.jacfwd(lambda v: model.conditionals(v[None])[0])(x))
    assert jac.shape == (d, d)
    assert np.all(jac[np.triu_indices(d)] == 0.0)  # exactly zero on and above the diagonal
    # sigmoid units never switch off: every earlier variable matters, so the check can fail.
    assert np.all(np.abs(jac[np.tril_indices(d, k=-1)]) > 1e-4)


def test_nade_logits_equal_one_network_per_conditional_with_shared_weights() -> None:
    d, h = 6, 5
    model = nade(d, hidden=h, seed=3)
    w, c = np.asarray(model.weight[...], np.float64), np.asarray(model.bias[...], np.float64)
    v, b = np.asarray(model.out_weight[...], np.float64), np.asarray(model.out_bias[...], np.float64)
    x = np.asarray(all_binary_vectors(d))[::5]
    want = np.empty(x.shape)
    for n, row in enumerate(x):
        for i in range(d):
            hidden = 1.0 / (1.0 + np.exp(-(c + w[:, :i] @ row[:i])))
            want[n, i] = b[i] + v[i] @ hidden
    np.testing.assert_allclose(model.conditionals(x), want, rtol=1e-5, atol=1e-5)
    pre = np.asarray(nade_preactivations(model.weight[...], model.bias[...], x))
    np.testing.assert_allclose(pre[:, 0, :], np.broadcast_to(c, (len(x), h)), rtol=1e-6)


def test_nade_has_2hd_plus_h_plus_d_parameters_and_never_uses_the_last_column() -> None:
    """neural_conditionals(n, h) counts the used parameters; the model also stores W[:, D-1],
    which feeds no conditional: its gradient is exactly zero."""
    d, h = 9, 7
    model = nade(d, hidden=h, seed=4)
    sizes = [leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))]
    assert sum(sizes) == 2 * h * d + h + d == neural_conditionals(d, h) + h
    x = np.asarray(all_binary_vectors(d))[::7]

    def total(weight):
        return jnp.sum(nade_logits(weight, model.bias[...], model.out_weight[...],
                                   model.out_bias[...], x))

    grad = np.asarray(jax.grad(total)(model.weight[...]))
    assert np.all(grad[:, -1] == 0.0) and np.all(np.abs(grad[:, :-1]).sum(0) > 0)


def test_nade_samples_follow_the_density() -> None:
    d = 5
    model = nade(d, hidden=4, seed=6)
    samples = np.asarray(model.sample(jax.random.key(7), 20_000))
    assert set(np.unique(samples)) <= {0.0, 1.0}
    assert chi_square_p_value(samples, model.log_prob(all_binary_vectors(d))) > 1e-3


def test_nade_observed_values_are_kept_exactly() -> None:
    d, n = 8, 50
    model = nade(d, seed=8, scale=2.0)
    k1, k2, k3 = jax.random.split(jax.random.key(9), 3)
    values = jax.random.bernoulli(k1, 0.5, (n, d)).astype(jnp.float32)
    mask = jax.random.bernoulli(k2, 0.5, (n, d))
    x = np.asarray(model.sample(k3, n, observed=(values, mask)))
    np.testing.assert_array_equal(x[np.asarray(mask)], np.asarray(values)[np.asarray(mask)])


def test_nade_fit_compiles_once_and_lowers_the_nll() -> None:
    d = 6
    data = np.asarray(nade(d, hidden=3, seed=10, scale=2.0).sample(jax.random.key(11), 512))
    model = NADE(jax.random.key(12), d, 8)
    before = float(nll_loss(model, data, jax.random.key(0)))
    result = train.fit(model, nll_loss, data, key=jax.random.key(13), steps=300, batch_size=64,
                       optimizer=optax.adam(1e-2), steps_per_dispatch=50, progress=False)
    assert result.traces == 1
    assert float(nll_loss(model, data, jax.random.key(0))) < before - 0.3


def _bad_calls():
    model = NADE(jax.random.key(0), 3, 2)
    w, c, v, b = jnp.zeros((2, 3)), jnp.zeros(2), jnp.zeros((3, 2)), jnp.zeros(3)
    x = jnp.zeros((4, 3))
    return [
        ("NADE key", lambda: NADE(0, 3, 2), TypeError, "NADE: argument 'key'"),
        ("NADE d", lambda: NADE(jax.random.key(0), 0, 2), ValueError, "NADE: argument 'd' must be a positive int"),
        ("NADE hidden", lambda: NADE(jax.random.key(0), 3, 2.0), ValueError, "NADE: argument 'hidden' must be a positive int"),
        ("log_prob D", lambda: model.log_prob(jnp.zeros((4, 5))), ValueError, "NADE.log_prob: argument 'x' must have shape (batch, 3)"),
        ("log_prob int", lambda: model.log_prob(jnp.zeros((4, 3), jnp.int32)), TypeError, "NADE.log_prob: argument 'x' must be a floating-point array"),
        ("conditionals 1-D", lambda: model.conditionals(jnp.zeros(3)), ValueError, "NADE.conditionals: argument 'x' must have shape (batch, 3)"),
        ("sample key", lambda: model.sample(1, 2), TypeError, "NADE.sample: argument 'key'"),
        ("sample observed", lambda: model.sample(jax.random.key(0), 2, observed=(jnp.zeros((2, 4)), jnp.zeros(3, bool))), ValueError, "NADE.sample: argument 'observed values' must have shape (2, 3)"),
        ("pre weight", lambda: nade_preactivations(jnp.zeros(3), c, x), ValueError, "nade_preactivations: argument 'weight' must have shape (H, D)"),
        ("pre bias", lambda: nade_preactivations(w, jnp.zeros(3), x), ValueError, "nade_preactivations: argument 'bias' must have shape (2,)"),
        ("pre x", lambda: nade_preactivations(w, c, jnp.zeros((4, 2))), ValueError, "nade_preactivations: argument 'x' must have shape (batch, 3)"),
        ("logits out_weight", lambda: nade_logits(w, c, jnp.zeros((2, 3)), b, x), ValueError, "nade_logits: argument 'out_weight' must have shape (3, 2)"),
        ("logits out_bias", lambda: nade_logits(w, c, v, jnp.zeros(2), x), ValueError, "nade_logits: argument 'out_bias' must have shape (3,)"),
        ("logits x dtype", lambda: nade_logits(w, c, v, b, jnp.zeros((4, 3), bool)), TypeError, "nade_logits: argument 'x' must be a floating-point array"),
    ]


@bad_calls(_bad_calls())
def test_wrong_shapes_and_dtypes_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)
