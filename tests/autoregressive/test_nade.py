"""NADE: the shared-weight maths, its parameter count, sampling, training.

Normalisation, the autoregressive Jacobian, the recurrence, the sampler and the methods' bad
arguments are tested for every model in ``test_contract.py``. Oracles here: the conditionals
written out one dimension at a time in float64 NumPy (one separate network per conditional,
with the shared weights sliced), ``scipy.stats.chisquare`` (sample frequencies against
exp(log_prob)).
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
from dgm_lib.autoregressive.nade import _nade_one_pass
from dgm_lib.background.parameter_counts import neural_conditionals
from dgm_lib.enumeration import all_binary_vectors
from dgm_lib.train import nll_loss


def randomised(model: nnx.Module, seed: int, scale: float = 1.0) -> nnx.Module:
    """Every parameter (biases included) replaced by N(0, scale^2) draws: none zero."""
    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    rng = np.random.default_rng(seed)  # host draws: no device compile per shape
    new = [jnp.asarray(scale * rng.standard_normal(leaf.shape), jnp.float32) for leaf in leaves]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


def nade(d: int, hidden_size: int = 4, seed: int = 0, scale: float = 1.0) -> NADE:
    return randomised(NADE(d, hidden_size, rngs=nnx.Rngs(seed)), seed + 100, scale)


def test_nade_logits_equal_one_network_per_conditional_with_shared_weights() -> None:
    d, h = 6, 5
    model = nade(d, hidden_size=h, seed=3)
    w, c = np.asarray(model.weight[...], np.float64), np.asarray(model.bias[...], np.float64)
    v, b = np.asarray(model.out_weight[...], np.float64), np.asarray(model.out_bias[...], np.float64)
    x = np.asarray(all_binary_vectors(d))[::5]
    want = np.empty(x.shape)
    for n, row in enumerate(x):
        for i in range(d):
            hidden = 1.0 / (1.0 + np.exp(-(c + w[:, :i] @ row[:i])))
            want[n, i] = b[i] + v[i] @ hidden
    np.testing.assert_allclose(model.conditionals(x), want, rtol=1e-5, atol=1e-5)
    params = (model.weight[...], model.bias[...], model.out_weight[...], model.out_bias[...])
    # the accelerators' branch (platform_dependent runs the scan on a CPU): the same logits
    np.testing.assert_allclose(_nade_one_pass(*params, x), want, rtol=1e-5, atol=1e-5)
    pre = np.asarray(nade_preactivations(model.weight[...], model.bias[...], x))
    np.testing.assert_allclose(pre[:, 0, :], np.broadcast_to(c, (len(x), h)), rtol=1e-6)


def test_the_written_out_gradient_equals_autodiff_of_the_cumulative_sum_in_every_argument() -> None:
    """nade_logits' backward recurrence (a_i recovered by subtraction) against reverse-mode
    autodiff of the one-pass form ``b + sigma(nade_preactivations) . V`` (the accelerators'
    branch, checked against the float64 loop above), for a loss that weights every logit
    differently, at real-valued x (so d/dx is exercised)."""
    d, h, n = 40, 24, 9
    rng = np.random.default_rng(5)
    w, c, v, b = (jnp.asarray(rng.standard_normal(s), jnp.float32)
                  for s in ((h, d), (h,), (d, h), (d,)))
    x = jnp.asarray(rng.standard_normal((n, d)), jnp.float32)
    weights = jnp.asarray(rng.standard_normal((n, d)), jnp.float32)

    def loss(logits_fn):
        return lambda *args: jnp.sum(weights * jnp.sin(logits_fn(*args)))

    ours = jax.grad(loss(nade_logits), argnums=range(5))(w, c, v, b, x)
    want = jax.grad(loss(_nade_one_pass), argnums=range(5))(w, c, v, b, x)
    names = ("weight", "bias", "out_weight", "out_bias", "x")
    for name, got, ref in zip(names, ours, want, strict=True):
        scale = float(jnp.max(jnp.abs(ref)))
        assert scale > 0.1, name
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * scale, err_msg=name)
    np.testing.assert_allclose(nade_logits(w, c, v, b, x), _nade_one_pass(w, c, v, b, x),
                               atol=2e-5)


def test_on_a_cpu_the_compiled_gradient_holds_no_batch_by_d_by_h_tensor() -> None:
    """platform_dependent must resolve to the recurrence here: neither branch's (batch, D, H)
    tensor (the one-pass form's, or zeros standing in for its residuals) may survive XLA."""
    if jax.default_backend() != "cpu":
        pytest.skip("the recurrence is the CPU branch")
    n, d, h = 7, 11, 13
    args = (jnp.ones((h, d)), jnp.ones(h), jnp.ones((d, h)), jnp.ones(d))
    x = jnp.ones((n, d))
    grad = jax.jit(jax.grad(lambda *p: jnp.sum(nade_logits(*p, x)), argnums=range(4)))
    program = grad.lower(*args).compile().as_text()
    assert f"f32[{n},{d},{h}]" not in program and f"f32[{n},{h},{d}]" not in program
    one_pass = jax.jit(jax.grad(lambda *p: jnp.sum(_nade_one_pass(*p, x)), argnums=range(4)))
    assert f"f32[{n},{h},{d}]" in one_pass.lower(*args).compile().as_text()  # the test can fail


def test_nade_has_2hd_plus_h_plus_d_parameters_and_never_uses_the_last_column() -> None:
    """neural_conditionals(n, h) counts the used parameters; the model also stores W[:, D-1],
    which feeds no conditional: its gradient is exactly zero."""
    d, h = 9, 7
    model = nade(d, hidden_size=h, seed=4)
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
    model = nade(d, hidden_size=4, seed=6)
    samples = np.asarray(model.sample(jax.random.key(7), 20_000))
    assert set(np.unique(samples)) <= {0.0, 1.0}
    assert chi_square_p_value(samples, model.log_prob(all_binary_vectors(d))) > 1e-3


def test_nade_fit_compiles_once_and_lowers_the_nll() -> None:
    d = 6
    data = np.asarray(nade(d, hidden_size=3, seed=10, scale=2.0).sample(jax.random.key(11), 512))
    model = NADE(d, 8, rngs=nnx.Rngs(12))
    before = float(nll_loss(model, data, jax.random.key(0)))
    result = train.fit(model, nll_loss, data, key=jax.random.key(13), steps=300, batch_size=64,
                       optimizer=optax.adam(1e-2), steps_per_dispatch=50, progress=False)
    assert result.traces <= 1
    assert float(nll_loss(model, data, jax.random.key(0))) < before - 0.3


def test_the_seed_fixes_the_initial_weights() -> None:
    first, again, other = (NADE(5, 3, rngs=nnx.Rngs(s)) for s in (3, 3, 4))
    np.testing.assert_array_equal(first.weight[...], again.weight[...])
    assert not np.array_equal(first.weight[...], other.weight[...])
    assert np.all(first.bias[...] == 0.0) and np.all(first.out_bias[...] == 0.0)


def _bad_calls():
    w, c, v, b = jnp.zeros((2, 3)), jnp.zeros(2), jnp.zeros((3, 2)), jnp.zeros(3)
    x = jnp.zeros((4, 3))
    rngs = nnx.Rngs(0)
    return [
        ("NADE rngs", lambda: NADE(3, 2, rngs=0), TypeError, "NADE: argument 'rngs' must be an nnx.Rngs"),
        ("NADE no rngs", lambda: NADE(3, 2), TypeError, "rngs"),
        ("NADE old key first", lambda: NADE(jax.random.key(0), 3, rngs=rngs), ValueError, "NADE: argument 'd' must be a positive int"),
        ("NADE d", lambda: NADE(0, 2, rngs=rngs), ValueError, "NADE: argument 'd' must be a positive int"),
        ("NADE hidden_size", lambda: NADE(3, 2.0, rngs=rngs), ValueError, "NADE: argument 'hidden_size' must be a positive int"),
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
