r"""Autoregressive models of binary vectors: the chain rule with a parametrised conditional.

Every model here factorises a distribution over :math:`x \in \{0, 1\}^D` by the chain rule in
the natural order and gives each conditional as a Bernoulli with a logit,

.. math:: p(x) = \prod_{i=1}^{D} p(x_i \mid x_{<i}), \qquad
          p(x_i = 1 \mid x_{<i}) = \sigma\bigl(\ell_i(x_{<i})\bigr).

The models differ only in how the logit :math:`\ell_i` depends on the earlier variables.

The contract (DESIGN section 3), shared by every subclass of :class:`AutoregressiveBernoulli`:

- ``model.conditionals(x)``: the logits :math:`\ell_i(x_{<i})` of all ``D`` conditionals, shape
  ``(batch, D)``, in ONE parallel pass over the whole vector. Entry ``i`` must not depend on
  ``x[:, j]`` for ``j >= i`` (the autoregressive property; the tests check it with a Jacobian).
  A new model (NADE, MADE, PixelCNN on flattened images) writes only this method.
- ``model.log_prob(x)``: :math:`\log p(x)` in nats, shape ``(batch,)``, from the conditionals
  (:func:`log_prob_from_logits`).
- ``model.sample(key, n, observed=None)``: ``n`` samples by ancestral sampling, a
  ``jax.lax.scan`` over the dimensions (:func:`sample_autoregressive`); ``observed`` fixes
  known values (inpainting). Each step reads one conditional through the model's
  :class:`Recurrence`: by default a whole pass of ``conditionals`` on the vector drawn so far;
  NADE, MADE, the GRU and PixelCNN carry a smaller state, so a step costs far less.

Modules hold parameters only (Flax NNX); the maths is in the pure functions
:func:`independent_logits`, :func:`markov_chain_logits` and :func:`fvsbn_logits`.
Data are float32 arrays of zeros and ones of shape ``(batch, D)``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from ._checks import check_array, check_key, check_positive_int
from .probability import _log_bernoulli, _sample_bernoulli

Array = jax.Array
Conditionals = Callable[[Array], Array]

__all__ = [
    "FVSBN",
    "AutoregressiveBernoulli",
    "IndependentBernoulli",
    "MarkovChainBernoulli",
    "Recurrence",
    "canvas_recurrence",
    "fvsbn_logits",
    "independent_logits",
    "log_prob_from_logits",
    "markov_chain_logits",
    "nll_loss",
    "sample_autoregressive",
    "strictly_lower_mask",
    "teacher_forced_logits",
]


# --------------------------------------------------------------------------------------------
# Pure core
# --------------------------------------------------------------------------------------------


def strictly_lower_mask(d: int) -> Array:
    r"""The mask :math:`M_{ij} = 1[j < i]` of a fully visible autoregressive linear layer.

    Multiplying a weight matrix by it keeps, in row ``i``, only the weights on the earlier
    variables :math:`x_j,\ j < i`: the diagonal and everything above it are zero.

    Args:
        d: the number of variables, a positive int.

    Returns:
        float32 array of shape ``(d, d)`` of zeros and ones.
    """
    d = check_positive_int("strictly_lower_mask", "d", d)
    return jnp.tril(jnp.ones((d, d), jnp.float32), k=-1)


def log_prob_from_logits(x: Array, logits: Array) -> Array:
    r"""The log-probability of binary vectors under Bernoulli conditionals, in nats:

    .. math:: \log p(x) = \sum_{i=1}^{D} \bigl[x_i \ell_i - \log(1 + e^{\ell_i})\bigr].

    Args:
        x: float32 zeros and ones, shape ``(batch, D)``.
        logits: the conditional logits :math:`\ell_i`, float32 of shape ``(batch, D)``.

    Returns:
        float32 array of shape ``(batch,)``, nats.
    """
    where = "log_prob_from_logits"
    x = check_array(where, "x", x, shape=("batch", "D"))
    logits = check_array(where, "logits", logits, shape=x.shape)
    return jnp.sum(_log_bernoulli(x, logits), axis=-1)


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
    previous = jnp.concatenate([jnp.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
    return (1.0 - previous) * logits[:, 0] + previous * logits[:, 1]


def fvsbn_logits(bias: Array, weight: Array, x: Array) -> Array:
    r"""Logits of the fully visible sigmoid belief network (FVSBN), a masked linear layer:

    .. math:: \ell_i = b_i + \sum_{j < i} W_{ij} x_j, \qquad
              \ell = b + x\, (W \odot M)^\top,\quad M_{ij} = 1[j < i]
              \text{ (:func:`strictly_lower_mask`)}.

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
    return bias + x @ (weight * strictly_lower_mask(d)).T


