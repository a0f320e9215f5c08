r"""A GRU as an autoregressive model of binary vectors: the past :math:`x_{<i}` squeezed into
one hidden state :math:`h_{i-1} = \mathrm{GRU}(h_{i-2}, x_{i-1})`, updated once per step by a
``lax.scan`` (:func:`gru_cell`, :func:`gru_logits`). Any length, constant memory, but the steps
run one after the other, in training as in sampling; the sampler carries the hidden state."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from ..checks import check_array, check_positive_int, check_rngs
from ..nn import normal_init
from .base import AutoregressiveBernoulli, Recurrence

Array = jax.Array

__all__ = [
    "GRUAutoregressive",
    "GRUParams",
    "gru_cell",
    "gru_logits",
]

# --------------------------------------------------------------------------------------------
# Recurrent network
# --------------------------------------------------------------------------------------------


class GRUParams(NamedTuple):
    r"""The arrays of a GRU autoregressive model with ``H`` hidden units over ``D`` steps.

    w_in ``(3, H)``: what the input bit adds to the update, reset and candidate gates;
    w_h ``(3, H, H)``: the recurrent weights of the three gates; bias ``(3, H)``;
    h0 ``(H,)``: the learned state before the first pixel; readout ``(H,)`` and out_bias
    ``(D,)``: the logit :math:`\ell_i = v^\top h_{i-1} + b_i` (:math:`v` the readout,
    :math:`b` the out_bias).
    """

    w_in: Array
    w_h: Array
    bias: Array
    h0: Array
    readout: Array
    out_bias: Array


def gru_cell(params: GRUParams, h: Array, x: Array) -> Array:
    r"""One step of a gated recurrent unit (Cho et al., 2014) on a scalar input :math:`x`:

    .. math:: z = \sigma(x\, w^z + U^z h + b^z), \qquad r = \sigma(x\, w^r + U^r h + b^r),

    .. math:: \tilde h = \tanh\bigl(x\, w^n + U^n (r \odot h) + b^n\bigr), \qquad
              h' = (1 - z) \odot \tilde h + z \odot h.

    The update gate :math:`z` decides how much of the old summary to keep; the reset gate
    :math:`r` how much of it the candidate :math:`\tilde h` reads.

    Args:
        params: :class:`GRUParams` (``w_in``, ``w_h``, ``bias`` are used).
        h: the hidden state, float32 of shape ``(batch, H)``.
        x: the input bits, float32 of shape ``(batch,)``.

    Returns:
        float32 array of shape ``(batch, H)``, the new state.
    """
    where = "gru_cell"
    params, hid = _check_cell(where, params)
    h = check_array(where, "h", h, shape=("batch", hid))
    x = check_array(where, "x", x, shape=(h.shape[0],))
    return _gru_cell(params, h, x)


def _check_cell(where: str, params: GRUParams) -> tuple[GRUParams, int]:
    """Check the gate arrays; return the params (as arrays) and ``H``."""
    hid = check_array(where, "w_h", params.w_h, shape=(3, "H", "H")).shape[1]
    w_h = check_array(where, "w_h", params.w_h, shape=(3, hid, hid))  # square
    w_in = check_array(where, "w_in", params.w_in, shape=(3, hid))
    bias = check_array(where, "bias", params.bias, shape=(3, hid))
    return params._replace(w_in=w_in, w_h=w_h, bias=bias), hid


def _check_gru(where: str, params: GRUParams) -> tuple[GRUParams, int]:
    """Check every array of the model; return the params (as arrays) and ``D``."""
    params, hid = _check_cell(where, params)
    h0 = check_array(where, "h0", params.h0, shape=(hid,))
    readout = check_array(where, "readout", params.readout, shape=(hid,))
    out_bias = check_array(where, "out_bias", params.out_bias, shape=("D",))
    return params._replace(h0=h0, readout=readout, out_bias=out_bias), out_bias.shape[0]


def _gru_cell(params: GRUParams, h: Array, x: Array) -> Array:
    gate_in = x[:, None, None] * params.w_in + params.bias  # (batch, 3, H)
    z = jax.nn.sigmoid(gate_in[:, 0] + h @ params.w_h[0].T)
    r = jax.nn.sigmoid(gate_in[:, 1] + h @ params.w_h[1].T)
    candidate = jnp.tanh(gate_in[:, 2] + (r * h) @ params.w_h[2].T)
    return (1.0 - z) * candidate + z * h


def gru_logits(params: GRUParams, x: Array) -> Array:
    r"""The logits of all ``D`` conditionals of the GRU model, in ONE ``lax.scan`` over ``x``:

    .. math:: \ell_i = v^\top h_{i-1} + b_i, \qquad h_i = \mathrm{GRU}(h_{i-1}, x_i),
              \qquad i = 1, \dots, D,

    with :math:`h_0` learned. :math:`h_{i-1}` has seen :math:`x_1, \dots, x_{i-1}` only: the
    one-vector summary of the past, so :math:`\ell_i` depends on :math:`x_{<i}` only.

    Args:
        params: :class:`GRUParams`.
        x: float32 zeros and ones, shape ``(batch, D)``.

    Returns:
        float32 array of shape ``(batch, D)``.
    """
    where = "gru_logits"
    params, d = _check_gru(where, params)
    x = check_array(where, "x", x, shape=("batch", d))
    return _gru_logits(params, x)


def _gru_logits(params: GRUParams, x: Array) -> Array:
    h0 = jnp.broadcast_to(params.h0, (x.shape[0], params.h0.shape[0]))

    def step(h: Array, x_i: Array) -> tuple[Array, Array]:
        return _gru_cell(params, h, x_i), h @ params.readout

    _, reads = lax.scan(step, h0, x.T)  # reads[i] = v . h_{i-1}, shape (D, batch)
    return reads.T + params.out_bias


class GRUAutoregressive(AutoregressiveBernoulli):
    r"""A GRU over the ``D`` binary variables in their natural order (pixels in raster order).

    ``sample`` (inherited) scans its :meth:`recurrence`: ``D`` GRU steps whose carried state
    summarises the past, :math:`O(D)` work instead of a full pass per pixel; observed entries
    are kept exactly and fed to the GRU like drawn ones.

    Parameters (``nnx.Param``, see :class:`GRUParams`): gates ``w_in`` ``(3, H)``, ``w_h``
    ``(3, H, H)``, ``bias`` ``(3, H)``; the initial state ``h0`` ``(H,)``; the readout ``(H,)``
    and a per-position ``out_bias`` ``(D,)`` (the only place the model is told WHERE it is,
    besides what it counts). :math:`3H^2 + 8H + D` parameters, independent of ``D`` except for
    the bias. Initialisation: recurrent weights orthogonal-ish :math:`\mathcal N(0, 1/H)`,
    input weights :math:`\mathcal N(0, 1)`, readout :math:`\mathcal N(0, 1/H)`, the rest zero.

    Args:
        d: the sequence length ``D``.
        hidden_size: ``H``, hidden units (default 64).
        rngs: ``nnx.Rngs`` for the initial weights (three ``rngs.params()`` keys).

    Members: ``conditionals(x) -> (batch, D)`` (:func:`gru_logits`, one scan);
    ``log_prob(x) -> (batch,)`` nats (inherited); ``sample(key, n, observed=None) -> (n, D)``,
    one scan of ``D`` cell steps carrying the hidden state (draw :math:`x_i` from
    :math:`\ell_i = v^\top h_{i-1} + b_i`, or keep the observed value, then update
    :math:`h_i`); ``recurrence(canvas)``; ``params() -> GRUParams``.
    """

    def __init__(self, d: int, hidden_size: int = 64, *, rngs: nnx.Rngs) -> None:
        where = "GRUAutoregressive"
        self.d = check_positive_int(where, "d", d)
        h = self.hidden_size = check_positive_int(where, "hidden_size", hidden_size)
        rngs = check_rngs(where, rngs)
        self.w_in = nnx.Param(normal_init(rngs.params(), (3, h), 1))
        self.w_h = nnx.Param(normal_init(rngs.params(), (3, h, h), h))
        self.bias = nnx.Param(jnp.zeros((3, h), jnp.float32))
        self.h0 = nnx.Param(jnp.zeros((h,), jnp.float32))
        self.readout = nnx.Param(normal_init(rngs.params(), (h,), h))
        self.out_bias = nnx.Param(jnp.zeros((self.d,), jnp.float32))

    def params(self) -> GRUParams:
        """The current parameter values as a :class:`GRUParams` of arrays."""
        return GRUParams(*(getattr(self, f)[...] for f in GRUParams._fields))

    def _conditionals(self, x: Array) -> Array:
        return _gru_logits(self.params(), x)

    def _recurrence(self, canvas: Array) -> Recurrence:
        r"""Carry the hidden state: read :math:`\ell_i = v^\top h_{i-1} + b_i`, write
        :math:`h_i = \mathrm{GRU}(h_{i-1}, x_i)`, from :math:`h_0` (``canvas`` gives ``n``)."""
        params = self.params()
        h0 = jnp.broadcast_to(params.h0, (canvas.shape[0], self.hidden_size))

        def read(h: Array, i: Array) -> Array:
            return h @ params.readout + params.out_bias[i]

        def write(h: Array, i: Array, x_i: Array) -> Array:
            return _gru_cell(params, h, x_i)

        return Recurrence(h0, read, write)


