r"""Autoregressive flows: the masked autoregressive flow (MAF, Papamakarios et al., 2017) and
the inverse autoregressive flow (IAF, Kingma et al., 2016) as its inverse."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from ..checks import (
    check_array,
    check_int_at_least,
    check_order,
    check_positive_float,
    check_positive_int,
    check_rngs,
)
from ..masks import made_masks, masked_mlp
from ..nn import Frozen
from .bijector import Bijector, Inverse, soft_clamp

Array = jax.Array

__all__ = [
    "MAF",
    "iaf",
]


class MAF(Bijector):
    r"""Masked autoregressive flow (Papamakarios et al. 2017), one layer on vectors of size
    :math:`d`.

    In the ordering :math:`\pi` (``order``), each coordinate is an affine function of the noise
    given the coordinates before it:

    .. math:: x_i = z_i\, e^{\alpha_i(x_{<i})} + \mu_i(x_{<i}), \qquad
              \log\left\lvert\det \frac{\partial x}{\partial z}\right\rvert
              = \sum_i \alpha_i(x_{<i}),

    with :math:`(\mu, \hat\alpha)` the outputs of a MADE on :math:`x` (two masked hidden layers
    of ``hidden_size`` ReLU units, zero-initialised output layer) and
    :math:`\alpha = b \tanh(\hat\alpha / b)` (:func:`~dgm_lib.flows.bijector.soft_clamp`, with
    :math:`b` = ``scale_bound``). The density direction (inverse) is one parallel pass,
    :math:`z = (x - \mu(x)) \odot e^{-\alpha(x)}`. The generative direction (forward) is
    :math:`d` sequential passes: a ``lax.scan`` over positions, the :math:`t`-th computing
    :math:`x_{\pi(t)}` from the entries already written. So MAF evaluates densities fast and
    samples slowly; :func:`iaf` is its inverse, with the opposite costs.

    Args:
        d: the data dimension, at least 2.
        hidden_size: the width of the MADE's two hidden layers, a positive int.
        rngs: ``nnx.Rngs`` for the initial weights of the hidden layers.
        order: the ordering :math:`\pi`, a permutation of ``0..d-1``; ``None`` is the natural
            order.
        scale_bound: :math:`b > 0`, the bound on every log-scale.
    """

    def __init__(
        self,
        d: int,
        hidden_size: int,
        *,
        rngs: nnx.Rngs,
        order: Sequence[int] | None = None,
        scale_bound: float = 3.0,
    ) -> None:
        where = "MAF"
        d = check_int_at_least(where, "d", d, 2)
        hidden_size = check_positive_int(where, "hidden_size", hidden_size)
        rngs = check_rngs(where, rngs)
        self.scale_bound = check_positive_float(where, "scale_bound", scale_bound)
        self.event_shape = self.output_shape = (d,)
        order = check_order(where, order, d)
        m1, m2, m3 = made_masks(None, order, (hidden_size, hidden_size))
        self.order = Frozen(order)
        self.mask1, self.mask2 = Frozen(m1), Frozen(m2)
        self.mask3 = Frozen(jnp.tile(m3, 2))  # the same mask for the shifts and the log-scales
        init = jax.nn.initializers.lecun_normal()
        self.w1 = nnx.Param(init(rngs.params(), (d, hidden_size)))
        self.b1 = nnx.Param(jnp.zeros(hidden_size))
        self.w2 = nnx.Param(init(rngs.params(), (hidden_size, hidden_size)))
        self.b2 = nnx.Param(jnp.zeros(hidden_size))
        self.w3 = nnx.Param(jnp.zeros((hidden_size, 2 * d)))
        self.b3 = nnx.Param(jnp.zeros(2 * d))

    def conditionals(self, x: Array) -> tuple[Array, Array]:
        r""":math:`(\mu(x), \alpha(x))`, the shift and log-scale of every coordinate in one
        parallel pass; entry :math:`i` depends only on the entries of :math:`x` before :math:`i`
        in the ordering.

        Args:
            x: a batch ``(batch, d)``.

        Returns:
            two arrays ``(batch, d)``.
        """
        x = check_array("MAF.conditionals", "x", x, shape=("batch", *self.event_shape))
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


def iaf(
    d: int,
    hidden_size: int,
    *,
    rngs: nnx.Rngs,
    order: Sequence[int] | None = None,
    scale_bound: float = 3.0,
) -> Inverse:
    r"""Inverse autoregressive flow (Kingma et al. 2016), built as
    ``Inverse(MAF(d, hidden_size, ...))``:

    .. math:: x_i = \bigl(z_i - \mu_i(z_{<i})\bigr)\, e^{-\alpha_i(z_{<i})},

    the MADE now reading the noise :math:`z`. Sampling (forward) is one parallel pass; the
    density of a given :math:`x` (inverse) needs :math:`d` sequential passes: the opposite
    trade-off to :class:`MAF`.

    Args:
        d: the data dimension, at least 2.
        hidden_size: the width of the MADE's two hidden layers, a positive int.
        rngs: ``nnx.Rngs`` for the initial weights of the hidden layers.
        order: the ordering, a permutation of ``0..d-1``; ``None`` is the natural order.
        scale_bound: the bound on every log-scale, a number > 0.

    Returns:
        an :class:`~dgm_lib.flows.bijector.Inverse` of a :class:`MAF`.
    """
    d = check_int_at_least("iaf", "d", d, 2)
    hidden_size = check_positive_int("iaf", "hidden_size", hidden_size)
    return Inverse(MAF(d, hidden_size, rngs=rngs, order=order, scale_bound=scale_bound))