class Recurrence(NamedTuple):
    r"""How a model computes its conditionals ONE AT A TIME, as ancestral sampling needs them.

    ``read(state, i)`` is the logit :math:`\ell_i` of variable ``i`` (shape ``(n,)``) given
    the variables written so far; ``write(state, i, x_i)`` records the value of variable ``i``
    and returns the new state. Starting from ``state`` and visiting the variables in order,
    each read must equal ``conditionals(x)[:, i]`` (the tests check it for every model with
    :func:`teacher_forced_logits`). The canvas recurrence (:func:`canvas_recurrence`: state =
    the vector itself, read = a whole pass of ``conditionals``) fits every model; a model
    with a cheaper one carries less (a GRU its hidden state, NADE and MADE the first layer's
    pre-activations), so a step costs a fraction of a pass.
    """

    state: Any
    read: Callable[[Any, Array], Array]
    write: Callable[[Any, Array, Array], Any]


def canvas_recurrence(conditionals: Conditionals, canvas: Array) -> Recurrence:
    """The recurrence of any model: carry the vector, read one entry of a full pass."""

    def read(x: Array, i: Array) -> Array:
        return lax.dynamic_index_in_dim(conditionals(x), i, axis=1, keepdims=False)

    def write(x: Array, i: Array, x_i: Array) -> Array:
        return lax.dynamic_update_index_in_dim(x, x_i, i, axis=1)

    return Recurrence(canvas, read, write)


def scan_sample(
    key: Array, recurrence: Recurrence, values: Array, mask: Array, order: Array
) -> Array:
    """Ancestral sampling as one ``lax.scan`` over the positions in ``order``: at step ``t``,
    read the logit of ``i = order[t]``, draw it (or keep the observed value), write it."""
    keys = jax.random.split(key, order.shape[0])

    def step(state: Any, inputs: tuple[Array, Array]) -> tuple[Any, Array]:
        i, k = inputs
        keep = lax.dynamic_index_in_dim(mask, i, axis=1, keepdims=False)
        known = lax.dynamic_index_in_dim(values, i, axis=1, keepdims=False)
        x_i = jnp.where(keep, known, _sample_bernoulli(k, recurrence.read(state, i)))
        return recurrence.write(state, i, x_i), x_i

    _, columns = lax.scan(step, recurrence.state, (order, keys))  # columns[t] = x[:, order[t]]
    return jnp.zeros_like(values).at[:, order].set(columns.T)


def teacher_forced_logits(recurrence: Recurrence, x: Array, order: Array | None = None) -> Array:
    r"""Run a :class:`Recurrence` along a GIVEN vector: read :math:`\ell_i`, then write the
    data's :math:`x_i`, in ``order``. For a correct recurrence the result equals the model's
    one-pass ``conditionals(x)``; it is how the tests check every sampler's arithmetic.

    Args:
        recurrence: a :class:`Recurrence` whose state holds nothing written yet.
        x: float32 zeros and ones, shape ``(n, D)``.
        order: a permutation of ``0..D-1`` (int array ``(D,)``); ``None`` is the natural order.

    Returns:
        float32 array of shape ``(n, D)``: the logits read at each variable.
    """
    where = "teacher_forced_logits"
    if not isinstance(recurrence, Recurrence):
        raise TypeError(
            f"{where}: argument 'recurrence' must be a Recurrence (e.g. model.recurrence(x)); "
            f"got {type(recurrence).__name__}"
        )
    x = check_array(where, "x", x, shape=("n", "D"))
    order = check_order(where, order, x.shape[1])

    def step(state: Any, i: Array) -> tuple[Any, Array]:
        x_i = lax.dynamic_index_in_dim(x, i, axis=1, keepdims=False)
        return recurrence.write(state, i, x_i), recurrence.read(state, i)

    _, columns = lax.scan(step, recurrence.state, order)
    return jnp.zeros_like(x).at[:, order].set(columns.T)


def check_observed(where: str, observed: Any, n: int, d: int) -> tuple[Array, Array]:
    """``(values, mask)`` of shapes ``(n, d)``; no observation gives zeros and all-False."""
    if observed is None:
        return jnp.zeros((n, d), jnp.float32), jnp.zeros((n, d), bool)
    if not isinstance(observed, (tuple, list)) or len(observed) != 2:
        raise TypeError(
            f"{where}: argument 'observed' must be None or a pair (values, mask) with values "
            f"of shape ({n}, {d}) and a boolean mask of shape ({n}, {d}) or ({d},); "
            f"got {type(observed).__name__}"
        )
    values = check_array(where, "observed values", observed[0], shape=(n, d))
    mask = check_array(where, "observed mask", observed[1], kind="bool")
    if tuple(mask.shape) == (d,):
        mask = jnp.broadcast_to(mask, (n, d))
    mask = check_array(where, "observed mask", mask, shape=(n, d), kind="bool")
    return values.astype(jnp.float32), mask


