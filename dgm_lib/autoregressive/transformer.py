r"""Causal self-attention as an autoregressive model of binary vectors: position :math:`i`
reads every earlier position directly through attention weights, masked by
:func:`causal_mask` so that it never sees the future (:func:`causal_self_attention`,
:func:`transformer_logits`). All positions are computed in parallel in training; the cost is
:math:`O(D^2)` per layer. Sampling carries a key-value cache (each layer's keys and values of
the positions drawn so far), so a step runs one position, not the whole network."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from ..checks import check_array, check_positive_int, check_rngs
from ..nn import normal_init
from .base import AutoregressiveBernoulli, Recurrence

Array = jax.Array

__all__ = [
    "CausalTransformer",
    "TransformerParams",
    "causal_mask",
    "causal_self_attention",
    "shift_right",
    "transformer_logits",
]

# --------------------------------------------------------------------------------------------
# Causal self-attention
# --------------------------------------------------------------------------------------------


def causal_mask(n: int) -> Array:
    r"""The causal attention mask :math:`M_{ij} = 1[j \le i]`: position ``i`` may attend to
    itself and to every earlier position, never to a later one.

    The diagonal is allowed because the transformer's input at position ``i`` is the PREVIOUS
    symbol :math:`x_{i-1}` (:func:`shift_right`), so what position ``i`` sees is
    :math:`x_{<i}`. Every row has at least one allowed entry, so the softmax is defined.

    Args:
        n: the sequence length, a positive int.

    Returns:
        boolean array of shape ``(n, n)``, lower-triangular including the diagonal.
    """
    return _causal_mask(check_positive_int("causal_mask", "n", n))


def _causal_mask(n: int) -> Array:
    return jnp.asarray(np.tril(np.ones((n, n), bool)))  # a constant: no device op when traced


def causal_self_attention(
    h: Array, w_q: Array, w_k: Array, w_v: Array, w_o: Array, num_heads: int
) -> Array:
    r"""Multi-head self-attention with the causal mask (Vaswani et al., 2017):

    .. math:: Q = h W_Q,\ K = h W_K,\ V = h W_V \quad\text{split into } n_{\text{heads}}
              \text{ heads of size } d_h = M / n_{\text{heads}},

    .. math:: A^{(a)}_{ij} = \frac{\exp(q^{(a)}_i \cdot k^{(a)}_j / \sqrt{d_h})\, M_{ij}}
              {\sum_{j'} \exp(q^{(a)}_i \cdot k^{(a)}_{j'} / \sqrt{d_h})\, M_{ij'}}, \qquad
              \text{out}_i = \Bigl[\textstyle\sum_j A^{(a)}_{ij} v^{(a)}_j\Bigr]_{a} W_O,

    with :math:`M` = :func:`causal_mask`. Masked scores are set to :math:`-\infty` before the
    softmax, so their weights are exactly zero and ``out[:, i]`` does not depend on
    ``h[:, j]`` for ``j > i`` at all.

    Args:
        h: float32 of shape ``(batch, T, M)``.
        w_q, w_k, w_v, w_o: float32 of shape ``(M, M)``.
        num_heads: :math:`n_{\text{heads}}`, a positive int dividing ``M``.

    Returns:
        float32 array of shape ``(batch, T, M)``.
    """
    where = "causal_self_attention"
    h = check_array(where, "h", h, shape=("batch", "T", "M"))
    m = h.shape[2]
    w_q, w_k, w_v, w_o = (
        check_array(where, name, w, shape=(m, m))
        for name, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v), ("w_o", w_o))
    )
    num_heads = _check_num_heads(where, num_heads, m, "the width M")
    return _causal_self_attention(h, w_q, w_k, w_v, w_o, num_heads)


def _check_num_heads(where: str, num_heads: int, m: int, width: str) -> int:
    num_heads = check_positive_int(where, "num_heads", num_heads)
    if m % num_heads:
        raise ValueError(
            f"{where}: argument 'num_heads' ({num_heads}) must divide {width} ({m})"
        )
    return num_heads


_ATTENTION_CHUNK = 4
"""Examples whose attention weights are computed together. A ``(T, T)`` score matrix per head
and example is a few megabytes at ``T = 784``; chunks of a few examples keep them in the cache
where a whole batch would stream gigabytes through memory (measured on 2 CPU cores, width 16,
``T = 784``: 1.7 ms per image in chunks of 2 or 4, against 6.4 ms for a batch of 100 at once)."""


def _causal_self_attention(
    h: Array, w_q: Array, w_k: Array, w_v: Array, w_o: Array, num_heads: int
) -> Array:
    b, t, m = h.shape
    dh = m // num_heads
    q, k, v = ((h @ w).reshape(b, t, num_heads, dh) for w in (w_q, w_k, w_v))

    def attend(qkv: tuple[Array, Array, Array]) -> Array:
        """One example: ``(T, heads, d_h)`` queries, keys and values to its outputs."""
        q, k, v = qkv
        scores = jnp.einsum("ina,jna->nij", q, k) / jnp.sqrt(jnp.float32(dh))
        weights = jax.nn.softmax(jnp.where(_causal_mask(t), scores, -jnp.inf), axis=-1)
        return jnp.einsum("nij,jna->ina", weights, v)

    out = lax.map(attend, (q, k, v), batch_size=max(1, min(b, _ATTENTION_CHUNK)))
    return out.reshape(b, t, m) @ w_o


def shift_right(x: Array) -> Array:
    r"""The inputs of an autoregressive sequence model: :math:`u_1 = 0`, :math:`u_i = x_{i-1}`,
    and a flag that is one at the first position only (so the start is not read as a zero).

    Args:
        x: float32, shape ``(batch, D)``.

    Returns:
        float32 array of shape ``(batch, D, 2)``: channel 0 is :math:`x_{i-1}` (zero at
        :math:`i = 1`), channel 1 is the start flag :math:`1[i = 1]`.
    """
    return _shift_right(check_array("shift_right", "x", x, shape=("batch", "D")))


def _shift_right(x: Array) -> Array:
    previous = jnp.concatenate([jnp.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
    start = jnp.zeros_like(x).at[:, 0].set(1.0)
    return jnp.stack([previous, start], axis=-1)


class TransformerParams(NamedTuple):
    """The arrays of a causal transformer of width ``M`` with ``L`` layers over ``D`` positions.

    embed ``(2, M)``: what :math:`x_{i-1}` and the start flag add; positions ``(D, M)``: the
    learned position embeddings; per layer, stacked on a leading axis of size ``L``:
    ln1 ``(L, 2, M)`` and ln2 ``(L, 2, M)`` (layer-norm scale and shift), attn ``(L, 4, M, M)``
    (:math:`W_Q, W_K, W_V, W_O`), mlp_in ``(L, M, 2M)``, mlp_in_bias ``(L, 2M)``, mlp_out
    ``(L, 2M, M)``, mlp_out_bias ``(L, M)``; then ln_out ``(2, M)``, readout ``(M,)`` and
    out_bias ``(D,)``.
    """

    embed: Array
    positions: Array
    ln1: Array
    ln2: Array
    attn: Array
    mlp_in: Array
    mlp_in_bias: Array
    mlp_out: Array
    mlp_out_bias: Array
    ln_out: Array
    readout: Array
    out_bias: Array


def _layer_norm(h: Array, scale_shift: Array) -> Array:
    """Normalise each position over its ``M`` features, then scale and shift (Ba et al.)."""
    mean = jnp.mean(h, axis=-1, keepdims=True)
    var = jnp.var(h, axis=-1, keepdims=True)
    return (h - mean) * lax.rsqrt(var + 1e-5) * scale_shift[0] + scale_shift[1]


def transformer_logits(params: TransformerParams, x: Array, num_heads: int) -> Array:
    r"""The logits of all ``D`` conditionals of a causal (pre-norm) transformer, one pass:

    .. math:: h^{(0)}_i = E^\top u_i + P_i, \qquad u = \text{shift\_right}(x),

    .. math:: g = h^{(l-1)} + \mathrm{Attn}_{\text{causal}}\bigl(\mathrm{LN}(h^{(l-1)})\bigr),
              \qquad h^{(l)} = g + W_2\, \mathrm{GELU}\bigl(W_1 \mathrm{LN}(g) + c_1\bigr) + c_2,

    .. math:: \ell_i = v^\top \mathrm{LN}(h^{(L)}_i) + b_i.

    Position ``i`` holds :math:`x_{i-1}` and attends to positions :math:`j \le i`, so
    :math:`\ell_i` depends on :math:`x_{<i}` only. Layers run in one ``lax.scan``.

    Args:
        params: :class:`TransformerParams`.
        x: float32 zeros and ones, shape ``(batch, D)``.
        num_heads: attention heads per layer, dividing the width ``M``.

    Returns:
        float32 array of shape ``(batch, D)``.
    """
    where = "transformer_logits"
    params = _check_params(where, params)
    d, m = params.positions.shape
    x = check_array(where, "x", x, shape=("batch", d))
    return _transformer_logits(params, x, _check_num_heads(where, num_heads, m, "the width M"))


def _check_params(where: str, params: TransformerParams) -> TransformerParams:
    """Check the shape of every array of :class:`TransformerParams`."""
    positions = check_array(where, "positions", params.positions, shape=("D", "M"))
    d, m = positions.shape
    num_layers = check_array(where, "attn", params.attn, shape=("L", 4, m, m)).shape[0]
    shapes = {
        "embed": (2, m),
        "positions": (d, m),
        "ln1": (num_layers, 2, m),
        "ln2": (num_layers, 2, m),
        "attn": (num_layers, 4, m, m),
        "mlp_in": (num_layers, m, 2 * m),
        "mlp_in_bias": (num_layers, 2 * m),
        "mlp_out": (num_layers, 2 * m, m),
        "mlp_out_bias": (num_layers, m),
        "ln_out": (2, m),
        "readout": (m,),
        "out_bias": (d,),
    }
    return TransformerParams(
        *(check_array(where, f, getattr(params, f), shape=shapes[f]) for f in params._fields)
    )


def _transformer_logits(params: TransformerParams, x: Array, num_heads: int) -> Array:
    h = _shift_right(x) @ params.embed + params.positions

    def layer(h: Array, p: tuple[Array, ...]) -> tuple[Array, None]:
        ln1, attn, *mlp = p
        h = h + _causal_self_attention(_layer_norm(h, ln1), *attn, num_heads)
        return _mlp_block(h, *mlp), None

    h, _ = lax.scan(layer, h, _layers(params))
    return _layer_norm(h, params.ln_out) @ params.readout + params.out_bias


def _layers(params: TransformerParams) -> tuple[Array, ...]:
    """The per-layer arrays, stacked on axis 0, in the order a block reads them."""
    return (params.ln1, params.attn, params.ln2, params.mlp_in, params.mlp_in_bias,
            params.mlp_out, params.mlp_out_bias)


def _mlp_block(h: Array, ln2: Array, w1: Array, c1: Array, w2: Array, c2: Array) -> Array:
    r"""The residual MLP of a block, :math:`h + W_2\, \mathrm{GELU}(W_1 \mathrm{LN}(h) + c_1) +
    c_2`, on the last axis (any number of positions)."""
    return h + jax.nn.gelu(_layer_norm(h, ln2) @ w1 + c1) @ w2 + c2


class _Cache(NamedTuple):
    """What the key-value recurrence carries: each layer's keys and values of the positions
    computed so far (``(L, n, D, M)`` each, zeros beyond) and the logit of the next one."""

    keys: Array
    values: Array
    logit: Array


def _cached_position(params: TransformerParams, cache: _Cache, p: Array, u: Array,
                     num_heads: int) -> _Cache:
    r"""Run position ``p`` (input ``u``, ``(n, 2)``: :math:`x_{p-1}` and the start flag) through
    the blocks, attending to the cached keys and values of positions :math:`j \le p`; store
    its own and return its logit. :math:`O(L(M^2 + DM))` work per example, against the
    :math:`O(LD(M^2 + DM))` of a whole pass."""
    n, m = u.shape[0], params.embed.shape[1]
    d, dh = params.positions.shape[0], m // num_heads
    h = u @ params.embed + params.positions[p]
    seen = jnp.arange(d) <= p

    def layer(h: Array, xs: tuple) -> tuple[Array, tuple[Array, Array]]:
        (ln1, (w_q, w_k, w_v, w_o), *mlp), keys, values = xs
        a = _layer_norm(h, ln1)
        keys = lax.dynamic_update_index_in_dim(keys, a @ w_k, p, axis=1)
        values = lax.dynamic_update_index_in_dim(values, a @ w_v, p, axis=1)
        q = (a @ w_q).reshape(n, num_heads, dh)
        scores = jnp.einsum("bna,bjna->bnj", q, keys.reshape(n, d, num_heads, dh))
        scores = jnp.where(seen, scores / jnp.sqrt(jnp.float32(dh)), -jnp.inf)
        weights = jax.nn.softmax(scores, axis=-1)
        out = jnp.einsum("bnj,bjna->bna", weights, values.reshape(n, d, num_heads, dh))
        return _mlp_block(h + out.reshape(n, m) @ w_o, *mlp), (keys, values)

    h, (keys, values) = lax.scan(layer, h, (_layers(params), cache.keys, cache.values))
    logit = _layer_norm(h, params.ln_out) @ params.readout + params.out_bias[p]
    return _Cache(keys, values, logit)


class CausalTransformer(AutoregressiveBernoulli):
    r"""A small causal transformer over the ``D`` binary variables (pixels in raster order).

    Parameters (``nnx.Param``, see :class:`TransformerParams`): input and learned position
    embeddings, ``num_layers`` pre-norm blocks of ``num_heads``-head causal self-attention and
    a ``M -> 2M -> M`` GELU MLP, a final layer norm and a readout with a per-position bias.
    Initialisation: weights :math:`\mathcal N(0, 1/\text{fan-in})`, position embeddings
    :math:`\mathcal N(0, 0.1^2)`, layer-norm scales one, biases and shifts zero.

    Args:
        d: the sequence length ``D``.
        width: ``M``, features per position (default 32).
        num_layers: ``L``, attention blocks (default 2).
        num_heads: heads per block, dividing ``width`` (default 4).
        rngs: ``nnx.Rngs`` for the initial weights (six ``rngs.params()`` keys).

    Members: ``conditionals(x) -> (batch, D)`` (:func:`transformer_logits`, one parallel
    pass); ``log_prob(x) -> (batch,)`` nats and ``sample(key, n, observed=None) -> (n, D)``
    (a ``lax.scan`` of ``D`` steps on the key-value cache of ``recurrence(canvas)``,
    :math:`O(D^2)` work in all where rerunning the network on the canvas costs
    :math:`O(D^3)`); ``params() -> TransformerParams``.
    """

    def __init__(
        self,
        d: int,
        *,
        width: int = 32,
        num_layers: int = 2,
        num_heads: int = 4,
        rngs: nnx.Rngs,
    ) -> None:
        where = "CausalTransformer"
        self.d = check_positive_int(where, "d", d)
        m = self.width = check_positive_int(where, "width", width)
        nl = self.num_layers = check_positive_int(where, "num_layers", num_layers)
        self.num_heads = _check_num_heads(where, num_heads, m, "'width'")
        rngs = check_rngs(where, rngs)

        def normal(shape: tuple[int, ...], fan_in: int, scale: float = 1.0) -> nnx.Param:
            return nnx.Param(scale * normal_init(rngs.params(), shape, fan_in))

        def norm_params(*lead: int) -> nnx.Param:
            ones_zeros = jnp.stack([jnp.ones((m,), jnp.float32), jnp.zeros((m,), jnp.float32)])
            return nnx.Param(jnp.broadcast_to(ones_zeros, (*lead, 2, m)))

        self.embed = normal((2, m), 1)
        self.positions = normal((self.d, m), 1, scale=0.1)
        self.ln1 = norm_params(nl)
        self.ln2 = norm_params(nl)
        self.attn = normal((nl, 4, m, m), m)
        self.mlp_in = normal((nl, m, 2 * m), m)
        self.mlp_in_bias = nnx.Param(jnp.zeros((nl, 2 * m), jnp.float32))
        self.mlp_out = normal((nl, 2 * m, m), 2 * m)
        self.mlp_out_bias = nnx.Param(jnp.zeros((nl, m), jnp.float32))
        self.ln_out = norm_params()
        self.readout = normal((m,), m)
        self.out_bias = nnx.Param(jnp.zeros((self.d,), jnp.float32))

    def params(self) -> TransformerParams:
        """The current parameter values as a :class:`TransformerParams` of arrays."""
        return TransformerParams(*(getattr(self, f)[...] for f in TransformerParams._fields))

    def _conditionals(self, x: Array) -> Array:
        return _transformer_logits(self.params(), x, self.num_heads)

    def _recurrence(self, canvas: Array) -> Recurrence:
        r"""The key-value cache: carry every layer's keys and values of the positions done.
        Write :math:`x_i` runs position :math:`i + 1` (input :math:`x_i`) through the blocks,
        attending to the cache, and keeps its logit for the next read; the state starts with
        position 0 (the start flag) done, and the variables are visited in their natural
        order (the model's only one). A step costs one position, not a pass of ``D``."""
        params, n, m = self.params(), canvas.shape[0], self.width
        empty = jnp.zeros((self.num_layers, n, self.d, m), jnp.float32)
        start = jnp.broadcast_to(jnp.array([0.0, 1.0], jnp.float32), (n, 2))
        cache = _cached_position(params, _Cache(empty, empty, jnp.zeros((n,))), jnp.int32(0),
                                 start, self.num_heads)

        def read(cache: _Cache, i: Array) -> Array:
            return cache.logit

        def write(cache: _Cache, i: Array, x_i: Array) -> _Cache:
            u = jnp.stack([x_i, jnp.zeros_like(x_i)], axis=-1)
            # after the last variable there is no position i + 1: position D - 1 is rerun,
            # and nothing reads it again
            return _cached_position(params, cache, jnp.minimum(i + 1, self.d - 1), u,
                                    self.num_heads)

        return Recurrence(cache, read, write)
