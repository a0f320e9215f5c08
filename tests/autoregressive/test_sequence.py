"""Sequence models (GRU, causal self-attention) as autoregressive models of binary vectors.

Normalisation, the autoregressive Jacobian, the recurrence, the sampler and the methods' bad
arguments are tested for every model in ``test_contract.py``. Oracles here: the GRU equations
and softmax attention written out in float64 NumPy; the receptive field of a PixelCNN's blind
spot, absent here; ``scipy.stats.chisquare`` (sample frequencies against exp(log_prob)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls
from support.binary_oracles import chi_square_p_value, log_prob, perturbed

from dgm_lib import train
from dgm_lib.autoregressive import (
    CausalTransformer,
    GRUAutoregressive,
    GRUParams,
    causal_mask,
    causal_self_attention,
    gru_cell,
    gru_logits,
    receptive_field,
    shift_right,
    transformer_logits,
)
from dgm_lib.enumeration import all_binary_vectors
from dgm_lib.train import nll_loss


def gru(d: int, seed: int = 0) -> GRUAutoregressive:
    return perturbed(GRUAutoregressive(d, hidden_size=8, rngs=nnx.Rngs(seed)), seed=seed + 1)


def transformer(d: int, seed: int = 0) -> CausalTransformer:
    model = CausalTransformer(d, width=8, num_layers=2, num_heads=2, rngs=nnx.Rngs(seed))
    return perturbed(model, seed=seed + 1)


D = 6  # most tests use this length, so their compiled functions are shared
N = 20_000  # samples per chi-square test (all sampling tests draw this many, for the same reason)
MAKERS = [gru, transformer]
IDS = ["GRU", "transformer"]


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


# ----------------------------------------------------------------------------- the building blocks


def test_gru_cell_equals_the_gate_equations_written_out() -> None:
    model = gru(D, seed=2)
    p = [np.asarray(a, np.float64) for a in model.params()]
    w_in, w_h, bias = p[0], p[1], p[2]
    h = np.asarray(jax.random.normal(jax.random.key(3), (4, 8)), np.float64)
    x = np.array([0.0, 1.0, 1.0, 0.0])
    want = np.empty_like(h)
    for b in range(4):
        z = sigmoid(x[b] * w_in[0] + w_h[0] @ h[b] + bias[0])
        r = sigmoid(x[b] * w_in[1] + w_h[1] @ h[b] + bias[1])
        n = np.tanh(x[b] * w_in[2] + w_h[2] @ (r * h[b]) + bias[2])
        want[b] = (1 - z) * n + z * h[b]
    got = gru_cell(model.params(), h.astype(np.float32), x.astype(np.float32))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_gru_logits_read_the_state_before_each_input() -> None:
    d = D
    model = gru(d, seed=4)
    params = model.params()
    x = np.asarray(all_binary_vectors(d))[::5]
    h = np.broadcast_to(np.asarray(params.h0), (len(x), 8))
    want = np.empty(x.shape)
    for i in range(d):
        want[:, i] = h @ np.asarray(params.readout) + np.asarray(params.out_bias)[i]
        h = np.asarray(gru_cell(params, jnp.asarray(h, jnp.float32), x[:, i]))
    np.testing.assert_allclose(gru_logits(params, x), want, atol=1e-5)


def test_causal_mask_allows_each_position_and_the_earlier_ones() -> None:
    m = np.asarray(causal_mask(6))
    np.testing.assert_array_equal(m, np.array([[j <= i for j in range(6)] for i in range(6)]))


def test_causal_self_attention_equals_masked_softmax_attention_written_out() -> None:
    b, t, m, heads = 2, 5, 6, 3
    keys = jax.random.split(jax.random.key(5), 5)
    h = np.asarray(jax.random.normal(keys[0], (b, t, m)), np.float64)
    w = [np.asarray(jax.random.normal(k, (m * m,)).reshape(m, m), np.float64) for k in keys[1:]]
    dh = m // heads
    q, k, v = h @ w[0], h @ w[1], h @ w[2]
    want = np.zeros((b, t, m))
    for n in range(b):
        for a in range(heads):
            cols = slice(a * dh, (a + 1) * dh)
            for i in range(t):
                s = np.array([q[n, i, cols] @ k[n, j, cols] / np.sqrt(dh) for j in range(i + 1)])
                weights = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
                want[n, i, cols] = weights @ v[n, : i + 1, cols]
    want = want @ w[3]
    got = causal_self_attention(h.astype(np.float32), *(a.astype(np.float32) for a in w), heads)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_shift_right_feeds_each_position_the_previous_symbol_and_a_start_flag() -> None:
    x = jnp.array([[1.0, 0.0, 1.0, 1.0]])
    u = np.asarray(shift_right(x))
    np.testing.assert_array_equal(u[0, :, 0], [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(u[0, :, 1], [1.0, 0.0, 0.0, 0.0])


# ----------------------------------------------------------------------------- distributions


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_the_receptive_field_of_a_sequence_model_has_no_blind_spot(make) -> None:
    """Unlike a PixelCNN, both see every earlier pixel of a 3x4 image."""
    model = make(12, seed=8)
    field = np.asarray(receptive_field(model, (3, 4), (2, 1))) > 0
    np.testing.assert_array_equal(field.ravel(), np.arange(12) < 2 * 4 + 1)


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_samples_follow_the_density(make) -> None:
    model = make(D, seed=9)
    samples = np.asarray(model.sample(jax.random.key(10), N))
    assert set(np.unique(samples)) <= {0.0, 1.0}
    assert chi_square_p_value(samples, log_prob(model, all_binary_vectors(D))) > 1e-3


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_inpainting_an_observed_prefix_samples_the_exact_conditional(make) -> None:
    d, n, prefix = D, N, np.array([1.0, 0.0])
    model = make(d, seed=13)
    values = jnp.broadcast_to(jnp.concatenate([prefix, jnp.zeros(d - 2)]), (n, d))
    x = np.asarray(model.sample(jax.random.key(14), n, observed=(values, jnp.arange(d) < 2)))
    np.testing.assert_array_equal(x[:, :2], np.broadcast_to(prefix, (n, 2)))
    rest = np.asarray(all_binary_vectors(d - 2))
    full = np.concatenate([np.broadcast_to(prefix, (len(rest), 2)), rest], axis=1)
    assert chi_square_p_value(x[:, 2:], log_prob(model, full)) > 1e-3


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_training_with_fit_compiles_once_and_learns_a_copy_rule(make) -> None:
    """Data where x_i = x_{i-1} for i > 1 and x_1 is a fair coin: the best NLL is log 2 nats
    per sequence. A model that reads the past gets close; an independent one cannot
    (its best is d log 2)."""
    d = D
    coin = np.asarray(jax.random.bernoulli(jax.random.key(17), 0.5, (256, 1)), np.float32)
    data = np.broadcast_to(coin, (256, d)).copy()
    model = make(d, seed=18)
    result = train.fit(model, nll_loss, data, key=jax.random.key(19), steps=100, batch_size=64,
                       optimizer=optax.adam(5e-2), steps_per_dispatch=50, progress=False)
    assert result.traces <= 1
    nll = -float(jnp.mean(log_prob(model, data)))
    assert nll < np.log(2) + 0.15


# ----------------------------------------------------------------------------- errors


def _bad_calls():
    rngs = nnx.Rngs(0)
    g = GRUAutoregressive(3, hidden_size=4, rngs=rngs)
    t = CausalTransformer(3, width=4, num_heads=2, rngs=rngs)
    gp = g.params()
    tp = t.params()
    w = jnp.zeros((4, 4))
    return [
        ("mask n", lambda: causal_mask(0), ValueError, "causal_mask: argument 'n' must be a positive int"),
        ("gru_cell h", lambda: gru_cell(gp, jnp.zeros((2, 5)), jnp.zeros(2)), ValueError, "gru_cell: argument 'h' must have shape (batch, 4)"),
        ("gru_cell x", lambda: gru_cell(gp, jnp.zeros((2, 4)), jnp.zeros((2, 1))), ValueError, "gru_cell: argument 'x' must have shape (2,)"),
        ("gru_cell w_in", lambda: gru_cell(GRUParams(jnp.zeros((3, 5)), *gp[1:]), jnp.zeros((2, 4)), jnp.zeros(2)), ValueError, "gru_cell: argument 'w_in' must have shape (3, 4)"),
        ("gru_logits x", lambda: gru_logits(gp, jnp.zeros((2, 4))), ValueError, "gru_logits: argument 'x' must have shape (batch, 3)"),
        ("gru_logits readout", lambda: gru_logits(GRUParams(*gp[:4], jnp.zeros(5), gp[5]), jnp.zeros((2, 3))), ValueError, "gru_logits: argument 'readout' must have shape (4,)"),
        ("gru_logits h0", lambda: gru_logits(gp._replace(h0=jnp.zeros(3)), jnp.zeros((2, 3))), ValueError, "gru_logits: argument 'h0' must have shape (4,)"),
        ("gru_logits w_h", lambda: gru_logits(gp._replace(w_h=jnp.zeros((3, 4, 5))), jnp.zeros((2, 3))), ValueError, "gru_logits: argument 'w_h' must have shape (3, 4, 4)"),
        ("attention h", lambda: causal_self_attention(jnp.zeros((5, 4)), w, w, w, w, 2), ValueError, "causal_self_attention: argument 'h' must have shape (batch, T, M)"),
        ("attention w", lambda: causal_self_attention(jnp.zeros((1, 5, 4)), w, w, jnp.zeros((4, 3)), w, 2), ValueError, "causal_self_attention: argument 'w_v' must have shape (4, 4)"),
        ("attention heads", lambda: causal_self_attention(jnp.zeros((1, 5, 4)), w, w, w, w, 3), ValueError, "causal_self_attention: argument 'num_heads' (3) must divide the width M (4)"),
        ("attention int", lambda: causal_self_attention(jnp.zeros((1, 5, 4), jnp.int32), w, w, w, w, 2), TypeError, "causal_self_attention: argument 'h' must be a floating-point array"),
        ("shift_right", lambda: shift_right(jnp.zeros(3)), ValueError, "shift_right: argument 'x' must have shape (batch, D)"),
        ("transformer_logits x", lambda: transformer_logits(tp, jnp.zeros((2, 4)), 2), ValueError, "transformer_logits: argument 'x' must have shape (batch, 3)"),
        ("transformer_logits embed", lambda: transformer_logits(tp._replace(embed=jnp.zeros((3, 4))), jnp.zeros((2, 3)), 2), ValueError, "transformer_logits: argument 'embed' must have shape (2, 4)"),
        ("transformer_logits mlp_in", lambda: transformer_logits(tp._replace(mlp_in=jnp.zeros((2, 4, 4))), jnp.zeros((2, 3)), 2), ValueError, "transformer_logits: argument 'mlp_in' must have shape (2, 4, 8)"),
        ("transformer_logits num_heads", lambda: transformer_logits(tp, jnp.zeros((2, 3)), 3), ValueError, "transformer_logits: argument 'num_heads' (3) must divide the width M (4)"),
        ("gru ctor rngs", lambda: GRUAutoregressive(3, rngs=1), TypeError, "GRUAutoregressive: argument 'rngs' must be an nnx.Rngs"),
        ("gru ctor no rngs", lambda: GRUAutoregressive(3), TypeError, "rngs"),
        ("gru ctor d", lambda: GRUAutoregressive(0, rngs=rngs), ValueError, "GRUAutoregressive: argument 'd' must be a positive int"),
        ("gru ctor hidden_size", lambda: GRUAutoregressive(3, hidden_size=0, rngs=rngs), ValueError, "GRUAutoregressive: argument 'hidden_size' must be a positive int"),
        ("transformer ctor rngs", lambda: CausalTransformer(3, rngs=None), TypeError, "CausalTransformer: argument 'rngs' must be an nnx.Rngs"),
        ("transformer ctor d", lambda: CausalTransformer(0, rngs=rngs), ValueError, "CausalTransformer: argument 'd' must be a positive int"),
        ("transformer ctor width", lambda: CausalTransformer(3, width=0, rngs=rngs), ValueError, "CausalTransformer: argument 'width' must be a positive int"),
        ("transformer ctor heads", lambda: CausalTransformer(3, width=6, num_heads=4, rngs=rngs), ValueError, "CausalTransformer: argument 'num_heads' (4) must divide 'width' (6)"),
        ("transformer ctor layers", lambda: CausalTransformer(3, num_layers=0, rngs=rngs), ValueError, "CausalTransformer: argument 'num_layers' must be a positive int"),
    ]


@bad_calls(_bad_calls())
def test_wrong_shapes_and_dtypes_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)