def check_order(where: str, order: Any, d: int) -> Array:
    if order is None:
        return jnp.arange(d, dtype=jnp.int32)
    order = check_array(where, "order", order, shape=(d,), kind="int")
    if sorted(int(i) for i in order) != list(range(d)):
        raise ValueError(
            f"{where}: argument 'order' must be a permutation of 0, ..., {d - 1}; got {order}"
        )
    return order.astype(jnp.int32)


def sample_autoregressive(
    key: Array,
    conditionals: Conditionals,
    n: int,
    d: int,
    observed: tuple[Array, Array] | None = None,
    order: Array | None = None,
) -> Array:
    r"""Ancestral sampling from any autoregressive Bernoulli model, as a ``lax.scan``:

    .. math:: x_{o_t} \sim \mathrm{Bern}\bigl(\sigma(\ell_{o_t}(x))\bigr), \quad
              t = 1, \dots, D,

    where :math:`o` is the ``order`` and :math:`\ell = ` ``conditionals(x)`` is evaluated on
    the vector filled in so far (entries not yet drawn are zero, and an autoregressive
    ``conditionals`` never looks at them). One step per dimension, each one parallel pass:
    :math:`D` passes in all, the price of sampling an autoregressive model.

    ``observed = (values, mask)`` fixes ``x[mask] = values[mask]`` exactly and draws only the
    other entries, each from :math:`p(x_i \mid x_{<i})` given everything before it, observed or
    drawn. That is the exact conditional :math:`p(x_{\text{rest}} \mid x_{\text{observed}})`
    when the observed entries come first in the order (e.g. the top half of an image); later
    observed entries are kept but do not inform the earlier draws.

    Args:
        key: a ``jax.random.key``.
        conditionals: maps float32 ``(n, d)`` to the logits ``(n, d)``; entry ``i`` may depend
            only on the entries before ``i`` in ``order``.
        n: the number of samples, a positive int.
        d: the number of variables, a positive int.
        observed: ``None`` or ``(values, mask)``: values float32 ``(n, d)`` of zeros and ones,
            mask boolean of shape ``(n, d)`` or ``(d,)`` (the same entries for every sample).
        order: the order in which variables are drawn, a permutation of ``0..d-1`` (int array
            of shape ``(d,)``); ``None`` is the natural order.

    Returns:
        float32 array of shape ``(n, d)`` of zeros and ones.
    """
    where = "sample_autoregressive"
    key = check_key(where, key)
    if not callable(conditionals):
        raise TypeError(
            f"{where}: argument 'conditionals' must be a callable (n, d) -> (n, d); "
            f"got {type(conditionals).__name__}"
        )
    n = check_positive_int(where, "n", n)
    d = check_positive_int(where, "d", d)
    values, mask = check_observed(where, observed, n, d)
    recurrence = canvas_recurrence(conditionals, jnp.where(mask, values, 0.0))
    return scan_sample(key, recurrence, values, mask, check_order(where, order, d))


@partial(jax.jit, static_argnums=0)
def _sample_module(
    graphdef: nnx.GraphDef, state: nnx.State, key: Array, values: Array, mask: Array
) -> Array:
    """Sample a split module with its :meth:`~AutoregressiveBernoulli.recurrence`: plain
    ``jax.jit`` keyed on the graph, so one compilation serves every parameter value, and it
    also runs inside an outer trace."""
    model = nnx.merge(graphdef, state, copy=True)
    order = jnp.arange(model.d, dtype=jnp.int32)
    return scan_sample(key, model.recurrence(jnp.where(mask, values, 0.0)), values, mask, order)


def nll_loss(model: AutoregressiveBernoulli, x: Array, key: Array) -> Array:
    r"""The training loss for ``train.fit``: the mean negative log-likelihood of a batch,

    .. math:: L = -\frac{1}{B} \sum_{b=1}^{B} \log p(x^{(b)}) \quad \text{(nats per example)}.

    Args:
        model: any :class:`AutoregressiveBernoulli`.
        x: float32 zeros and ones, shape ``(batch, D)``.
        key: unused (the loss is deterministic); ``train.fit`` passes one to every loss.

    Returns:
        float32 scalar, nats.
    """
    return -jnp.mean(model.log_prob(x))


# --------------------------------------------------------------------------------------------
# Modules: parameters only
# --------------------------------------------------------------------------------------------


