"""Coupling layers: NICE's additive coupling and diagonal scale (Dinh et al., 2014),
RealNVP's affine coupling (Dinh et al., 2017), and the masks that split their inputs."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ..nn import MLP, Frozen
from .bijector import Bijector, event_sum, soft_clamp

Array = jax.Array

__all__ = [
    "AdditiveCoupling",
    "AffineCoupling",
    "DiagonalScale",
    "channel_mask",
    "checkerboard_mask",
    "half_mask",
]

def half_mask(dim: int, parity: int | Array) -> Array:
    """Alternating half mask for vectors: 1 on the first ⌈dim/2⌉ entries (parity 0), or on the
    rest (parity 1). Shape ``(dim,)``, float32. ``parity`` may be a traced integer."""
    first = (jnp.arange(dim) < (dim + 1) // 2).astype(jnp.float32)
    return jnp.where(jnp.asarray(parity) % 2 == 0, first, 1.0 - first)


def checkerboard_mask(height: int, width: int, channels: int, parity: int | Array) -> Array:
    """RealNVP's checkerboard mask: 1 where (row + column + parity) is even, all channels.

    Shape ``(height, width, channels)``, float32."""
    rows, cols = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")
    board = ((rows + cols + jnp.asarray(parity)) % 2 == 0).astype(jnp.float32)
    return jnp.broadcast_to(board[:, :, None], (height, width, channels))


def channel_mask(height: int, width: int, channels: int, parity: int | Array) -> Array:
    """RealNVP's channel mask: 1 on the first half of the channels (parity 0) or the second.

    Shape ``(height, width, channels)``, float32."""
    return jnp.broadcast_to(half_mask(channels, parity), (height, width, channels))


# ----------------------------------------------------------------------------- couplings


class _ConvNet(nnx.Module):
    """3x3 conv -> 1x1 conv -> 3x3 conv on (batch, H, W, C), ReLU; the last conv starts at 0."""

    def __init__(self, channels: int, hidden: int, out: int, *, rngs: nnx.Rngs) -> None:
        self.c1 = nnx.Conv(channels, hidden, (3, 3), rngs=rngs)
        self.c2 = nnx.Conv(hidden, hidden, (1, 1), rngs=rngs)
        zeros = nnx.initializers.zeros
        self.c3 = nnx.Conv(hidden, out, (3, 3), kernel_init=zeros, bias_init=zeros, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return self.c3(jax.nn.relu(self.c2(jax.nn.relu(self.c1(x)))))


def _conditioner(shape: tuple[int, ...], hidden: int, factor: int, rngs: nnx.Rngs) -> nnx.Module:
    if len(shape) == 1:
        sizes = (shape[0], hidden, hidden, factor * shape[0])
        return MLP(sizes, "relu", zero_last=True, rngs=rngs)
    if len(shape) == 3:
        return _ConvNet(shape[2], hidden, factor * shape[2], rngs=rngs)
    raise ValueError(
        f"coupling: mask must have shape (dim,) or (height, width, channels); got {shape}"
    )


class AdditiveCoupling(Bijector):
    """NICE's additive coupling: x = z + (1 - m) ⊙ t(m ⊙ z); log|det| = 0 (volume preserving).

    ``mask`` m (shape = event shape, 0/1) marks the entries passed through unchanged; t is an
    MLP (vectors) or a small CNN (images, ``(height, width, channels)``) whose last layer starts
    at zero, so a fresh layer is the identity. Inverse: z = x - (1 - m) ⊙ t(m ⊙ x).
    """

    def __init__(self, mask: Array, hidden: int, *, rngs: nnx.Rngs) -> None:
        self.mask = Frozen(jnp.asarray(mask, jnp.float32))
        self.event_shape = self.output_shape = tuple(self.mask.shape)
        self.net = _conditioner(self.event_shape, hidden, 1, rngs)

    def _shift(self, a: Array) -> Array:
        m = self.mask[...]
        return (1.0 - m) * self.net(m * a)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return z + self._shift(z), jnp.zeros(z.shape[0])

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return x - self._shift(x), jnp.zeros(x.shape[0])


class DiagonalScale(Bijector):
    """NICE's last layer: x = exp(s) ⊙ z; log|det| = Σᵢ sᵢ. Starts at s = 0 (the identity)."""

    def __init__(self, event_shape: Sequence[int]) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
        self.log_scale = nnx.Param(jnp.zeros(self.event_shape))

    def _forward(self, z: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        return z * jnp.exp(s), jnp.full(z.shape[0], jnp.sum(s))

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        return x * jnp.exp(-s), jnp.full(x.shape[0], -jnp.sum(s))


class AffineCoupling(Bijector):
    """RealNVP's affine coupling, with m the mask of entries passed through:

        x = m ⊙ z + (1 - m) ⊙ (z ⊙ exp(s(m ⊙ z)) + t(m ⊙ z)),   log|det| = Σᵢ (1 - mᵢ) sᵢ,

    where s = bound · tanh(ŝ / bound) (:func:`soft_clamp`) keeps each scale in
    [e^-bound, e^bound]. (ŝ, t) come from one network (MLP for vectors, CNN for images) whose
    last layer is zero-initialised: a fresh layer is exactly the identity, and a deep stack
    starts as the identity too. Inverse: z = m ⊙ x + (1 - m) ⊙ (x - t) ⊙ exp(-s).
    """

    def __init__(
        self, mask: Array, hidden: int, *, rngs: nnx.Rngs, scale_bound: float = 3.0
    ) -> None:
        self.mask = Frozen(jnp.asarray(mask, jnp.float32))
        self.event_shape = self.output_shape = tuple(self.mask.shape)
        self.net = _conditioner(self.event_shape, hidden, 2, rngs)
        self.scale_bound = float(scale_bound)

    def _shift_and_log_scale(self, a: Array) -> tuple[Array, Array]:
        m = self.mask[...]
        raw_s, t = jnp.split(self.net(m * a), 2, axis=-1)
        s = (1.0 - m) * soft_clamp(raw_s, self.scale_bound)
        return (1.0 - m) * t, s

    def _forward(self, z: Array) -> tuple[Array, Array]:
        t, s = self._shift_and_log_scale(z)
        return z * jnp.exp(s) + t, event_sum(s, len(self.event_shape))

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        t, s = self._shift_and_log_scale(x)
        return (x - t) * jnp.exp(-s), -event_sum(s, len(self.event_shape))


