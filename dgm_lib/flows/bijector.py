r"""The bijector contract and its combinators.

Every layer of :mod:`dgm_lib.flows` is a :class:`Bijector` in the generative direction
:math:`z \to x`:

- ``forward_and_log_det(z)`` returns :math:`x = f(z)` and
  :math:`\log\lvert\det \partial x / \partial z\rvert`;
- ``inverse_and_log_det(x)`` returns :math:`z = f^{-1}(x)` and
  :math:`\log\lvert\det \partial z / \partial x\rvert`, the density direction;

so that for :math:`x = f(z)` the change of variables reads

.. math:: \log p_x(x) = \log p_z\bigl(f^{-1}(x)\bigr)
          + \log\left\lvert\det \frac{\partial f^{-1}(x)}{\partial x}\right\rvert.

**Methods act on batches**: ``z`` has shape ``(batch, *event_shape)`` and the
log-determinant, in nats, has shape ``(batch,)``: one value per example, summed over the event
axes. Shapes are checked at trace time; a wrong one raises ``ValueError`` naming the layer and
the expected shape ``(batch, *event_shape)``.

Combinators: :class:`Chain` applies layers **in list order**,
:math:`z \to f_1 \to f_2 \to \dots \to x` (distrax's ``Chain`` applies them in reverse order;
ours does not); :class:`Stack` runs ``num_layers`` layers of identical structure with one
``lax.scan``, so compile time does not grow with depth; :class:`Inverse` swaps the two
directions with the same parameters.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from ..checks import (
    check_array,
    check_positive_float,
    check_positive_int,
    check_rngs,
)

Array = jax.Array

__all__ = [
    "Bijector",
    "Chain",
    "Inverse",
    "Stack",
    "event_sum",
    "soft_clamp",
]


# ----------------------------------------------------------------------------- array helpers


def event_sum(a: Array, event_ndim: int) -> Array:
    r"""Sum over the trailing ``event_ndim`` axes: per-example totals.

    Args:
        a: an array ``(batch, *event_shape)``.
        event_ndim: the number of event axes, between 0 and ``a.ndim``.

    Returns:
        :math:`\sum_i a_{b, i}` over the event axes, shape ``a.shape[:a.ndim - event_ndim]``.
    """
    a = check_array("event_sum", "a", a, kind="number")
    if isinstance(event_ndim, bool) or not isinstance(event_ndim, (int, np.integer)):
        raise TypeError(f"event_sum: argument 'event_ndim' must be an int; got {event_ndim!r}")
    if not 0 <= event_ndim <= a.ndim:
        raise ValueError(
            f"event_sum: argument 'event_ndim' must be between 0 and a.ndim = {a.ndim}; got "
            f"{event_ndim}"
        )
    return _event_sum(a, int(event_ndim))


def _event_sum(a: Array, event_ndim: int) -> Array:
    return jnp.sum(a, axis=tuple(range(a.ndim - event_ndim, a.ndim)))


def soft_clamp(a: Array, bound: float) -> Array:
    r"""A smooth clamp, the identity near 0 and limited to :math:`(-b, b)`:

    .. math:: \operatorname{softclamp}(a) = b \tanh(a / b), \qquad b = \text{bound}.

    Used on log-scales, so that :math:`e^{\text{log-scale}}` stays within
    :math:`[e^{-b}, e^{b}]` and the log-determinant cannot explode during training.

    Args:
        a: any float array.
        bound: :math:`b > 0`.

    Returns:
        an array of the shape of ``a``.
    """
    a = check_array("soft_clamp", "a", a)
    return _soft_clamp(a, check_positive_float("soft_clamp", "bound", bound))


def _soft_clamp(a: Array, bound: float) -> Array:
    return bound * jnp.tanh(a / bound)


# ----------------------------------------------------------------------------- the contract


class Bijector(nnx.Module):
    r"""Base class: an invertible map :math:`f: z \mapsto x` on events of shape
    ``event_shape``.

    ``event_shape`` is the shape of one input :math:`z`; ``output_shape`` that of one output
    :math:`x` (equal except for :class:`~dgm_lib.flows.glow.Squeeze`). A subclass writes the
    unchecked kernels ``_forward(z)`` and ``_inverse(x)``, which receive checked batches; the
    public methods below check the shapes first.
    """

    event_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    def forward_and_log_det(self, z: Array) -> tuple[Array, Array]:
        r""":math:`x = f(z)` and :math:`\log\lvert\det \partial x / \partial z\rvert` in nats.

        Args:
            z: a batch ``(batch, *event_shape)``.

        Returns:
            ``x`` of shape ``(batch, *output_shape)`` and the log-determinant ``(batch,)``.
        """
        where = f"{type(self).__name__}.forward_and_log_det"
        return self._forward(check_array(where, "z", z, shape=("batch", *self.event_shape)))

    def inverse_and_log_det(self, x: Array) -> tuple[Array, Array]:
        r""":math:`z = f^{-1}(x)` and :math:`\log\lvert\det \partial z / \partial x\rvert` in
        nats.

        Args:
            x: a batch ``(batch, *output_shape)``.

        Returns:
            ``z`` of shape ``(batch, *event_shape)`` and the log-determinant ``(batch,)``.
        """
        where = f"{type(self).__name__}.inverse_and_log_det"
        return self._inverse(check_array(where, "x", x, shape=("batch", *self.output_shape)))

    def _forward(self, z: Array) -> tuple[Array, Array]:
        raise NotImplementedError(f"{type(self).__name__} must define _forward(z) (abstract)")

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        raise NotImplementedError(f"{type(self).__name__} must define _inverse(x) (abstract)")


# ----------------------------------------------------------------------------- combinators


class Chain(Bijector):
    r"""Composition in LIST ORDER: ``layers = [f_1, ..., f_K]`` gives

    .. math:: x = f_K\bigl(\cdots f_2(f_1(z))\bigr), \qquad
              \log\left\lvert\det \frac{\partial x}{\partial z}\right\rvert
              = \sum_{k=1}^{K} \log\left\lvert\det J_{f_k}\right\rvert,

    each Jacobian :math:`J_{f_k}` taken at the input of :math:`f_k`; the inverse runs the list
    backwards. Consecutive shapes must match
    (``layers[k].output_shape == layers[k + 1].event_shape``).

    Args:
        layers: a non-empty sequence of :class:`Bijector`.
    """

    def __init__(self, layers: Sequence[Bijector]) -> None:
        where = "Chain"
        if isinstance(layers, Bijector) or not isinstance(layers, Sequence):
            raise TypeError(
                f"{where}: argument 'layers' must be a list of Bijectors; got "
                f"{type(layers).__name__}"
            )
        if not layers:
            raise ValueError(f"{where}: argument 'layers' must hold at least one Bijector")
        for k, layer in enumerate(layers):
            if not isinstance(layer, Bijector):
                raise TypeError(
                    f"{where}: argument 'layers' must hold Bijectors; layers[{k}] is a "
                    f"{type(layer).__name__}"
                )
        for k, (a, b) in enumerate(itertools.pairwise(layers)):
            if tuple(a.output_shape) != tuple(b.event_shape):
                raise ValueError(
                    f"{where}: layer {k} outputs shape {tuple(a.output_shape)} but layer {k + 1} "
                    f"expects {tuple(b.event_shape)}"
                )
        self.layers = nnx.List(layers)
        self.event_shape = tuple(layers[0].event_shape)
        self.output_shape = tuple(layers[-1].output_shape)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        total = jnp.zeros(z.shape[0])
        for layer in self.layers:
            z, log_det = layer.forward_and_log_det(z)
            total = total + log_det
        return z, total

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        total = jnp.zeros(x.shape[0])
        for layer in reversed(self.layers):
            x, log_det = layer.inverse_and_log_det(x)
            total = total + log_det
        return x, total


class Stack(Bijector):
    r"""``num_layers`` layers of one structure, applied in order :math:`k = 0, 1, \dots`, with
    their parameters stacked along a leading axis and run by one ``lax.scan``: one layer is
    traced and compiled whatever the depth.

    Layer :math:`k` is ``make_layer(layer_rngs, k)``: ``layer_rngs`` is an ``nnx.Rngs`` seeded
    by the :math:`k`-th of ``num_layers`` keys split from ``rngs.params()``, and ``k`` arrives
    as a traced int32 scalar (the layers are built under ``nnx.vmap``), so a layer may depend on
    it through ``jnp`` only, e.g.
    ``lambda r, k: AffineCoupling(half_mask(2, k), 64, rngs=r)`` alternates its mask. Every
    layer must have the same structure and keep the shape of its input, and be built from
    ``jnp`` operations (not :class:`~dgm_lib.flows.glow.Conv1x1`, whose initial LU factors come
    from NumPy).

    Args:
        make_layer: ``(rngs, k) -> Bijector``.
        num_layers: the number of layers, a positive int.
        rngs: ``nnx.Rngs`` for the initial values of all layers.
    """

    def __init__(
        self,
        make_layer: Callable[[nnx.Rngs, Array], Bijector],
        num_layers: int,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        where = "Stack"
        if not callable(make_layer):
            raise TypeError(
                f"{where}: argument 'make_layer' must be a function (rngs, k) -> Bijector; got "
                f"{type(make_layer).__name__}"
            )
        self.num_layers = check_positive_int(where, "num_layers", num_layers)
        keys = jax.random.split(check_rngs(where, rngs).params(), self.num_layers)

        def make(key: Array, k: Array) -> Bijector:
            layer = make_layer(nnx.Rngs(key), k)
            if not isinstance(layer, Bijector):
                raise TypeError(
                    f"{where}: argument 'make_layer' must return a Bijector; got "
                    f"{type(layer).__name__}"
                )
            return layer

        build = nnx.vmap(make, in_axes=(0, 0))
        self.layers = build(keys, jnp.arange(self.num_layers, dtype=jnp.int32))
        self.event_shape = tuple(self.layers.event_shape)
        self.output_shape = tuple(self.layers.output_shape)
        if self.event_shape != self.output_shape:
            raise ValueError(
                f"{where}: the layers of 'make_layer' must keep the shape of their input; got "
                f"{self.event_shape} -> {self.output_shape}"
            )

    def _run(self, a: Array, inverse: bool) -> tuple[Array, Array]:
        graphdef, state = nnx.split(self.layers)

        def step(carry: tuple[Array, Array], layer_state: nnx.State) -> tuple:
            a, total = carry
            layer = nnx.merge(graphdef, layer_state)
            run = layer.inverse_and_log_det if inverse else layer.forward_and_log_det
            b, log_det = run(a)
            return (b, total + log_det), None

        (out, total), _ = lax.scan(step, (a, jnp.zeros(a.shape[0])), state, reverse=inverse)
        return out, total

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return self._run(z, inverse=False)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return self._run(x, inverse=True)


class Inverse(Bijector):
    r"""The inverse flow :math:`g = f^{-1}` with the SAME parameters: :math:`g`'s forward is
    :math:`f`'s inverse and :math:`g`'s inverse is :math:`f`'s forward (the log-determinants
    swap with them).

    Args:
        bijector: :math:`f`, a :class:`Bijector`.
    """

    def __init__(self, bijector: Bijector) -> None:
        if not isinstance(bijector, Bijector):
            raise TypeError(
                f"Inverse: argument 'bijector' must be a Bijector; got {type(bijector).__name__}"
            )
        self.bijector = bijector
        self.event_shape = tuple(bijector.output_shape)
        self.output_shape = tuple(bijector.event_shape)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return self.bijector.inverse_and_log_det(z)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return self.bijector.forward_and_log_det(x)