class AutoregressiveBernoulli(nnx.Module):
    r"""Base class: a distribution over :math:`\{0,1\}^D` given by its conditional logits.

    A subclass sets ``self.d`` and writes :meth:`conditionals`; :meth:`log_prob` and
    :meth:`sample` follow from it (see the module docstring for the contract).
    """

    d: int

    def conditionals(self, x: Array) -> Array:
        r"""Logits of :math:`p(x_i = 1 \mid x_{<i})` for all ``i``, shape ``(batch, D)``."""
        raise NotImplementedError(f"{type(self).__name__} must define conditionals(x)")

    def recurrence(self, canvas: Array) -> Recurrence:
        """The :class:`Recurrence` that :meth:`sample` scans, starting from ``canvas``
        (float32 ``(n, D)``: the observed values, zeros elsewhere). This default carries the
        canvas and runs :meth:`conditionals` at every step (:func:`canvas_recurrence`); a
        model with a cheaper exact recurrence overrides it."""
        return canvas_recurrence(self.conditionals, canvas)

    def _check_x(self, where: str, x: Array) -> Array:
        return check_array(f"{type(self).__name__}.{where}", "x", x, shape=("batch", self.d))

    def log_prob(self, x: Array) -> Array:
        r""":math:`\log p(x) = \sum_i \log \mathrm{Bern}(x_i; \sigma(\ell_i(x_{<i})))`.

        Args:
            x: float32 zeros and ones, shape ``(batch, D)``.

        Returns:
            float32 array of shape ``(batch,)``, nats.
        """
        x = self._check_x("log_prob", x)
        return log_prob_from_logits(x, self.conditionals(x))

    def sample(self, key: Array, n: int, observed: tuple[Array, Array] | None = None) -> Array:
        """``n`` samples by ancestral sampling in the natural order (a ``lax.scan``).

        Args:
            key: a ``jax.random.key``.
            n: the number of samples, a positive int.
            observed: ``None`` or ``(values (n, D), mask (n, D) or (D,))``; the entries where
                ``mask`` is true are kept exactly (see :func:`sample_autoregressive`).

        Returns:
            float32 array of shape ``(n, D)`` of zeros and ones.
        """
        where = f"{type(self).__name__}.sample"
        key = check_key(where, key)
        n = check_positive_int(where, "n", n)
        values, mask = check_observed(where, observed, n, self.d)
        graphdef, state = nnx.split(self)
        return _sample_module(graphdef, state, key, values, mask)


class IndependentBernoulli(AutoregressiveBernoulli):
    r"""Fully independent pixels, :math:`p(x) = \prod_i \mathrm{Bern}(x_i; \sigma(b_i))`:
    ``D`` parameters, the logits :math:`b` (initialised to zero, :math:`p = 1/2`)."""

    def __init__(self, d: int) -> None:
        self.d = check_positive_int("IndependentBernoulli", "d", d)
        self.logits = nnx.Param(jnp.zeros((self.d,), jnp.float32))

    def conditionals(self, x: Array) -> Array:
        """:func:`independent_logits`: shape ``(batch, D)``."""
        return independent_logits(self.logits[...], self._check_x("conditionals", x))


class MarkovChainBernoulli(AutoregressiveBernoulli):
    r"""A first-order Markov chain over the pixels in raster order: :math:`x_i` depends on
    :math:`x_{i-1}` only. Parameters: ``logits`` of shape ``(D, 2)``, the logit of
    :math:`p(x_i = 1 \mid x_{i-1} = v)` in column ``v`` (zero at initialisation); see
    :func:`markov_chain_logits`."""

    def __init__(self, d: int) -> None:
        self.d = check_positive_int("MarkovChainBernoulli", "d", d)
        self.logits = nnx.Param(jnp.zeros((self.d, 2), jnp.float32))

    def conditionals(self, x: Array) -> Array:
        """:func:`markov_chain_logits`: shape ``(batch, D)``."""
        return markov_chain_logits(self.logits[...], self._check_x("conditionals", x))


class FVSBN(AutoregressiveBernoulli):
    r"""Fully visible sigmoid belief network: each conditional is a logistic regression on the
    previous pixels, :math:`\ell_i = b_i + \sum_{j<i} W_{ij} x_j`, computed for all ``i`` at
    once as one masked matrix product (:func:`fvsbn_logits`). Parameters ``bias`` ``(D,)`` and
    ``weight`` ``(D, D)``, zero at initialisation (the NLL is convex in them)."""

    def __init__(self, d: int) -> None:
        self.d = check_positive_int("FVSBN", "d", d)
        self.bias = nnx.Param(jnp.zeros((self.d,), jnp.float32))
        self.weight = nnx.Param(jnp.zeros((self.d, self.d), jnp.float32))

    def conditionals(self, x: Array) -> Array:
        """:func:`fvsbn_logits`: shape ``(batch, D)``."""
        return fvsbn_logits(self.bias[...], self.weight[...], self._check_x("conditionals", x))
