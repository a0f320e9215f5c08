r"""Glow-style layers (Kingma and Dhariwal, 2018): activation normalisation with its
data-dependent initialisation, the invertible 1x1 convolution in LU form, squeeze and the
multi-scale split, and :func:`image_flow`, a two-scale flow on images built from them.

Images are channels-last: one event has shape ``(height, width, channels)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from flax import nnx

from ..checks import check_array, check_event_shape, check_positive_int, check_rngs
from ..nn import Frozen
from .bijector import Bijector, Chain, Inverse
from .coupling import AffineCoupling, channel_mask
from .distribution import StandardNormal, Transformed
from .pixels import LogitTransform, Scale

Array = jax.Array

__all__ = [
    "ActNorm",
    "Conv1x1",
    "SplitChannels",
    "Squeeze",
    "image_flow",
    "init_actnorm",
]


class ActNorm(Bijector):
    r"""Glow's activation normalisation: an affine map per channel (the last axis),

    .. math:: x = z \odot e^{s} + b, \qquad
              \log\left\lvert\det \frac{\partial x}{\partial z}\right\rvert
              = P \sum_c s_c,

    with :math:`P` the number of positions (the product of the other event axes). It starts as
    the identity; :func:`init_actnorm` sets :math:`(s, b)` from a batch of its OUTPUTS
    :math:`x` (data-dependent initialisation, an explicit function, no hidden "initialised"
    flag): :math:`b = \operatorname{mean}(x)` and :math:`s = \log \operatorname{std}(x)` per
    channel, so that :math:`z = f^{-1}(x)` has zero mean and unit variance per channel on that
    batch.

    Args:
        event_shape: the shape of one event, a tuple of positive ints, channels last.
    """

    def __init__(self, event_shape: Sequence[int]) -> None:
        self.event_shape = self.output_shape = check_event_shape("ActNorm", event_shape)
        channels = self.event_shape[-1]
        self.log_scale = nnx.Param(jnp.zeros(channels))
        self.bias = nnx.Param(jnp.zeros(channels))

    def _positions(self) -> int:
        return math.prod(self.event_shape[:-1])

    def _forward(self, z: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        log_det = self._positions() * jnp.sum(s)
        return z * jnp.exp(s) + self.bias[...], jnp.full(z.shape[0], log_det)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        s = self.log_scale[...]
        log_det = -self._positions() * jnp.sum(s)
        return (x - self.bias[...]) * jnp.exp(-s), jnp.full(x.shape[0], log_det)


class Conv1x1(Bijector):
    r"""Glow's invertible 1x1 convolution: the same :math:`C \times C` matrix :math:`W` mixes
    the channels at every position, :math:`x_{p,:} = W z_{p,:}`, with :math:`W` in LU form
    (Kingma and Dhariwal 2018, section 3.2):

    .. math:: W = P L \bigl(U + \operatorname{diag}(\sigma \odot e^{\ell})\bigr),

    :math:`P` a fixed permutation, :math:`L` unit lower-triangular, :math:`U` strictly
    upper-triangular, :math:`\sigma` fixed signs and :math:`\ell` = ``log_s``. Then
    :math:`\log\lvert\det W\rvert = \sum_c \ell_c` costs :math:`O(C)` instead of
    :math:`O(C^3)`, and the layer's log-determinant is (number of positions)
    :math:`\times \sum_c \ell_c`. Initialised from the LU factors of a random rotation; the
    factors come from NumPy and SciPy, so the layer cannot be built inside a
    :class:`~dgm_lib.flows.bijector.Stack`.

    Args:
        event_shape: the shape of one event, a tuple of positive ints, channels last.
        rngs: ``nnx.Rngs`` for the random rotation.
    """

    def __init__(self, event_shape: Sequence[int], *, rngs: nnx.Rngs) -> None:
        self.event_shape = self.output_shape = check_event_shape("Conv1x1", event_shape)
        rngs = check_rngs("Conv1x1", rngs)
        c = self.event_shape[-1]
        q, _ = np.linalg.qr(np.asarray(jax.random.normal(rngs.params(), (c, c)), np.float64))
        p, lower, upper = scipy.linalg.lu(q)
        diag = np.diag(upper)
        self.permutation = Frozen(jnp.asarray(p, jnp.float32))
        self.sign = Frozen(jnp.asarray(np.sign(diag), jnp.float32))
        self.lower = nnx.Param(jnp.asarray(np.tril(lower, -1), jnp.float32))
        self.upper = nnx.Param(jnp.asarray(np.triu(upper, 1), jnp.float32))
        self.log_s = nnx.Param(jnp.asarray(np.log(np.abs(diag)), jnp.float32))

    def weight(self) -> Array:
        r""":math:`W = P L (U + \operatorname{diag}(\sigma \odot e^{\ell}))`, shape
        ``(C, C)``."""
        c = self.event_shape[-1]
        lower = jnp.tril(self.lower[...], -1) + jnp.eye(c)
        upper = jnp.triu(self.upper[...], 1) + jnp.diag(self.sign[...] * jnp.exp(self.log_s[...]))
        return self.permutation[...] @ lower @ upper

    def _log_det(self) -> Array:
        return math.prod(self.event_shape[:-1]) * jnp.sum(self.log_s[...])

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return z @ self.weight().T, jnp.full(z.shape[0], self._log_det())

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        # the inverse of W once (C x C), then one matmul for every position
        return x @ jnp.linalg.inv(self.weight()).T, jnp.full(x.shape[0], -self._log_det())


class Squeeze(Bijector):
    r"""Space-to-depth: the forward map takes :math:`z` of shape :math:`(H, W, C)` to
    :math:`(H/2, W/2, 4C)`, each :math:`2 \times 2` block of pixels becoming 4 channels; the
    inverse undoes it. A permutation: :math:`\log\lvert\det J\rvert = 0`.

    In a generative chain (:math:`z \to` image) the image side is the large one, so a
    multi-scale flow puts ``Inverse(Squeeze(...))`` (depth-to-space) where the data direction
    squeezes.

    Args:
        event_shape: ``(height, width, channels)``, positive ints, height and width even.
    """

    def __init__(self, event_shape: Sequence[int]) -> None:
        h, w, c = check_event_shape("Squeeze", event_shape, ndim=3)
        if h % 2 or w % 2:
            raise ValueError(
                f"Squeeze: argument 'event_shape' must have an even height and width; got "
                f"{(h, w, c)}"
            )
        self.event_shape = (h, w, c)
        self.output_shape = (h // 2, w // 2, 4 * c)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        n, (h, w, c) = z.shape[0], self.event_shape
        x = z.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(n, *self.output_shape), jnp.zeros(n)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        n, (h, w, c) = x.shape[0], self.event_shape
        z = x.reshape(n, h // 2, w // 2, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        return z.reshape(n, h, w, c), jnp.zeros(n)


class SplitChannels(Bijector):
    r"""Multi-scale split (RealNVP section 3.6, Glow): ``inner`` transforms only the first
    :math:`k` = ``keep`` channels; the others pass straight through,

    .. math:: x = \operatorname{concat}\bigl(g(z_{\dots, :k}),\ z_{\dots, k:}\bigr), \qquad
              \log\lvert\det J\rvert = \log\lvert\det J_g\rvert,

    with :math:`g` = ``inner``. In the data direction this "factors out" the passed-through
    channels to the base distribution early, so the deeper (earlier, in generative order)
    layers work on fewer dimensions.

    Args:
        event_shape: the shape of one event, a tuple of positive ints, channels last.
        keep: the number of channels :math:`k` that ``inner`` transforms,
            ``1 <= keep < channels``.
        inner: a :class:`~dgm_lib.flows.bijector.Bijector` mapping
            ``(*event_shape[:-1], keep)`` to itself.
    """

    def __init__(self, event_shape: Sequence[int], keep: int, inner: Bijector) -> None:
        where = "SplitChannels"
        self.event_shape = self.output_shape = check_event_shape(where, event_shape)
        channels = self.event_shape[-1]
        self.keep = check_positive_int(where, "keep", keep)
        if self.keep >= channels:
            raise ValueError(
                f"{where}: argument 'keep' must be less than the number of channels "
                f"({channels}, the last entry of 'event_shape'); got {self.keep}"
            )
        if not isinstance(inner, Bijector):
            raise TypeError(
                f"{where}: argument 'inner' must be a Bijector; got {type(inner).__name__}"
            )
        expected = (*self.event_shape[:-1], self.keep)
        if tuple(inner.event_shape) != expected or tuple(inner.output_shape) != expected:
            raise ValueError(
                f"{where}: argument 'inner' must map shape {expected} to itself; got "
                f"{tuple(inner.event_shape)} -> {tuple(inner.output_shape)}"
            )
        self.inner = inner

    def _forward(self, z: Array) -> tuple[Array, Array]:
        x_kept, log_det = self.inner.forward_and_log_det(z[..., : self.keep])
        return jnp.concatenate([x_kept, z[..., self.keep :]], axis=-1), log_det

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        z_kept, log_det = self.inner.inverse_and_log_det(x[..., : self.keep])
        return jnp.concatenate([z_kept, x[..., self.keep :]], axis=-1), log_det


def init_actnorm(bijector: Bijector, x: Array) -> Array:
    r"""Data-dependent initialisation of every :class:`ActNorm` in ``bijector`` from data
    :math:`x`.

    Walks the flow in the data direction (a :class:`~dgm_lib.flows.bijector.Chain`
    backwards): an ActNorm receiving the batch :math:`a` sets :math:`b = \operatorname{mean}(a)`
    and :math:`s = \log \operatorname{std}(a)` per channel (over the batch and the positions),
    so that its output :math:`f^{-1}(a)` has zero mean and unit variance per channel; the batch
    then moves on through each layer's inverse. ActNorms inside a
    :class:`~dgm_lib.flows.bijector.Stack` or an :class:`~dgm_lib.flows.bijector.Inverse` are
    passed through unchanged. Changes the parameters IN PLACE.

    Args:
        bijector: the flow, a :class:`~dgm_lib.flows.bijector.Bijector` in the generative
            direction.
        x: a batch of data, ``(batch, *bijector.output_shape)``.

    Returns:
        the batch in the base space, :math:`f^{-1}(x)`, after initialisation.
    """
    if not isinstance(bijector, Bijector):
        raise TypeError(
            f"init_actnorm: argument 'bijector' must be a Bijector; got {type(bijector).__name__}"
        )
    x = check_array("init_actnorm", "x", x, shape=("batch", *bijector.output_shape))
    return _init_actnorm(bijector, x)


def _init_actnorm(bijector: Bijector, x: Array) -> Array:
    if isinstance(bijector, ActNorm):
        axes = tuple(range(x.ndim - 1))
        bijector.bias[...] = jnp.mean(x, axis=axes)
        bijector.log_scale[...] = jnp.log(jnp.std(x, axis=axes) + 1e-6)
    elif isinstance(bijector, Chain):
        for layer in reversed(bijector.layers):
            x = _init_actnorm(layer, x)
        return x
    elif isinstance(bijector, SplitChannels):
        kept = _init_actnorm(bijector.inner, x[..., : bijector.keep])
        return jnp.concatenate([kept, x[..., bijector.keep :]], axis=-1)
    return bijector.inverse_and_log_det(x)[0]


def image_flow(
    image_shape: Sequence[int],
    *,
    hidden_size: int,
    num_flow_steps: int,
    rngs: nnx.Rngs,
    alpha: float = 1e-6,
    num_levels: int = 256,
) -> Transformed:
    r"""A two-scale Glow/RealNVP-style flow on images with pixel values in
    :math:`[0, L)`, :math:`L` = ``num_levels``.

    Data direction: :math:`v / L` :math:`\to` logit :math:`\to` squeeze to
    :math:`(H/2, W/2, 4C)` :math:`\to` ``num_flow_steps`` steps of [ActNorm, Conv1x1,
    AffineCoupling with channel masks] :math:`\to` factor out half of the channels
    :math:`\to` squeeze the rest to :math:`(H/4, W/4, 8C)` :math:`\to` ``num_flow_steps``
    more steps. Returned as ``Transformed(StandardNormal((H/2, W/2, 4C)), Chain([...]))`` in
    the generative direction, so ``log_prob(v)`` includes the logit and scaling Jacobians: it
    is :math:`\log p(v)` of the dequantised pixels :math:`v`, and
    :func:`dgm_lib.metrics.nats_to_bits_per_dim` of :math:`-\log p(v)` is bits per dimension.

    Args:
        image_shape: ``(height, width, channels)``, positive ints, height and width multiples
            of 4 (two squeezes).
        hidden_size: the channels of the coupling networks, a positive int.
        num_flow_steps: the steps of flow per scale (Glow's :math:`K`), a positive int.
        rngs: ``nnx.Rngs`` for the initial weights.
        alpha: :math:`\lambda \in [0, 0.5)` of the
            :class:`~dgm_lib.flows.pixels.LogitTransform`.
        num_levels: :math:`L`, the number of pixel values (256 for 8-bit images), a positive
            int.

    Returns:
        a :class:`~dgm_lib.flows.distribution.Transformed` on events of shape
        ``image_shape``.
    """
    where = "image_flow"
    h, w, c = check_event_shape(where, image_shape, ndim=3)
    if h % 4 or w % 4:
        raise ValueError(
            f"{where}: argument 'image_shape' must have a height and width divisible by 4 "
            f"(two squeezes); got {(h, w, c)}"
        )
    hidden_size = check_positive_int(where, "hidden_size", hidden_size)
    num_flow_steps = check_positive_int(where, "num_flow_steps", num_flow_steps)
    rngs = check_rngs(where, rngs)
    num_levels = check_positive_int(where, "num_levels", num_levels)

    def steps(shape: tuple[int, int, int]) -> list[Bijector]:
        layers: list[Bijector] = []
        for k in range(num_flow_steps):  # generative order: coupling, 1x1 conv, actnorm
            mask = channel_mask(*shape, k)
            layers += [AffineCoupling(mask, hidden_size, rngs=rngs), Conv1x1(shape, rngs=rngs)]
            layers.append(ActNorm(shape))
        return layers

    top = (h // 2, w // 2, 4 * c)
    half = (h // 2, w // 2, 2 * c)
    inner = Chain([Squeeze(half), *steps((h // 4, w // 4, 8 * c)), Inverse(Squeeze(half))])
    layers = [SplitChannels(top, 2 * c, inner), *steps(top), Inverse(Squeeze((h, w, c)))]
    layers += [LogitTransform((h, w, c), alpha), Scale((h, w, c), float(num_levels))]
    return Transformed(StandardNormal(top), Chain(layers))
