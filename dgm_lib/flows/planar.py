"""The planar flow of Rezende and Mohamed (2015), a forward-only layer fitted by reverse KL."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ..checks import check_positive_int
from .bijector import Bijector

Array = jax.Array

__all__ = [
    "Planar",
]

class Planar(Bijector):
    """Planar flow (Rezende and Mohamed 2015): x = z + û tanh(wᵀz + b).

    log|det ∂x/∂z| = log|1 + ûᵀψ(z)| with ψ(z) = (1 - tanh²(wᵀz + b)) w (matrix determinant
    lemma). Invertibility needs wᵀû ≥ -1; the free vector u is mapped to

        û = u + (m(wᵀu) - wᵀu) w / |w|²,   m(a) = -1 + softplus(a),

    which makes wᵀû = m(wᵀu) > -1. The inverse has no closed form (it is a 1-D root find along
    w), so the layer is used forward only, as in the paper: it fits a target by reverse KL,
    which needs samples and their log-density but never the inverse.
    """

    def __init__(self, dim: int, *, rngs: nnx.Rngs) -> None:
        dim = check_positive_int("Planar", "dim", dim)
        self.event_shape = self.output_shape = (dim,)
        self.w = nnx.Param(0.1 * jax.random.normal(rngs.params(), (dim,)))
        self.u = nnx.Param(0.1 * jax.random.normal(rngs.params(), (dim,)))
        self.b = nnx.Param(jnp.zeros(()))

    def u_hat(self) -> Array:
        """û, the constrained u with wᵀû = -1 + softplus(wᵀu) > -1."""
        w, u = self.w[...], self.u[...]
        wu = jnp.dot(w, u)
        return u + (-1.0 + jax.nn.softplus(wu) - wu) * w / (jnp.dot(w, w) + 1e-12)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        u, w = self.u_hat(), self.w[...]
        h = jnp.tanh(z @ w + self.b[...])
        log_det = jnp.log(jnp.abs(1.0 + (1.0 - h**2) * jnp.dot(w, u)))
        return z + h[:, None] * u, log_det

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        raise NotImplementedError(
            "Planar.inverse_and_log_det: a planar flow has no closed-form inverse; use it in "
            "the forward direction (reverse KL), as Rezende and Mohamed do"
        )

