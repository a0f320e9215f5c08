r"""Coupling layers: NICE's additive coupling and diagonal scale (Dinh et al., 2014),
RealNVP's affine coupling (Dinh et al., 2017), and the masks that split their inputs.

A coupling layer splits the coordinates with a binary mask :math:`m` (1 on the entries passed
through unchanged) and transforms the others with parameters computed from the first, so its
Jacobian is triangular after a permutation and its inverse is as cheap as its forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..checks import (
    check_array,
    check_event_shape,
    check_positive_float,
    check_positive_int,
    check_rngs,
)
from ..nn import MLP, Conv2d, Frozen
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


# ----------------------------------------------------------------------------- masks


def half_mask(d: int, parity: int | Array) -> Array:
    r"""Alternating half mask for vectors: 1 on the first :math:`\lceil d/2 \rceil` entries
    (even ``parity``), or on the others (odd ``parity``).

    Args:
        d: the data dimension, a positive int.
        parity: an int, or a traced integer scalar (the layer index inside a
            :class:`~dgm_lib.flows.bijector.Stack`).

    Returns:
        float32 array of shape ``(d,)``, entries 0 or 1.
    """
    d = check_positive_int("half_mask", "d", d)
    return _half_mask(d, _check_parity("half_mask", parity))


def checkerboard_mask(height: int, width: int, channels: int, parity: int | Array) -> Array:
    r"""RealNVP's checkerboard mask: 1 where :math:`(\text{row} + \text{column} +
    \text{parity})` is even, in all channels.

    Args:
        height: image height, a positive int.
        width: image width, a positive int.
        channels: number of channels, a positive int.
        parity: an int, or a traced integer scalar.

    Returns:
        float32 array of shape ``(height, width, channels)``, entries 0 or 1.
    """
    where = "checkerboard_mask"
    h, w, c = _check_image_size(where, height, width, channels)
    parity = _check_parity(where, parity)
    rows, cols = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij")
    board = ((rows + cols + parity) % 2 == 0).astype(jnp.float32)
    return jnp.broadcast_to(board[:, :, None], (h, w, c))


def channel_mask(height: int, width: int, channels: int, parity: int | Array) -> Array:
    r"""RealNVP's channel mask: 1 on the first :math:`\lceil C/2 \rceil` channels (even
    ``parity``) or on the others (odd ``parity``), at every position.

    Args:
        height: image height, a positive int.
        width: image width, a positive int.
        channels: number of channels :math:`C`, a positive int.
        parity: an int, or a traced integer scalar.

    Returns:
        float32 array of shape ``(height, width, channels)``, entries 0 or 1.
    """
    where = "channel_mask"
    h, w, c = _check_image_size(where, height, width, channels)
    return jnp.broadcast_to(_half_mask(c, _check_parity(where, parity)), (h, w, c))


def _check_image_size(where: str, height: int, width: int, channels: int) -> tuple[int, ...]:
    sizes = {"height": height, "width": width, "channels": channels}
    return tuple(check_positive_int(where, name, v) for name, v in sizes.items())


def _check_parity(where: str, parity: int | Array) -> Array:
    return check_array(where, "parity", parity, shape=(), kind="int")


def _half_mask(d: int, parity: Array) -> Array:
    first = (jnp.arange(d) < (d + 1) // 2).astype(jnp.float32)
    return jnp.where(parity % 2 == 0, first, 1.0 - first)


def _check_mask(where: str, mask: Array) -> Array:
    """A coupling mask: 0/1 entries, shape ``(d,)`` or ``(height, width, channels)``. Its
    values are checked when they are known (not inside a traced layer constructor)."""
    mask = check_array(where, "mask", mask, kind="number")
    if mask.ndim not in (1, 3):
        raise ValueError(
            f"{where}: argument 'mask' must have shape (d,) or (height, width, channels); got "
            f"shape {tuple(mask.shape)}"
        )
    if not isinstance(mask, jax.core.Tracer):
        values = np.asarray(mask)
        if not np.all((values == 0) | (values == 1)):
            raise ValueError(
                f"{where}: argument 'mask' must hold only 0s and 1s (1 = passed through); got "
                f"values {np.unique(values)[:6].tolist()}"
            )
    return mask.astype(jnp.float32)


# ----------------------------------------------------------------------------- conditioners


class _ConvNet(nnx.Module):
    """3x3 conv -> 1x1 conv -> 3x3 conv on (batch, H, W, C), ReLU; the last conv starts at 0.

    The convolutions are :class:`dgm_lib.nn.Conv2d` (matrix products of shifted copies), which
    train at full speed inside ``train.fit``'s loop, where ``nnx.Conv``'s gradient does not."""

    def __init__(self, channels: int, hidden_size: int, out: int, *, rngs: nnx.Rngs) -> None:
        self.c1 = Conv2d(channels, hidden_size, 3, rngs=rngs)
        self.c2 = Conv2d(hidden_size, hidden_size, 1, rngs=rngs)
        self.c3 = Conv2d(hidden_size, out, 3, zero_init=True, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return self.c3(jax.nn.relu(self.c2(jax.nn.relu(self.c1(x)))))


def _conditioner(
    shape: tuple[int, ...], hidden_size: int, factor: int, rngs: nnx.Rngs
) -> nnx.Module:
    """An MLP ``d -> hidden -> hidden -> factor * d`` for vectors, a small CNN for images;
    both start at zero output."""
    if len(shape) == 1:
        sizes = (shape[0], hidden_size, hidden_size, factor * shape[0])
        return MLP(sizes, "relu", zero_last=True, rngs=rngs)
    return _ConvNet(shape[2], hidden_size, factor * shape[2], rngs=rngs)


# ----------------------------------------------------------------------------- layers


class AdditiveCoupling(Bijector):
    r"""NICE's additive coupling, volume preserving:

    .. math:: x = z + (1 - m) \odot t(m \odot z), \qquad
              \log\left\lvert\det \frac{\partial x}{\partial z}\right\rvert = 0,
              \qquad z = x - (1 - m) \odot t(m \odot x).

    The mask :math:`m` (shape = event shape, 0/1) marks the entries passed through unchanged;
    :math:`t` is an MLP (vectors) or a small CNN (images, ``(height, width, channels)``) whose
    last layer starts at zero, so a fresh layer is the identity.

    Args:
        mask: 0/1 array of shape ``(d,)`` or ``(height, width, channels)``
            (:func:`half_mask`, :func:`checkerboard_mask`, :func:`channel_mask`).
        hidden_size: the width of the hidden layers (channels, for images) of :math:`t`.
        rngs: ``nnx.Rngs`` for the initial weights of :math:`t`.
    """

    def __init__(self, mask: Array, hidden_size: int, *, rngs: nnx.Rngs) -> None:
        where = "AdditiveCoupling"
        self.mask = Frozen(_check_mask(where, mask))
        self.event_shape = self.output_shape = tuple(self.mask.shape)
        hidden_size = check_positive_int(where, "hidden_size", hidden_size)
        self.net = _conditioner(self.event_shape, hidden_size, 1, check_rngs(where, rngs))

    def _shift(self, a: Array) -> Array:
        m = self.mask[...]
        return (1.0 - m) * self.net(m * a)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return z + self._shift(z), jnp.zeros(z.shape[0])

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return x - self._shift(x), jnp.zeros(x.shape[0])


class DiagonalScale(Bijector):
    r"""NICE's last layer, a learned scale per entry:

    .. math:: x = e^{s} \odot z, \qquad
              \log\left\lvert\det \frac{\partial x}{\partial z}\right\rvert = \sum_i s_i.

    It starts at :math:`s = 0`, the identity.

    Args:
        event_shape: the shape of one event, a tuple of positive ints.
    """

    def __init__(self, event_shape: Sequence[int]) -> None:
        self.event_shape = self.output_shape = check_event_shape("DiagonalScale", event_shape)
        self.log_scale = nnx.Param(jnp.zeros(self.event_shape))

    def _forward(self, z: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        return z * jnp.exp(s), jnp.full(z.shape[0], jnp.sum(s))

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        return x * jnp.exp(-s), jnp.full(x.shape[0], -jnp.sum(s))


class AffineCoupling(Bijector):
    r"""RealNVP's affine coupling, with :math:`m` the mask of entries passed through:

    .. math:: x = m \odot z + (1 - m) \odot \bigl(z \odot e^{s(m \odot z)} + t(m \odot z)\bigr),
              \qquad
              \log\left\lvert\det \frac{\partial x}{\partial z}\right\rvert
              = \sum_i (1 - m_i)\, s_i,

    where :math:`s = b \tanh(\hat s / b)` (:func:`~dgm_lib.flows.bijector.soft_clamp`, with
    :math:`b` = ``scale_bound``) keeps each scale in :math:`[e^{-b}, e^{b}]`. The pair
    :math:`(\hat s, t)` comes from one network (an MLP for vectors, a CNN for images) whose
    last layer starts at zero: a fresh layer is exactly the identity, and so is a fresh stack
    of them. Inverse: :math:`z = m \odot x + (1 - m) \odot (x - t) \odot e^{-s}`.

    Args:
        mask: 0/1 array of shape ``(d,)`` or ``(height, width, channels)``
            (:func:`half_mask`, :func:`checkerboard_mask`, :func:`channel_mask`).
        hidden_size: the width of the hidden layers (channels, for images) of the network.
        rngs: ``nnx.Rngs`` for the initial weights of the network.
        scale_bound: :math:`b > 0`, the bound on every log-scale.
    """

    def __init__(
        self, mask: Array, hidden_size: int, *, rngs: nnx.Rngs, scale_bound: float = 3.0
    ) -> None:
        where = "AffineCoupling"
        self.mask = Frozen(_check_mask(where, mask))
        self.event_shape = self.output_shape = tuple(self.mask.shape)
        hidden_size = check_positive_int(where, "hidden_size", hidden_size)
        self.scale_bound = check_positive_float(where, "scale_bound", scale_bound)
        self.net = _conditioner(self.event_shape, hidden_size, 2, check_rngs(where, rngs))

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
