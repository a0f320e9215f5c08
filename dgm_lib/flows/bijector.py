"""The bijector contract and its combinators.

Every layer of :mod:`dgm_lib.flows` is a :class:`Bijector` in the generative direction:

- ``forward_and_log_det(z) -> (x, log|det dx/dz|)``: the generative direction z -> x;
- ``inverse_and_log_det(x) -> (z, log|det dz/dx|)``: the density direction x -> z;

so that for x = f(z) the change of variables reads log p_x(x) = log p_z(f^-1(x)) + log|det
df^-1/dx|. **Methods act on batches**: ``z`` has shape ``(batch, *event_shape)`` and the
log-determinant, in nats, has shape ``(batch,)``: one value per example, summed over the
event axes. Shapes are checked at trace time; a wrong one raises ``ValueError`` naming the
layer and the expected shape ``(batch, *event_shape)``.

Combinators: :class:`Chain` applies layers **in list order** z -> f_1 -> f_2 -> ... -> x
(distrax's Chain applies them in reverse order; ours does not); :class:`Stack` runs ``n``
layers of identical structure with one ``lax.scan``, so compile time does not grow with
depth; :class:`Inverse` swaps the two directions with the same parameters.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from ..checks import check_array, check_key, check_positive_int

Array = jax.Array

__all__ = [
    "Bijector",
    "Chain",
    "Inverse",
    "Stack",
    "event_sum",
    "soft_clamp",
]

def event_sum(a: Array, event_ndim: int) -> Array:
    """Sum over the trailing ``event_ndim`` axes: per-example totals of shape ``(batch,)``."""
    return jnp.sum(a, axis=tuple(range(a.ndim - event_ndim, a.ndim)))


def soft_clamp(a: Array, bound: float) -> Array:
    """bound · tanh(a / bound): the identity near 0, smoothly limited to (-bound, bound).

    Used on log-scales so exp(log-scale) stays within [e^-bound, e^bound] and the log-det
    cannot explode during training.
    """
    return bound * jnp.tanh(a / bound)


class Bijector(nnx.Module):
    """Base class: an invertible map z -> x on events of shape ``event_shape``.

    ``event_shape`` is the shape of one input z; ``output_shape`` that of one output x (equal
    except for :class:`Squeeze`). Subclasses write ``_forward(z)`` and ``_inverse(x)`` on
    checked batches; the public methods check shapes first.
    """

    event_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    def _check(self, where: str, name: str, a: Array, shape: tuple[int, ...]) -> Array:
        return check_array(f"{type(self).__name__}.{where}", name, a, shape=("batch", *shape))

    def forward_and_log_det(self, z: Array) -> tuple[Array, Array]:
        """x = f(z) and log|det ∂x/∂z| in nats; z: ``(batch, *event_shape)``, log-det
        ``(batch,)``."""
        return self._forward(self._check("forward_and_log_det", "z", z, self.event_shape))

    def inverse_and_log_det(self, x: Array) -> tuple[Array, Array]:
        """z = f⁻¹(x) and log|det ∂z/∂x| in nats; x: ``(batch, *output_shape)``, log-det
        ``(batch,)``."""
        return self._inverse(self._check("inverse_and_log_det", "x", x, self.output_shape))

    def _forward(self, z: Array) -> tuple[Array, Array]:
        raise NotImplementedError(f"{type(self).__name__} must define _forward(z) (abstract)")

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        raise NotImplementedError(f"{type(self).__name__} must define _inverse(x) (abstract)")




class Chain(Bijector):
    """Composition in LIST ORDER: x = f_K(... f₂(f₁(z))), ``layers = [f₁, ..., f_K]``.

    log|det ∂x/∂z| = Σ_k log|det ∂f_k/∂(input of f_k)|; the inverse runs the list backwards.
    Consecutive shapes must match (``layers[k].output_shape == layers[k+1].event_shape``).
    """

    def __init__(self, layers: Sequence[Bijector]) -> None:
        if not layers:
            raise ValueError("Chain: argument 'layers' must hold at least one bijector")
        for k, (a, b) in enumerate(itertools.pairwise(layers)):
            if tuple(a.output_shape) != tuple(b.event_shape):
                raise ValueError(
                    f"Chain: layer {k} outputs shape {tuple(a.output_shape)} but layer {k + 1} "
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
    """``num_layers`` layers ``make_layer(rngs, k)`` (k = 0, 1, ...) applied in order k = 0
    first, with parameters stacked along a leading axis (``nnx.vmap`` over keys and k) and run
    by one ``lax.scan``: one layer is traced and compiled whatever the depth.

    ``k`` arrives as a traced int32 scalar, so a layer may depend on it through jnp only, e.g.
    ``AffineCoupling(half_mask(2, k), 64, rngs=rngs)`` alternates its mask. Every layer must
    have the same structure and shapes, and be built from jnp operations (not :class:`Conv1x1`,
    whose initial LU factors come from NumPy).
    """

    def __init__(
        self, make_layer: Callable[[nnx.Rngs, Array], Bijector], num_layers: int, *, key: Array
    ) -> None:
        self.num_layers = check_positive_int("Stack", "num_layers", num_layers)
        keys = jax.random.split(check_key("Stack", key), self.num_layers)
        build = nnx.vmap(lambda k, i: make_layer(nnx.Rngs(k), i), in_axes=(0, 0))
        self.layers = build(keys, jnp.arange(self.num_layers, dtype=jnp.int32))
        self.event_shape = tuple(self.layers.event_shape)
        self.output_shape = tuple(self.layers.output_shape)
        if self.event_shape != self.output_shape:
            raise ValueError("Stack: the stacked layer must keep the shape of its input")

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
    """The inverse flow g = f⁻¹ with the SAME parameters: g's forward is f's inverse and
    g's inverse is f's forward (log-dets swap accordingly)."""

    def __init__(self, bijector: Bijector) -> None:
        self.bijector = bijector
        self.event_shape = tuple(bijector.output_shape)
        self.output_shape = tuple(bijector.event_shape)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return self.bijector.inverse_and_log_det(z)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return self.bijector.forward_and_log_det(x)

