"""Glow-style layers (Kingma and Dhariwal, 2018): activation normalisation with its
data-dependent initialisation, the invertible 1x1 convolution in LU form, squeeze and the
multi-scale split, and :func:`image_flow`, a two-level flow on images built from them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from flax import nnx

from ..checks import check_array, check_positive_int
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
    """Glow's activation normalisation: an affine map per channel (the last axis),

        x = z ⊙ exp(s) + b,   log|det| = (number of positions) · Σ_c s_c.

    It starts as the identity; :func:`dgm_lib.flows.init_actnorm` sets (s, b) from a batch of
    its OUTPUTS x (data-dependent initialisation, an explicit function, no hidden "initialised"
    flag): b = mean(x), s = log std(x) per channel, so that z = f⁻¹(x) has zero mean and unit
    variance per channel on that batch.
    """

    def __init__(self, event_shape: Sequence[int]) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
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
    """Glow's invertible 1x1 convolution: the same C x C matrix W mixes the channels of every
    position, x[..., :] = W z[..., :], with W in LU form (Kingma and Dhariwal 2018, §3.2):

        W = P L (U + diag(sign ⊙ exp(log_s))),

    P a fixed permutation, L unit lower-triangular, U strictly upper-triangular. Then
    log|det W| = Σ_c log_s_c costs O(C) instead of O(C³), and the layer's log-det is
    (number of positions) · Σ_c log_s_c. Initialised from the LU factors of a random rotation.
    """

    def __init__(self, event_shape: Sequence[int], *, rngs: nnx.Rngs) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
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
        """W = P L (U + diag(sign · exp(log_s))), shape ``(C, C)``."""
        c = self.event_shape[-1]
        lower = jnp.tril(self.lower[...], -1) + jnp.eye(c)
        upper = jnp.triu(self.upper[...], 1) + jnp.diag(self.sign[...] * jnp.exp(self.log_s[...]))
        return self.permutation[...] @ lower @ upper

    def _log_det(self) -> Array:
        return math.prod(self.event_shape[:-1]) * jnp.sum(self.log_s[...])

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return z @ self.weight().T, jnp.full(z.shape[0], self._log_det())

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        # W⁻¹ once (C x C), then one matmul for every position
        return x @ jnp.linalg.inv(self.weight()).T, jnp.full(x.shape[0], -self._log_det())


class Squeeze(Bijector):
    """Space-to-depth: forward takes z of shape (H, W, C) to (H/2, W/2, 4C), each 2x2 block of
    pixels becoming 4 channels; inverse undoes it. A permutation: log|det| = 0.

    In a generative chain (z -> image) the image side is the large one, so a multi-scale flow
    puts ``Inverse(Squeeze(...))`` (depth-to-space) where the data direction squeezes.
    """

    def __init__(self, event_shape: Sequence[int]) -> None:
        h, w, c = (int(d) for d in event_shape)
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze: height and width must be even; got shape {(h, w, c)}")
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
    """Multi-scale split (RealNVP §3.6, Glow): ``inner`` transforms only the first ``keep``
    channels; the others pass straight through,

        x = concat(inner(z[..., :keep]), z[..., keep:]),   log|det| = inner's log|det|.

    In the data direction this "factors out" the passed-through half to the base
    distribution early, so the deeper (earlier, in generative order) layers work on fewer
    dimensions.
    """

    def __init__(self, event_shape: Sequence[int], keep: int, inner: Bijector) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
        self.keep = check_positive_int("SplitChannels", "keep", keep)
        expected = (*self.event_shape[:-1], self.keep)
        if tuple(inner.event_shape) != expected or tuple(inner.output_shape) != expected:
            raise ValueError(
                f"SplitChannels: 'inner' must map shape {expected} to itself; got "
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
    """Data-dependent initialisation of every :class:`ActNorm` in ``bijector`` from data x.

    Walks the flow in the data direction (a :class:`Chain` backwards): an ActNorm receiving
    the batch a sets b = mean(a) and s = log std(a) per channel (over batch and positions), so
    its output f⁻¹(a) has zero mean and unit variance per channel; the batch then moves on
    through each layer's inverse. Layers inside a :class:`Stack` are passed through unchanged.
    Changes the parameters IN PLACE.

    Args:
      bijector: the flow, generative direction.
      x: a batch of data, ``(batch, *bijector.output_shape)``.

    Returns:
      the batch in the base space, f⁻¹(x), after initialisation.
    """
    x = check_array("init_actnorm", "x", x, shape=("batch", *bijector.output_shape))
    if isinstance(bijector, ActNorm):
        axes = tuple(range(x.ndim - 1))
        bijector.bias[...] = jnp.mean(x, axis=axes)
        bijector.log_scale[...] = jnp.log(jnp.std(x, axis=axes) + 1e-6)
    elif isinstance(bijector, Chain):
        for layer in reversed(bijector.layers):
            x = init_actnorm(layer, x)
        return x
    elif isinstance(bijector, SplitChannels):
        kept = init_actnorm(bijector.inner, x[..., : bijector.keep])
        return jnp.concatenate([kept, x[..., bijector.keep :]], axis=-1)
    return bijector.inverse_and_log_det(x)[0]



def image_flow(
    image_shape: Sequence[int],
    *,
    hidden: int,
    depth: int,
    rngs: nnx.Rngs,
    alpha: float = 1e-6,
    num_levels: int = 256,
) -> Transformed:
    """A two-level Glow/RealNVP-style flow on images with pixel values in [0, num_levels).

    Data direction: v / num_levels -> logit -> squeeze to (H/2, W/2, 4C) -> ``depth`` steps of
    [ActNorm, Conv1x1, AffineCoupling with channel masks] -> factor out half of the channels
    -> squeeze the rest to (H/4, W/4, 8C) -> ``depth`` more steps. Returned as a
    ``Transformed(StandardNormal((H/2, W/2, 4C)), Chain([...]))`` in the generative direction,
    so ``log_prob(v)`` includes the logit and scaling Jacobians: it is log p of the
    dequantised pixels v, and nats_to_bits_per_dim(-log_prob(v), D) is bits per dimension.
    """
    h, w, c = (int(d) for d in image_shape)
    depth = check_positive_int("image_flow", "depth", depth)

    def steps(shape: tuple[int, int, int]) -> list[Bijector]:
        layers: list[Bijector] = []
        for k in range(depth):  # generative order: coupling, 1x1 conv, actnorm
            mask = channel_mask(*shape, k)
            layers += [AffineCoupling(mask, hidden, rngs=rngs), Conv1x1(shape, rngs=rngs)]
            layers.append(ActNorm(shape))
        return layers

    top = (h // 2, w // 2, 4 * c)
    half = (h // 2, w // 2, 2 * c)
    inner = Chain([Squeeze(half), *steps((h // 4, w // 4, 8 * c)), Inverse(Squeeze(half))])
    layers = [SplitChannels(top, 2 * c, inner), *steps(top), Inverse(Squeeze((h, w, c)))]
    layers += [LogitTransform((h, w, c), alpha), Scale((h, w, c), float(num_levels))]
    return Transformed(StandardNormal(top), Chain(layers))


