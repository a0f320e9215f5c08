r"""The three simplest autoregressive models of binary vectors: independent pixels, a
first-order Markov chain, and the fully visible sigmoid belief network (FVSBN), each a pure
logits function and a module holding its parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ..checks import check_array, check_positive_int
from ..masks import strictly_lower_mask
from .base import AutoregressiveBernoulli

Array = jax.Array

__all__ = [
    "FVSBN",
    "IndependentBernoulli",
    "MarkovChainBernoulli",
    "fvsbn_logits",
    "independent_logits",
    "markov_chain_logits",
]


def independent_logits(logits: Array, x: Array) -> Array:
    r"""Logits of the fully independent model, :math:`\ell_i = b_i` whatever :math:`x_{<i}`:

    .. math:: p(x) = \prod_{i=1}^{D} \mathrm{Bern}(x_i; \sigma(b_i)).

    Args:
        logits: the per-variable logits :math:`b`, float32 of shape ``(D,)``.
        x: float32 zeros and ones, shape ``(batch, D)`` (only its shape is used).

    Returns:
        float32 array of shape ``(batch, D)``.
    """
    where = "independent_logits"
    logits = check_array(where, "logits", logits, shape=("D",))
    x = check_array(where, "x", x, shape=("batch", logits.shape[0]))
    return _independent_logits(logits, x)


def _independent_logits(logits: Array, x: Array) -> Array:
    return jnp.broadcast_to(logits, x.shape)


def markov_chain_logits(logits: Array, x: Array) -> Array:
    r"""Logits of a first-order Markov chain, where :math:`x_i` depends on :math:`x_{i-1}` only:

    .. math:: \ell_i = (1 - x_{i-1})\, a_{i,0} + x_{i-1}\, a_{i,1}, \qquad x_0 := 0,

    so :math:`a_{i,v}` is the logit of :math:`p(x_i = 1 \mid x_{i-1} = v)`: two logits per
    variable. The first variable has no predecessor, so :math:`a_{1,1}` is never used (the
    chain has :math:`2D - 1` free parameters). The interpolation equals the table lookup on
    binary inputs and is differentiable in :math:`x`.

    Args:
        logits: :math:`a`, float32 of shape ``(D, 2)``.
        x: float32 zeros and ones, shape ``(batch, D)``.

    Returns:
        float32 array of shape ``(batch, D)``.
    """
    where = "markov_chain_logits"
    logits = check_array(where, "logits", logits, shape=("D", 2))
    x = check_array(where, "x", x, shape=("batch", logits.shape[0]))
    return _markov_chain_logits(logits, x)


def _markov_chain_logits(logits: Array, x: Array) -> Array:
    previous = jnp.concatenate([jnp.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
    return (1.0 - previous) * logits[:, 0] + previous * logits[:, 1]


def fvsbn_logits(bias: Array, weight: Array, x: Array) -> Array:
    r"""Logits of the fully visible sigmoid belief network (FVSBN), a masked linear layer:

    .. math:: \ell_i = b_i + \sum_{j < i} W_{ij} x_j, \qquad
              \ell = b + x\, (W \odot M)^\top,\quad M_{ij} = 1[j < i],

    with :math:`M` the :func:`~dgm_lib.masks.strictly_lower_mask`.
    Entries of ``weight`` on and above the diagonal are multiplied by zero: the model has
    :math:`D + D(D-1)/2 = D(D+1)/2` free parameters.

    Args:
        bias: :math:`b`, float32 of shape ``(D,)``.
        weight: :math:`W`, float32 of shape ``(D, D)``; row ``i`` feeds conditional ``i``.
        x: float32 zeros and ones, shape ``(batch, D)``.

    Returns:
        float32 array of shape ``(batch, D)``.
    """
    where = "fvsbn_logits"
    bias = check_array(where, "bias", bias, shape=("D",))
    d = bias.shape[0]
    weight = check_array(where, "weight", weight, shape=(d, d))
    x = check_array(where, "x", x, shape=("batch", d))
    return _fvsbn_logits(bias, weight, x)


def _fvsbn_logits(bias: Array, weight: Array, x: Array) -> Array:
    return bias + x @ (weight * strictly_lower_mask(bias.shape[0])).T


class IndependentBernoulli(AutoregressiveBernoulli):
    r"""Fully independent pixels, :math:`p(x) = \prod_i \mathrm{Bern}(x_i; \sigma(b_i))`:
    ``D`` parameters, the logits :math:`b` (initialised to zero, :math:`p = 1/2`)."""

    def __init__(self, d: int) -> None:
        self.d = check_positive_int("IndependentBernoulli", "d", d)
        self.logits = nnx.Param(jnp.zeros((self.d,), jnp.float32))

    def _conditionals(self, x: Array) -> Array:
        return _independent_logits(self.logits[...], x)


class MarkovChainBernoulli(AutoregressiveBernoulli):
    r"""A first-order Markov chain over the pixels in raster order: :math:`x_i` depends on
    :math:`x_{i-1}` only. Parameters: ``logits`` of shape ``(D, 2)``, the logit of
    :math:`p(x_i = 1 \mid x_{i-1} = v)` in column ``v`` (zero at initialisation); see
    :func:`markov_chain_logits`."""

    def __init__(self, d: int) -> None:
        self.d = check_positive_int("MarkovChainBernoulli", "d", d)
        self.logits = nnx.Param(jnp.zeros((self.d, 2), jnp.float32))

    def _conditionals(self, x: Array) -> Array:
        return _markov_chain_logits(self.logits[...], x)


class FVSBN(AutoregressiveBernoulli):
    r"""Fully visible sigmoid belief network: each conditional is a logistic regression on the
    previous pixels, :math:`\ell_i = b_i + \sum_{j<i} W_{ij} x_j`, computed for all ``i`` at
    once as one masked matrix product (:func:`fvsbn_logits`). Parameters ``bias`` ``(D,)`` and
    ``weight`` ``(D, D)``, zero at initialisation (the NLL is convex in them)."""

    def __init__(self, d: int) -> None:
        self.d = check_positive_int("FVSBN", "d", d)
        self.bias = nnx.Param(jnp.zeros((self.d,), jnp.float32))
        self.weight = nnx.Param(jnp.zeros((self.d, self.d), jnp.float32))

    def _conditionals(self, x: Array) -> Array:
        return _fvsbn_logits(self.bias[...], self.weight[...], x)
