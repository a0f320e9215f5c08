r"""The planar flow of Rezende and Mohamed (2015), a forward-only layer fitted by reverse KL."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ..checks import check_positive_int, check_rngs
from .bijector import Bijector

Array = jax.Array

__all__ = [
    "Planar",
]


class Planar(Bijector):
    r"""Planar flow (Rezende and Mohamed 2015) on vectors of size :math:`d`:

    .. math:: x = z + \hat u \tanh(w^\top z + b), \qquad
              \log\left\lvert\det \frac{\partial x}{\partial z}\right\rvert
              = \log\bigl\lvert 1 + \hat u^\top \psi(z) \bigr\rvert, \qquad
              \psi(z) = \bigl(1 - \tanh^2(w^\top z + b)\bigr)\, w,

    by the matrix determinant lemma. Invertibility needs :math:`w^\top \hat u \ge -1`; the
    free vector :math:`u` is mapped to

    .. math:: \hat u = u + \bigl(m(w^\top u) - w^\top u\bigr) \frac{w}{\lVert w\rVert^2},
              \qquad m(a) = -1 + \log(1 + e^{a}),

    which makes :math:`w^\top \hat u = m(w^\top u) > -1` (:meth:`u_hat`). The inverse has no
    closed form (it is a 1-D root find along :math:`w`), so the layer is used forward only, as
    in the paper: it fits a target by reverse KL
    (:func:`~dgm_lib.flows.distribution.reverse_kl_loss`), which needs samples and their
    log-density but never the inverse; ``inverse_and_log_det`` raises
    ``NotImplementedError``.

    Args:
        d: the data dimension, a positive int.
        rngs: ``nnx.Rngs`` for the initial :math:`w` and :math:`u`, drawn from
            :math:`\mathcal N(0, 0.1^2)`; :math:`b` starts at 0.
    """

    def __init__(self, d: int, *, rngs: nnx.Rngs) -> None:
        d = check_positive_int("Planar", "d", d)
        rngs = check_rngs("Planar", rngs)
        self.event_shape = self.output_shape = (d,)
        self.w = nnx.Param(0.1 * jax.random.normal(rngs.params(), (d,)))
        self.u = nnx.Param(0.1 * jax.random.normal(rngs.params(), (d,)))
        self.b = nnx.Param(jnp.zeros(()))

    def u_hat(self) -> Array:
        r""":math:`\hat u`, the constrained :math:`u` with
        :math:`w^\top \hat u = -1 + \log(1 + e^{w^\top u}) > -1`, shape ``(d,)``."""
        return _u_hat(self.w[...], self.u[...])

    def _forward(self, z: Array) -> tuple[Array, Array]:
        u, w = _u_hat(self.w[...], self.u[...]), self.w[...]
        h = jnp.tanh(z @ w + self.b[...])
        log_det = jnp.log(jnp.abs(1.0 + (1.0 - h**2) * jnp.dot(w, u)))
        return z + h[:, None] * u, log_det

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        raise NotImplementedError(
            "Planar.inverse_and_log_det: a planar flow has no closed-form inverse; use it in "
            "the forward direction (reverse KL), as Rezende and Mohamed do"
        )


def _u_hat(w: Array, u: Array) -> Array:
    wu = jnp.dot(w, u)
    return u + (-1.0 + jax.nn.softplus(wu) - wu) * w / (jnp.dot(w, w) + 1e-12)
