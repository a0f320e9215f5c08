r"""Autoregressive models: the chain rule with a parametrised conditional, one contract and one
sampler.

Every binary model here factorises a distribution over :math:`x \in \{0, 1\}^D` by the chain
rule in the natural order and gives each conditional as a Bernoulli with a logit,

.. math:: p(x) = \prod_{i=1}^{D} p(x_i \mid x_{<i}), \qquad
          p(x_i = 1 \mid x_{<i}) = \sigma\bigl(\ell_i(x_{<i})\bigr).

The models differ only in how the logit :math:`\ell_i` depends on the earlier variables.

The contract (DESIGN section 3), shared by every subclass of :class:`AutoregressiveBernoulli`:

- ``model.conditionals(x)``: the logits :math:`\ell_i(x_{<i})` of all ``D`` conditionals, shape
  ``(batch, D)``, in ONE parallel pass over the whole vector. Entry ``i`` must not depend on
  ``x[:, j]`` for ``j >= i`` (the autoregressive property; the tests check it with a Jacobian).
- ``model.log_prob(x)``: :math:`\log p(x)` in nats, shape ``(batch,)``, from the conditionals
  (:func:`log_prob_from_logits`).
- ``model.sample(key, n, observed=None)``: ``n`` samples by ancestral sampling, one
  ``jax.lax.scan`` over the dimensions (:func:`scan_sample`); ``observed`` fixes known values
  (inpainting). Each step reads one conditional through the model's :class:`Recurrence`: by
  default a whole pass of the conditionals on the vector drawn so far; NADE, MADE, the GRU
  and PixelCNN carry a smaller state, so a step costs far less.

A new model sets ``self.d`` and writes ``_conditionals(x)``, the one-pass kernel on an ``x``
that is already checked (and, optionally, ``_recurrence(canvas)``); the public methods above
check their arguments once and call it. The one sampler, :func:`scan_sample`, takes the
per-step draw as an argument: a Bernoulli draw from the logit by default, a draw from a
mixture of Gaussians for RNADE, whose conditionals are densities on :math:`\mathbb R`.

Modules hold parameters only (Flax NNX); the maths is in pure functions. Data are float32
arrays of shape ``(batch, D)`` (zeros and ones for the binary models).
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
from ..checks import check_array, check_callable, check_key, check_order, check_positive_int

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
Draw = Callable[[Array, Any], Array]


# --------------------------------------------------------------------------------------------
# Checks shared by the models of this subpackage
# --------------------------------------------------------------------------------------------


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


def _check_recurrence(where: str, recurrence: Any) -> Recurrence:
    if not isinstance(recurrence, Recurrence):
        raise TypeError(
            f"{where}: argument 'recurrence' must be a Recurrence (e.g. model.recurrence(x)); "
            f"got {type(recurrence).__name__}"
        )
    return recurrence


# --------------------------------------------------------------------------------------------
# The likelihood
# --------------------------------------------------------------------------------------------


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
    return _log_prob_from_logits(x, logits)


def _log_prob_from_logits(x: Array, logits: Array) -> Array:
    return jnp.sum(prob.log_bernoulli(x, logits), axis=-1)


# --------------------------------------------------------------------------------------------
# Recurrences and the one sampler
# --------------------------------------------------------------------------------------------


class Recurrence(NamedTuple):
    r"""How a model computes its conditionals ONE AT A TIME, as ancestral sampling needs them.

    ``read(state, i)`` is the conditional of variable ``i`` given the variables written so
    far: the logit :math:`\ell_i` (shape ``(n,)``) for a binary model, the mixture parameters
    ``(logits, means, log_vars)`` (each ``(n, K)``) for RNADE. ``write(state, i, x_i)``
    records the value of variable ``i`` (shape ``(n,)``) and returns the new state. Starting
    from ``state`` and visiting the variables in order, each read must equal entry ``i`` of
    the one-pass ``conditionals(x)`` (the tests check it for every model with
    :func:`teacher_forced_logits`). The canvas recurrence (:func:`canvas_recurrence`: state =
    the vector itself, read = a whole pass of the conditionals) fits every model; a model
    with a cheaper one carries less (a GRU its hidden state, NADE, RNADE and MADE the first
    layer's pre-activations), so a step costs a fraction of a pass.
    """

    state: Any
    read: Callable[[Any, Array], Any]
    write: Callable[[Any, Array, Array], Any]


def canvas_recurrence(conditionals: Conditionals, canvas: Array) -> Recurrence:
    """The recurrence of any model: carry the vector, read one entry of a full pass.

    Args:
        conditionals: maps float32 ``(n, D)`` to the logits ``(n, D)`` (entry ``i`` may
            depend only on the entries before ``i``).
        canvas: float32 ``(n, D)``, the starting vector (observed values, zeros elsewhere).

    Returns:
        a :class:`Recurrence` whose state is the canvas.
    """
    where = "canvas_recurrence"
    check_callable(where, "conditionals", conditionals, "a callable (n, D) -> (n, D)")
    return _canvas_recurrence(conditionals, check_array(where, "canvas", canvas, shape=("n", "D")))


def _canvas_recurrence(conditionals: Conditionals, canvas: Array) -> Recurrence:
    def read(x: Array, i: Array) -> Array:
        return lax.dynamic_index_in_dim(conditionals(x), i, axis=1, keepdims=False)

    def write(x: Array, i: Array, x_i: Array) -> Array:
        return lax.dynamic_update_index_in_dim(x, x_i, i, axis=1)

    return Recurrence(canvas, read, write)


def scan_sample(
    key: Array,
    recurrence: Recurrence,
    values: Array,
    mask: Array,
    order: Array | None = None,
    draw: Draw = prob.sample_bernoulli,
) -> Array:
    r"""Ancestral sampling as one ``lax.scan`` over the positions in ``order``: at step
    :math:`t`, read the conditional of :math:`i = o_t`, draw :math:`x_i` from it (or keep the
    observed value), write it,

    .. math:: x_{o_t} \sim p\bigl(x_{o_t} \mid x_{o_1}, \dots, x_{o_{t-1}}\bigr),
              \qquad t = 1, \dots, D.

    The same sampler serves every model: ``draw`` turns what ``recurrence.read`` returns into
    one value per sample. The default is the Bernoulli draw from a logit,
    :math:`x_i = 1[\ell_i + L > 0]` with :math:`L \sim \mathrm{Logistic}(0, 1)`
    (:func:`dgm_lib.probability.sample_bernoulli`); RNADE passes a draw from a mixture of
    Gaussians. Observed entries are kept exactly and condition the later draws.

    Args:
        key: a ``jax.random.key``; step ``t`` uses ``jax.random.split(key, D)[t]``.
        recurrence: a :class:`Recurrence` whose state holds the observed values.
        values: float32 ``(n, D)``, the observed values (anything where ``mask`` is false).
        mask: boolean ``(n, D)``, true where the value is observed.
        order: the order in which variables are drawn, a permutation of ``0..D-1`` (int
            array ``(D,)``); ``None`` is the natural order.
        draw: ``draw(key, params) -> (n,)`` float32, with ``params`` what ``recurrence.read``
            returns.

    Returns:
        float32 array of shape ``(n, D)``.
    """
    where = "scan_sample"
    key = check_key(where, key)
    recurrence = _check_recurrence(where, recurrence)
    values = check_array(where, "values", values, shape=("n", "D"))
    mask = check_array(where, "mask", mask, shape=values.shape, kind="bool")
    order = check_order(where, order, values.shape[1])
    check_callable(where, "draw", draw, "a callable (key, params) -> (n,)")
    return _scan_sample(key, recurrence, values, mask, order, draw)


def _scan_sample(
    key: Array, recurrence: Recurrence, values: Array, mask: Array, order: Array, draw: Draw
) -> Array:
    keys = jax.random.split(key, order.shape[0])
    per_step: Array = keys
    if draw is prob.sample_bernoulli:
        # Its logistic noise does not depend on the logits: every step's is drawn at once, the
        # same numbers as step t's own draw from keys[t] (on XLA:CPU each small draw inside the
        # loop has a fixed cost: NADE samples 10% faster).
        n = values.shape[0]
        per_step = jax.vmap(lambda k: jax.random.logistic(k, (n,), dtype=jnp.float32))(keys)

        def draw(noise: Array, logits: Array) -> Array:
            return (logits + noise > 0).astype(jnp.float32)

    def step(state: Any, inputs: tuple[Array, Array]) -> tuple[Any, Array]:
        i, k = inputs
        keep = lax.dynamic_index_in_dim(mask, i, axis=1, keepdims=False)
        known = lax.dynamic_index_in_dim(values, i, axis=1, keepdims=False)
        x_i = jnp.where(keep, known, draw(k, recurrence.read(state, i)))
        return recurrence.write(state, i, x_i), x_i

    _, columns = lax.scan(step, recurrence.state, (order, per_step))  # columns[t] = x[:, order[t]]
    return jnp.zeros_like(values).at[:, order].set(columns.T)


def teacher_forced_logits(recurrence: Recurrence, x: Array, order: Array | None = None) -> Any:
    r"""Run a :class:`Recurrence` along a GIVEN vector: read the conditional of :math:`x_i`,
    then write the data's :math:`x_i`, in ``order``. For a correct recurrence the result
    equals the model's one-pass ``conditionals(x)``; it is how the tests check every
    sampler's arithmetic.

    Args:
        recurrence: a :class:`Recurrence` whose state holds nothing written yet.
        x: float32, shape ``(n, D)`` (zeros and ones for a binary model).
        order: a permutation of ``0..D-1`` (int array ``(D,)``); ``None`` is the natural order.

    Returns:
        what ``read`` returns, stacked over the variables on axis 1: float32 logits of shape
        ``(n, D)`` for a binary model; for RNADE ``(logits, means, log_vars)``, each
        ``(n, D, K)``.
    """
    where = "teacher_forced_logits"
    recurrence = _check_recurrence(where, recurrence)
    x = check_array(where, "x", x, shape=("n", "D"))
    return _teacher_forced_logits(recurrence, x, check_order(where, order, x.shape[1]))


def _teacher_forced_logits(recurrence: Recurrence, x: Array, order: Array) -> Any:
    def step(state: Any, i: Array) -> tuple[Any, Any]:
        x_i = lax.dynamic_index_in_dim(x, i, axis=1, keepdims=False)
        return recurrence.write(state, i, x_i), recurrence.read(state, i)

    _, reads = lax.scan(step, recurrence.state, order)  # each leaf (D, n, ...), in order

    def in_place(read: Array) -> Array:
        out = jnp.zeros((read.shape[1], read.shape[0], *read.shape[2:]), read.dtype)
        return out.at[:, order].set(jnp.swapaxes(read, 0, 1))

    return jax.tree.map(in_place, reads)


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
    :math:`D` passes in all, the price of sampling an autoregressive model
    (:func:`scan_sample` with the :func:`canvas_recurrence`).

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
    check_callable(where, "conditionals", conditionals, "a callable (n, d) -> (n, d)")
    n = check_positive_int(where, "n", n)
    d = check_positive_int(where, "d", d)
    values, mask = check_observed(where, observed, n, d)
    order = check_order(where, order, d)
    recurrence = _canvas_recurrence(conditionals, jnp.where(mask, values, 0.0))
    return _scan_sample(key, recurrence, values, mask, order, prob.sample_bernoulli)


# --------------------------------------------------------------------------------------------
# The base class
# --------------------------------------------------------------------------------------------


@partial(jax.jit, static_argnums=0)
def _sample_module(
    graphdef: nnx.GraphDef, state: nnx.State, key: Array, values: Array, mask: Array
) -> Array:
    """Sample a split module with its recurrence: plain ``jax.jit`` keyed on the graph, so one
    compilation serves every parameter value, and it also runs inside an outer trace."""
    model = nnx.merge(graphdef, state, copy=True)
    order = jnp.arange(model.d, dtype=jnp.int32)
    recurrence = model._recurrence(jnp.where(mask, values, 0.0))
    return _scan_sample(key, recurrence, values, mask, order, prob.sample_bernoulli)


class AutoregressiveBernoulli(nnx.Module):
    r"""Base class: a distribution over :math:`\{0,1\}^D` given by its conditional logits.

    A subclass sets ``self.d`` and writes ``_conditionals(x)``, the unchecked one-pass kernel
    (and, for a sampler cheaper than a pass per step, ``_recurrence(canvas)``). The public
    members check their arguments once and call them: :meth:`conditionals`,
    :meth:`log_prob`, :meth:`recurrence` and :meth:`sample` (see the module docstring).
    """

    d: int

    def _conditionals(self, x: Array) -> Array:
        """The logits ``(batch, D)`` of a checked ``x``: what a subclass writes."""
        raise NotImplementedError(f"{type(self).__name__} must define _conditionals(x)")

    def _recurrence(self, canvas: Array) -> Recurrence:
        """The default recurrence: carry the canvas, run the whole pass at every step."""
        return _canvas_recurrence(self._conditionals, canvas)

    def _check_x(self, method: str, x: Array, name: str = "x") -> Array:
        where = f"{type(self).__name__}.{method}"
        return check_array(where, name, x, shape=("batch", self.d))

    def conditionals(self, x: Array) -> Array:
        r"""Logits of :math:`p(x_i = 1 \mid x_{<i})` for all ``i``, one parallel pass.

        Args:
            x: float32 zeros and ones, shape ``(batch, D)``.

        Returns:
            float32 array of shape ``(batch, D)``; entry ``i`` depends on ``x[:, :i]`` only.
        """
        return self._conditionals(self._check_x("conditionals", x))

    def recurrence(self, canvas: Array) -> Recurrence:
        """The :class:`Recurrence` that :meth:`sample` scans, starting from ``canvas``
        (float32 ``(n, D)``: the observed values, zeros elsewhere). The default carries the
        canvas and runs the whole pass at every step (:func:`canvas_recurrence`); a model
        with a cheaper exact recurrence carries less."""
        return self._recurrence(self._check_x("recurrence", canvas, "canvas"))

    def log_prob(self, x: Array) -> Array:
        r""":math:`\log p(x) = \sum_i \log \mathrm{Bern}(x_i; \sigma(\ell_i(x_{<i})))`.

        Args:
            x: float32 zeros and ones, shape ``(batch, D)``.

        Returns:
            float32 array of shape ``(batch,)``, nats.
        """
        x = self._check_x("log_prob", x)
        return _log_prob_from_logits(x, self._conditionals(x))

    def sample(self, key: Array, n: int, observed: tuple[Array, Array] | None = None) -> Array:
        """``n`` samples by ancestral sampling in the natural order (:func:`scan_sample` of
        the model's :meth:`recurrence`).

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
