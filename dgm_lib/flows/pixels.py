r"""From pixels to a flow's real space: uniform dequantisation, the logit transform and a fixed
scale, so that the log-likelihood of dequantised images carries every Jacobian term."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_array, check_event_shape, check_key, check_positive_float
from .bijector import Bijector, event_sum

Array = jax.Array

__all__ = [
    "LogitTransform",
    "Scale",
    "dequantize",
]


def dequantize(key: Array, x: Array) -> Array:
    r"""Uniform dequantisation :math:`v = x + u`, :math:`u \sim \mathcal U[0, 1)^D`, of integer
    pixel values :math:`x` (any shape).

    A density :math:`p` on :math:`v` gives the discrete :math:`x` the mass
    :math:`P(x) = \int_{[0,1)^D} p(x + u)\, \mathrm du \ge \exp \mathbb E_u \log p(x + u)`
    (Jensen), so the average :math:`-\log p(v)` is an upper bound on the discrete NLL (Theis et
    al. 2016).

    Args:
        key: a ``jax.random.key``.
        x: pixel values, a numeric array of any shape.

    Returns:
        float32 array of the shape of ``x``.
    """
    key = check_key("dequantize", key)
    x = check_array("dequantize", "x", x, kind="number")
    return x.astype(jnp.float32) + jax.random.uniform(key, x.shape)


class LogitTransform(Bijector):
    r"""Logit space for pixels in :math:`(0, 1)` (RealNVP section 4.1, MAF), with
    :math:`\lambda` = ``alpha``: the inverse is
    :math:`y = \operatorname{logit}\bigl(\lambda + (1 - 2\lambda) x\bigr)`, the forward map
    :math:`x = (\sigma(y) - \lambda) / (1 - 2\lambda)`, and

    .. math:: \log\left\lvert\det \frac{\partial x}{\partial y}\right\rvert
              = \sum_{i=1}^{D} \bigl[\log\sigma(y_i) + \log\sigma(-y_i)\bigr]
              - D \log(1 - 2\lambda).

    :math:`\lambda` keeps the logit finite at :math:`x = 0` or 1 (:math:`\lambda = 10^{-6}` in
    MAF's MNIST, 0.05 in RealNVP).

    Args:
        event_shape: the shape of one event, a tuple of positive ints.
        alpha: :math:`\lambda \in [0, 0.5)`.
    """

    def __init__(self, event_shape: Sequence[int], alpha: float = 1e-6) -> None:
        where = "LogitTransform"
        self.event_shape = self.output_shape = check_event_shape(where, event_shape)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"{where}: argument 'alpha' must be a number in [0, 0.5); got {alpha!r}"
            )
        if not 0.0 <= alpha < 0.5:
            raise ValueError(f"{where}: argument 'alpha' must be in [0, 0.5); got {alpha!r}")
        self.alpha = float(alpha)

    def _log_det(self, y: Array) -> Array:
        d = math.prod(self.event_shape)
        terms = jax.nn.log_sigmoid(y) + jax.nn.log_sigmoid(-y)
        return event_sum(terms, len(self.event_shape)) - d * math.log1p(-2 * self.alpha)

    def _forward(self, y: Array) -> tuple[Array, Array]:
        x = (jax.nn.sigmoid(y) - self.alpha) / (1.0 - 2 * self.alpha)
        return x, self._log_det(y)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        p = self.alpha + (1.0 - 2 * self.alpha) * x
        y = jnp.log(p) - jnp.log1p(-p)
        return y, -self._log_det(y)


class Scale(Bijector):
    r"""A fixed scaling :math:`x = c\, z`, :math:`\log\lvert\det J\rvert = D \log c`. With
    :math:`c = 256` it maps the unit cube to the 8-bit pixel range, so a flow ending in
    ``[..., LogitTransform, Scale(shape, 256)]`` gives :math:`\log p(v)` of the dequantised
    pixels :math:`v = x + u \in [0, 256)^D`, whose NLL :math:`/ (D \ln 2)` is bits per
    dimension.

    Args:
        event_shape: the shape of one event, a tuple of positive ints.
        scale: :math:`c > 0`.
    """

    def __init__(self, event_shape: Sequence[int], scale: float) -> None:
        self.event_shape = self.output_shape = check_event_shape("Scale", event_shape)
        self.scale = check_positive_float("Scale", "scale", scale)

    def _log_det(self) -> float:
        return math.prod(self.event_shape) * math.log(self.scale)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return z * self.scale, jnp.full(z.shape[0], self._log_det())

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return x / self.scale, jnp.full(x.shape[0], -self._log_det())
