"""Autoregressive flows: the masked autoregressive flow (MAF, Papamakarios et al., 2017) and
the inverse autoregressive flow (IAF, Kingma et al., 2016) as its inverse."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from ..checks import check_int_at_least, check_order, check_positive_int
from ..masks import made_masks, masked_mlp
from ..nn import Frozen
from .bijector import Bijector, Inverse, soft_clamp

Array = jax.Array

__all__ = [
    "MAF",
    "iaf",
]

class MAF(Bijector):
    """Masked autoregressive flow (Papamakarios et al. 2017), one layer.

    In the ordering π (``order``), each coordinate is an affine function of the noise given
    the coordinates before it:

        x_i = z_i · exp(α_i(x_<i)) + μ_i(x_<i),   log|det ∂x/∂z| = Σᵢ α_i(x),

    with (μ, α̂) = MADE(x) (two masked hidden layers, zero-initialised output) and α = soft
    clamp of α̂. Density direction (inverse), one parallel pass: z = (x - μ(x)) ⊙ exp(-α(x)).
    Generative direction (forward), D sequential passes: a ``lax.scan`` over positions, the
    t-th computing x at π(t) from the x already written. So MAF evaluates densities fast and
    samples slowly; :func:`dgm_lib.flows.iaf` is its inverse, with the opposite costs.
    """

    def __init__(
        self,
        dim: int,
        hidden: int,
        *,
        rngs: nnx.Rngs,
        order: Sequence[int] | None = None,
        scale_bound: float = 3.0,
    ) -> None:
        dim = check_int_at_least("MAF", "dim", dim, 2)
        hidden = check_positive_int("MAF", "hidden", hidden)
        self.event_shape = self.output_shape = (dim,)
        order = check_order("MAF", order, dim)
        m1, m2, m3 = made_masks(None, order, (hidden, hidden))
        self.order = Frozen(order)
        self.mask1, self.mask2 = Frozen(m1), Frozen(m2)
        self.mask3 = Frozen(jnp.tile(m3, 2))  # same mask for μ and α̂
        init = jax.nn.initializers.lecun_normal()
        self.w1 = nnx.Param(init(rngs.params(), (dim, hidden)))
        self.b1 = nnx.Param(jnp.zeros(hidden))
        self.w2 = nnx.Param(init(rngs.params(), (hidden, hidden)))
        self.b2 = nnx.Param(jnp.zeros(hidden))
        self.w3 = nnx.Param(jnp.zeros((hidden, 2 * dim)))
        self.b3 = nnx.Param(jnp.zeros(2 * dim))
        self.scale_bound = float(scale_bound)

    def conditionals(self, x: Array) -> tuple[Array, Array]:
        """(μ(x), α(x)), each ``(batch, dim)``: the shift and log-scale of every coordinate in
        one parallel pass; entry i depends only on the x before i in the ordering."""
        x = self._check("conditionals", "x", x, self.event_shape)
        return self._conditionals(x)

    def _conditionals(self, x: Array) -> tuple[Array, Array]:
        weights = [self.w1[...], self.w2[...], self.w3[...]]
        biases = [self.b1[...], self.b2[...], self.b3[...]]
        masks = [self.mask1[...], self.mask2[...], self.mask3[...]]
        mu, raw = jnp.split(masked_mlp(weights, biases, masks, x), 2, axis=-1)
        return mu, soft_clamp(raw, self.scale_bound)

    def _forward(self, z: Array) -> tuple[Array, Array]:
        def step(x: Array, i: Array) -> tuple[Array, None]:
            mu, alpha = self._conditionals(x)
            return x.at[:, i].set(z[:, i] * jnp.exp(alpha[:, i]) + mu[:, i]), None

        x, _ = lax.scan(step, jnp.zeros_like(z), self.order[...])
        return x, jnp.sum(self._conditionals(x)[1], axis=-1)

    def _inverse(self, x: Array) -> tuple[Array, Array]:
        mu, alpha = self._conditionals(x)
        return (x - mu) * jnp.exp(-alpha), -jnp.sum(alpha, axis=-1)



def iaf(dim: int, hidden: int, *, rngs: nnx.Rngs, order: Sequence[int] | None = None) -> Inverse:
    """Inverse autoregressive flow (Kingma et al. 2016) as ``Inverse(MAF(...))``:

        x_i = (z_i - μ_i(z_<i)) · exp(-α_i(z_<i)),

    the MADE now reading the noise z. Sampling (forward) is one parallel pass; the density
    of a given x (inverse) needs D sequential passes. The opposite trade-off to MAF.
    """
    return Inverse(MAF(dim, hidden, rngs=rngs, order=order))

