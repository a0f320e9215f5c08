r"""NADE, the neural autoregressive distribution estimator (Larochelle and Murray, 2011).

Each conditional of a binary vector :math:`x \in \{0, 1\}^D` is a one-hidden-layer network on
the earlier variables, and all ``D`` networks SHARE their weights:

.. math:: a_i = c + \sum_{j < i} W_{:, j}\, x_j, \qquad h_i = \sigma(a_i), \qquad
          \ell_i = b_i + V_i^\top h_i, \qquad p(x_i = 1 \mid x_{<i}) = \sigma(\ell_i),

with :math:`W \in \mathbb R^{H \times D}`, :math:`c \in \mathbb R^H`,
:math:`V \in \mathbb R^{D \times H}`, :math:`b \in \mathbb R^D`: :math:`2HD + H + D`
parameters, :math:`O(HD)` instead of the :math:`O(HD^2)` of ``D`` separate networks.

Sharing also makes the pass cheap: :math:`a_{i+1} = a_i + W_{:, i}\, x_i`, so the
pre-activations of all ``D`` conditionals are one EXCLUSIVE cumulative sum over the dimensions
(:func:`nade_preactivations`), :math:`O(HD)` work per example. :func:`nade_logits` runs that
recurrence as a ``lax.scan`` and writes its gradient out as the backward recurrence
(:func:`nade_logits` says how): on a CPU it never forms the ``(batch, D, H)`` tensor of
the cumulative sum, and a training step is about ten times faster.

:class:`NADE` subclasses :class:`dgm_lib.autoregressive.AutoregressiveBernoulli`: it writes
``conditionals(x)`` (the logits :math:`\ell`) and inherits ``log_prob(x)`` (nats) and
``sample(key, n, observed=None)`` (a ``lax.scan`` over the dimensions that carries
:math:`a_i`, :meth:`NADE.recurrence`). Build it with ``NADE(d, hidden_size, rngs=nnx.Rngs(0))``
and train it with ``train.fit(model, train.nll_loss, x, ...)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from ..checks import check_array, check_positive_int, check_rngs
from ..nn import host_rng
from .base import AutoregressiveBernoulli, Recurrence

Array = jax.Array

__all__ = ["NADE", "nade_logits", "nade_preactivations"]


@jax.jit
def _exclusive_cumsum(terms: Array) -> Array:
    """``out[..., i] = sum_{j < i} terms[..., j]`` over the last axis; ``out[..., 0] = 0``.

    Shifting the inclusive sum by one (instead of subtracting ``terms`` from it) keeps the
    dependence of entry ``i`` on ``terms[..., i]`` exactly zero, not zero up to rounding.
    """
    inclusive = jnp.cumsum(terms, axis=-1)
    return jnp.concatenate([jnp.zeros_like(inclusive[..., :1]), inclusive[..., :-1]], axis=-1)


def nade_preactivations(weight: Array, bias: Array, x: Array) -> Array:
    r"""The hidden pre-activations of all ``D`` conditionals in one pass:

    .. math:: a_i = c + \sum_{j < i} W_{:, j}\, x_j, \qquad i = 1, \dots, D,

    an exclusive cumulative sum over the dimensions, so :math:`a_1 = c` and :math:`a_i` never
    sees :math:`x_j` for :math:`j \ge i`. The inputs may be real (RNADE uses the same sum on
    continuous data).

    Args:
        weight: :math:`W`, float32 of shape ``(H, D)``; column ``j`` is what :math:`x_j` adds.
        bias: :math:`c`, float32 of shape ``(H,)``.
        x: float32, shape ``(batch, D)``.

    Returns:
        float32 array of shape ``(batch, D, H)``: row ``[b, i]`` is :math:`a_i` of example ``b``.
    """
    where = "nade_preactivations"
    weight = check_array(where, "weight", weight, shape=("H", "D"))
    h, d = weight.shape
    bias = check_array(where, "bias", bias, shape=(h,))
    x = check_array(where, "x", x, shape=("batch", d))
    return _nade_preactivations(weight, bias, x)


@jax.jit
def _nade_preactivations(weight: Array, bias: Array, x: Array) -> Array:
    terms = x[:, None, :] * weight  # (batch, H, D): W_{:, j} x_j
    return jnp.swapaxes(_exclusive_cumsum(terms), 1, 2) + bias


def nade_logits(weight: Array, bias: Array, out_weight: Array, out_bias: Array, x: Array) -> Array:
    r"""The logits of NADE's ``D`` conditionals, all at once:

    .. math:: \ell_i = b_i + V_i^\top \sigma\Bigl(c + \sum_{j < i} W_{:, j}\, x_j\Bigr),
              \qquad p(x_i = 1 \mid x_{<i}) = \sigma(\ell_i).

    On a CPU, computed as the recurrence :math:`a_{i+1} = a_i + W_{:, i}\, x_i`, one
    ``lax.scan`` step per dimension carrying the ``(batch, H)`` pre-activation, with a
    written-out reverse-mode gradient (the backward recurrence: reverse-mode autodiff of the
    scan would store all ``D`` pre-activations, and of the one-pass cumulative sum it moves
    ``(batch, D, H)`` tensors, 10x slower there). On an accelerator, where ``D`` sequential
    steps cost more than the big tensor, as the one-pass cumulative sum
    (:func:`nade_preactivations`); ``lax.platform_dependent`` picks where the program runs.
    Reverse mode (``jax.grad``, ``jax.vjp``) works in every argument, ``x`` included;
    forward mode (``jax.jvp``) is not defined.

    Args:
        weight: :math:`W`, float32 of shape ``(H, D)`` (input to hidden, shared).
        bias: :math:`c`, float32 of shape ``(H,)`` (hidden bias, shared).
        out_weight: :math:`V`, float32 of shape ``(D, H)``; row ``i`` reads :math:`h_i`.
        out_bias: :math:`b`, float32 of shape ``(D,)``.
        x: float32 zeros and ones, shape ``(batch, D)``.

    Returns:
        float32 array of shape ``(batch, D)``; entry ``i`` depends on ``x[:, :i]`` only.
    """
    where = "nade_logits"
    weight = check_array(where, "weight", weight, shape=("H", "D"))
    h, d = weight.shape
    bias = check_array(where, "bias", bias, shape=(h,))
    out_weight = check_array(where, "out_weight", out_weight, shape=(d, h))
    out_bias = check_array(where, "out_bias", out_bias, shape=(d,))
    x = check_array(where, "x", x, shape=("batch", d))
    return _nade_logits(weight, bias, out_weight, out_bias, x)


def _sigmoid(a: Array) -> Array:
    r""":math:`\sigma(a) = \tfrac12 \tanh(a / 2) + \tfrac12`: ``jax.nn.sigmoid`` to within
    2e-7 (absolute: a hidden unit needs no relative precision near 0), and faster in NADE's
    loops on XLA:CPU, whose vectorised tanh is cheaper than its logistic (sampling 20%, a
    training step 8%)."""
    return 0.5 * jnp.tanh(0.5 * a) + 0.5


def _nade_forward(columns: Array, bias: Array, out_weight: Array, out_bias: Array,
                  x: Array) -> tuple[Array, Array]:
    """The recurrence, one ``lax.scan`` step per dimension: ``(logits (batch, D), a_{D+1})``."""

    def step(a: Array, inputs: tuple[Array, Array, Array, Array]) -> tuple[Array, Array]:
        column, v, b, x_i = inputs
        return a + x_i[:, None] * column, _sigmoid(a) @ v + b

    a0 = jnp.broadcast_to(bias, (x.shape[0], bias.shape[0]))
    last, logits = lax.scan(step, a0, (columns, out_weight, out_bias, x.T))
    return logits.T, last


@jax.custom_vjp
def _nade_scan(columns: Array, bias: Array, out_weight: Array, out_bias: Array,
               x: Array) -> Array:
    return _nade_forward(columns, bias, out_weight, out_bias, x)[0]


def _nade_scan_fwd(columns: Array, bias: Array, out_weight: Array, out_bias: Array,
                   x: Array) -> tuple[Array, tuple[Array, ...]]:
    logits, last = _nade_forward(columns, bias, out_weight, out_bias, x)
    return logits, (columns, out_weight, x, last)


def _nade_scan_bwd(residuals: tuple[Array, ...], g: Array) -> tuple[Array, ...]:
    r"""The backward recurrence, :math:`i = D, \dots, 1`, with :math:`g_i = \partial L /
    \partial \ell_i` and :math:`\delta_i = \partial L / \partial a_i` (:math:`\delta_{D+1} = 0`):

    .. math:: \delta_i = \delta_{i+1} + (g_i V_i^\top) \odot h_i \odot (1 - h_i), \quad
              \partial_{b_i} = \textstyle\sum_n g_i, \quad \partial_{V_i} = \sum_n g_i h_i,
              \quad \partial_{W_{:, i}} = \sum_n x_i \delta_{i+1}, \quad
              \partial_{x_i} = \delta_{i+1} \cdot W_{:, i}, \quad \partial_c = \sum_n \delta_1.

    :math:`a_i` is recovered as :math:`a_{i+1} - W_{:, i}\, x_i` (float32 rounding, about
    1e-6 on MNIST-sized inputs), so nothing of size ``(batch, D, H)`` is stored."""
    columns, out_weight, x, last = residuals

    def step(carry: tuple[Array, Array], inputs: tuple[Array, ...]) -> tuple[tuple[Array, Array],
                                                                             tuple[Array, ...]]:
        a_next, delta_next = carry
        column, v, x_i, g_i = inputs
        a = a_next - x_i[:, None] * column
        h = _sigmoid(a)
        delta = delta_next + (g_i[:, None] * v) * (h * (1.0 - h))
        grads = (x_i @ delta_next, g_i @ h, jnp.sum(g_i), delta_next @ column)
        return (a, delta), grads

    (_, delta_1), (d_columns, d_out_weight, d_out_bias, d_x) = lax.scan(
        step, (last, jnp.zeros_like(last)), (columns, out_weight, x.T, g.T), reverse=True
    )
    return d_columns, jnp.sum(delta_1, axis=0), d_out_weight, d_out_bias, d_x.T


_nade_scan.defvjp(_nade_scan_fwd, _nade_scan_bwd)


def _nade_one_pass(weight: Array, bias: Array, out_weight: Array, out_bias: Array,
                   x: Array) -> Array:
    """The logits from the one-pass cumulative sum, a ``(batch, D, H)`` tensor: parallel over
    ``D``, which an accelerator runs faster than ``D`` sequential steps."""
    hidden = jax.nn.sigmoid(_nade_preactivations(weight, bias, x))
    return out_bias + jnp.einsum("bdh,dh->bd", hidden, out_weight)


def _nade_recurrence(weight: Array, bias: Array, out_weight: Array, out_bias: Array,
                     x: Array) -> Array:
    return _nade_scan(weight.T, bias, out_weight, out_bias, x)


@jax.jit
def _nade_logits(weight: Array, bias: Array, out_weight: Array, out_bias: Array, x: Array) -> Array:
    # Chosen where the program runs: the scan on a CPU, the one pass on an accelerator.
    return lax.platform_dependent(weight, bias, out_weight, out_bias, x,
                                  cpu=_nade_recurrence, default=_nade_one_pass)


class NADE(AutoregressiveBernoulli):
    r"""NADE over :math:`\{0, 1\}^D` with ``hidden_size`` shared sigmoid units (natural order).

    Parameters (``nnx.Param``): ``weight`` :math:`W` ``(H, D)``, ``bias`` :math:`c` ``(H,)``,
    ``out_weight`` :math:`V` ``(D, H)``, ``out_bias`` :math:`b` ``(D,)``; see
    :func:`nade_logits`. Initialisation: :math:`W_{hj} \sim \mathcal N(0, 1/D)`,
    :math:`V_{ih} \sim \mathcal N(0, 1/H)`, biases zero.

    Args:
        d: the number of binary variables ``D``.
        hidden_size: the number of hidden units ``H``.
        rngs: ``nnx.Rngs`` for the initial weights (one ``rngs.params()`` key).

    Members: ``conditionals(x) -> (batch, D)`` logits; ``log_prob(x) -> (batch,)`` nats;
    ``sample(key, n, observed=None) -> (n, D)`` (inherited); ``recurrence(canvas)``.
    """

    def __init__(self, d: int, hidden_size: int, *, rngs: nnx.Rngs) -> None:
        where = "NADE"
        self.d = check_positive_int(where, "d", d)
        self.hidden_size = check_positive_int(where, "hidden_size", hidden_size)
        # Host draws seeded by the key (as train.fit orders batches): no device compile per shape.
        rng = host_rng(check_rngs(where, rngs).params())
        h, d = self.hidden_size, self.d
        self.weight = nnx.Param(jnp.asarray(rng.standard_normal((h, d)) / np.sqrt(d), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((h,), jnp.float32))
        out_weight = rng.standard_normal((d, h)) / np.sqrt(h)
        self.out_weight = nnx.Param(jnp.asarray(out_weight, jnp.float32))
        self.out_bias = nnx.Param(jnp.zeros((d,), jnp.float32))

    def _conditionals(self, x: Array) -> Array:
        return _nade_logits(
            self.weight[...], self.bias[...], self.out_weight[...], self.out_bias[...], x
        )

    def _recurrence(self, canvas: Array) -> Recurrence:
        r"""Carry the running pre-activation :math:`a_i` (``(n, H)``, from :math:`a_1 = c`):
        read :math:`\ell_i = b_i + V_i^\top \sigma(a_i)`, write
        :math:`a_{i+1} = a_i + W_{:, i}\, x_i`. :math:`O(H)` work per variable and example
        instead of the :math:`O(HD)` of a whole pass: sampling costs what one pass costs."""
        out_weight, out_bias = self.out_weight[...], self.out_bias[...]
        columns = self.weight[...].T  # (D, H), once: row i is the contiguous W_{:, i}
        a0 = jnp.broadcast_to(self.bias[...], (canvas.shape[0], self.hidden_size))

        def read(a: Array, i: Array) -> Array:
            return _sigmoid(a) @ out_weight[i] + out_bias[i]

        def write(a: Array, i: Array, x_i: Array) -> Array:
            return a + x_i[:, None] * columns[i]

        return Recurrence(a0, read, write)
