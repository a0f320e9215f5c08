"""From pixels to a flow's real space: uniform dequantisation, the logit transform and a fixed
scale, so the log-likelihood of dequantised images carries every Jacobian term."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from ..checks import check_array, check_key
from .bijector import Bijector, event_sum

Array = jax.Array

__all__ = [
    "LogitTransform",
    "Scale",
    "dequantize",
]

def dequantize(key: Array, x: Array) -> Array:
    """Uniform dequantisation v = x + u, u ~ U[0, 1)^D, of integer pixel values x (any shape).

    A density p on v gives the discrete x the mass ∫ p(x + u) du ≥ exp E_u log p(x + u), so
    the average -log p(v) is an upper bound on the discrete NLL (Theis et al. 2016).
    """
    key = check_key("dequantize", key)
    x = check_array("dequantize", "x", x, kind="number")
    return x.astype(jnp.float32) + jax.random.uniform(key, x.shape)



class LogitTransform(Bijector):
    """Logit space for pixels in (0, 1) (RealNVP §4.1, MAF): inverse y = logit(λ + (1 - 2λ)x),
    forward x = (σ(y) - λ)/(1 - 2λ), with

        log|det ∂x/∂y| = Σᵢ [log σ(yᵢ) + log σ(-yᵢ)] - D log(1 - 2λ).

    λ keeps the logit finite at x = 0 or 1 (λ = 1e-6 in MAF's MNIST, 0.05 in RealNVP).
    """

    def __init__(self, event_shape: Sequence[int], alpha: float = 1e-6) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
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
    """A fixed scaling x = c · z, log|det| = D log c: with c = 256 it maps the unit cube to the
    8-bit pixel range, so a flow ending in ``[..., LogitTransform, Scale(256)]`` gives log p of
    the dequantised pixels v = x + u ∈ [0, 256)^D, whose NLL / (D ln 2) is bits per dimension."""

    def __init__(self, event_shape: Sequence[int], scale: float) -> None:
        self.event_shape = self.output_shape = tuple(int(d) for d in event_shape)
        if not scale > 0:
            raise ValueError(f"Scale: argument 'scale' must be positive; got {scale}")
        self.scale = float(scale)

    def _log_det(self) -> float:
        return math.prod(self.event_shape) * math.log(self.scale)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        return z * self.scale, jnp.full(z.shape[0], self._log_det())

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        return x / self.scale, jnp.full(x.shape[0], -self._log_det())
