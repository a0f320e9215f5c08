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

from .. import probability as prob
from ..checks import check_array, check_key, check_order, check_positive_int

Array = jax.Array

__all__ = [
    "AutoregressiveBernoulli",
    "Recurrence",
    "canvas_recurrence",
    "check_observed",
    "log_prob_from_logits",
    "sample_autoregressive",
    "scan_sample",
    "teacher_forced_logits",
]
Conditionals = Callable[[Array], Array]




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
    return jnp.sum(prob.log_bernoulli(x, logits), axis=-1)


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
        x_i = jnp.where(keep, known, prob.sample_bernoulli(k, recurrence.read(state, i)))
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


